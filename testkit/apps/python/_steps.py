"""Shared driver of the Python sample apps: tracemalloc on, N steps, a pickled
snapshot after each (written 0600 by leakhound_helper.dump).

Usage: python3 APP.py OUTDIR STEPS [FRAMES] [json|json+cycles]
(LEAKHOUND_TEST_VENDOR=DIR also imports DIR/leakhound_vendor.py). Prints one
"snapshot PATH" line per snapshot and "done" at the end, so a test reads
readiness from stdout. The last argument asks for the JSON format instead,
with the helper's table of cyclic garbage ("json+cycles").
"""
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "helpers", "python"))
import leakhound_helper  # noqa: E402


def run(warm_up, step):
    outdir, steps = sys.argv[1], int(sys.argv[2])
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    fmt = sys.argv[4] if len(sys.argv) > 4 else "pickle"
    tracemalloc.start(frames)
    # A third-party module from outside the app, when LEAKHOUND_TEST_VENDOR
    # names its directory: redaction tests look for that path in reports.
    vendor = os.environ.get("LEAKHOUND_TEST_VENDOR")
    if vendor:
        sys.path.insert(0, vendor)
        __import__("leakhound_vendor")
    warm_up()
    for i in range(steps):
        step(i)
        path = os.path.join(outdir, "snap-%d.%s" % (i, fmt.split("+")[0]))
        leakhound_helper.dump(path, fmt.split("+")[0], cycles=fmt.endswith("+cycles"))
        print("snapshot", path, flush=True)
    print("done", flush=True)
