"""leakhound capture helper: tracemalloc snapshots over loopback HTTP.

Stdlib only; Python 3.8 or later. Three ways to start it:

* import it and call ``start()``::

      import leakhound_helper
      leakhound_helper.start(addr="127.0.0.1:0", frames=25)

* as a program around a script: ``python -m leakhound_helper [--addr A]
  [--frames N] [--addr-file F] script.py [args…]`` (with helpers/python on
  PYTHONPATH);

* from a ``sitecustomize`` (this is how ``leakhound soak`` and ``capture``
  use it): ``import leakhound_helper; leakhound_helper.start_from_env()``.
  It reads:

  ``LEAKHOUND_HELPER_ADDR``
      where to listen, ``127.0.0.1:0`` picks a free port. Unset: do nothing.
  ``LEAKHOUND_HELPER_FRAMES``
      tracemalloc traceback depth (default 25, tracemalloc's own default is 1).
  ``LEAKHOUND_HELPER_ADDR_FILE``
      a file to write the bound ``host:port`` to (mode 0600), written once the
      server is listening, so a reader can wait for the file to appear.

On start it prints ``leakhound helper listening on HOST:PORT`` to stderr.

Endpoints (GET):

``/debug/memory``
    JSON: ``{"traced_bytes", "peak_bytes", "tracemalloc_bytes", "traceback_limit",
    "pid"}`` (tracemalloc_bytes: what tracing itself costs). Cheap: no snapshot.
``/debug/memory/snapshot``
    the snapshot bytes: a pickle (protocol 4, what ``Snapshot.dump`` writes);
    ``?format=json`` gives the JSON format of docs/tracemalloc-json.md, and
    ``?format=json&cycles=1`` adds its ``cycles`` table: where the objects
    that only reference cycles keep alive were allocated (see
    ``cyclic_garbage``; it costs one full collection).
``/debug/memory/snapshot-file``
    the seed's original endpoint: writes a pickle under the temp directory
    (mode 0600) and answers ``{"snapshot": "/tmp/…"}``.

It listens on loopback only: a snapshot holds file names and paths of the app.
Snapshots are taken with the helper's own frames filtered out.
"""

import gc
import json
import os
import pickle
import sys
import tempfile
import threading
import tracemalloc
from _tracemalloc import _get_object_traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_FRAMES = 25
ENDPOINT_SUMMARY = "/debug/memory"
ENDPOINT_SNAPSHOT = "/debug/memory/snapshot"
ENDPOINT_SNAPSHOT_TO_FILE = "/debug/memory/snapshot-file"


def take_snapshot():
    """tracemalloc.take_snapshot() without this module's own allocations."""
    snap = tracemalloc.take_snapshot()
    return snap.filter_traces([tracemalloc.Filter(False, __file__)])


def cyclic_garbage():
    """Where cyclic garbage was allocated: {traceback: [objects, bytes]}.

    A tracemalloc snapshot has sizes and tracebacks but no references, so it
    cannot tell memory kept by a cycle from memory kept by a live object.
    The collector can: one full collection with gc.DEBUG_SAVEALL finds the
    objects that are unreachable except through cycles and puts them in
    gc.garbage instead of freeing them. Objects already in gc.garbage
    (uncollectable ones, or an app's own DEBUG_SAVEALL) count too. Each is
    mapped to its allocation traceback (tracemalloc.get_object_traceback's,
    read raw), and so are the objects without references of their own (a
    bytearray, a str) that only this garbage holds, since they are freed with
    it. On CPython 3.11 instances of classes without __slots__ are not found
    (the lookup answers None); they count only through what they hold.

    The objects found are then dropped from gc.garbage again: they are left
    as they were, unreachable, for the app's next collection to free (or,
    with gc disabled, never, which is how they pile up). Tracebacks are in
    tracemalloc's raw order, most recent frame first, as in snapshot traces.
    """
    flags = gc.get_debug()
    before = len(gc.garbage)
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(flags)
    garbage = list(gc.garbage)
    del gc.garbage[before:]
    sites = {}
    for obj in garbage + _held_only_by(garbage):
        # The raw frames, most recent first, as in snapshot traces. Called
        # here rather than through tracemalloc.get_object_traceback, so that
        # what it allocates (and leaves in free lists) is traced to this file,
        # which take_snapshot leaves out, not to tracemalloc.py.
        key = _get_object_traceback(obj)
        if key is None:
            continue
        site = sites.setdefault(key, [0, 0])
        site[0] += 1
        site[1] += sys.getsizeof(obj)
    return sites


def _held_only_by(garbage):
    """The untracked objects (no references of their own: str, bytes,
    bytearray…) that the garbage refers to and nothing else does."""
    held, refs = {}, {}
    for g in garbage:
        for r in gc.get_referents(g):
            if not gc.is_tracked(r):
                held[id(r)] = r
                refs[id(r)] = refs.get(id(r), 0) + 1
    only = []
    for key in refs:
        # The other references: the `held` entry and getrefcount's argument.
        if sys.getrefcount(held[key]) - 2 == refs[key]:
            only.append(held[key])
    return only


def snapshot_json(snap, cycles=None):
    """Encodes a Snapshot in the JSON format (version 1) of docs/tracemalloc-json.md.

    Filenames, frames and tracebacks are tables referenced by index, as
    tracemalloc shares them in memory; "tracemalloc" comes first so that
    leakhound recognizes the document from its head. ``cycles`` is what
    ``cyclic_garbage()`` returned, written as the optional "cycles" table.
    """
    files, frames, tracebacks = {}, {}, {}

    def traceback_index(tb):
        t = tracebacks.get(tb)
        if t is None:
            ids = []
            for name, line in tb:
                f = files.setdefault(name, len(files))
                ids.append(frames.setdefault((f, line), len(frames)))
            t = tracebacks[tb] = (len(tracebacks), ids)
        return t[0]

    traces = [[domain, size, traceback_index(tb)] for domain, size, tb, *_ in snap.traces._traces]
    doc = {
        "tracemalloc": 1,
        "traceback_limit": snap.traceback_limit,
    }
    if cycles is not None:
        # Before the tables are written out: a site may add a traceback.
        doc["cycles"] = [[traceback_index(tb), n, size] for tb, (n, size) in cycles.items()]
    doc.update({
        "filenames": list(files),
        "frames": [list(k) for k in frames],
        "tracebacks": [ids for _, ids in sorted(tracebacks.values())],
        "traces": traces,
    })
    return json.dumps(doc, separators=(",", ":")).encode()


def snapshot_bytes(fmt="pickle", cycles=False):
    """A snapshot as a pickle or JSON; cycles=True (JSON only) adds the
    cycles table, found after the snapshot is taken so as not to be in it."""
    if cycles and fmt != "json":
        raise ValueError("the cycles table needs the JSON format")
    snap = take_snapshot()
    if fmt == "json":
        return snapshot_json(snap, cyclic_garbage() if cycles else None)
    return pickle.dumps(snap, 4)


def write_private(path, data):
    """Writes data to a new file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def dump(path, fmt="pickle", cycles=False):
    """Takes a snapshot and writes it to path (0600)."""
    write_private(path, snapshot_bytes(fmt, cycles))


class _Handler(BaseHTTPRequestHandler):
    def _send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj).encode(), "application/json")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not tracemalloc.is_tracing():
            self._json(409, {"error": "tracemalloc is not tracing"})
        elif url.path == ENDPOINT_SUMMARY:
            traced, peak = tracemalloc.get_traced_memory()
            self._json(200, {
                "traced_bytes": traced,
                "peak_bytes": peak,
                "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory(),
                "traceback_limit": tracemalloc.get_traceback_limit(),
                "pid": os.getpid(),
            })
        elif url.path == ENDPOINT_SNAPSHOT:
            fmt = query.get("format", ["pickle"])[0]
            cycles = query.get("cycles", ["0"])[0] == "1"
            if fmt not in ("pickle", "json"):
                self._json(400, {"error": "format must be pickle or json"})
                return
            if cycles and fmt != "json":
                self._json(400, {"error": "cycles=1 needs format=json"})
                return
            ctype = "application/json" if fmt == "json" else "application/octet-stream"
            self._send(200, snapshot_bytes(fmt, cycles), ctype)
        elif url.path == ENDPOINT_SNAPSHOT_TO_FILE:
            fd, path = tempfile.mkstemp(prefix="leakhound-", suffix=".pickle")
            os.close(fd)  # mkstemp creates it 0600
            dump(path)
            self._json(200, {"snapshot": path})
        else:
            self._json(404, {"error": "unknown path", "paths": [
                ENDPOINT_SUMMARY, ENDPOINT_SNAPSHOT, ENDPOINT_SNAPSHOT_TO_FILE]})

    def log_message(self, *args):
        pass


def start(addr="127.0.0.1:0", frames=DEFAULT_FRAMES, addr_file=None):
    """Starts tracemalloc (if not yet tracing) and the server on a daemon thread.

    Returns the bound "host:port".
    """
    host, _, port = addr.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise ValueError("leakhound helper listens on loopback only, not %r" % host)
    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), _Handler)
    server.daemon_threads = True
    bound = "%s:%d" % server.server_address[:2]
    threading.Thread(target=server.serve_forever, name="leakhound-helper", daemon=True).start()
    if addr_file:
        tmp = addr_file + ".tmp"
        write_private(tmp, bound.encode())
        os.replace(tmp, addr_file)  # readers never see a half-written address
    print("leakhound helper listening on %s" % bound, file=sys.stderr, flush=True)
    return bound


def start_from_env(environ=os.environ):
    """Starts the helper if LEAKHOUND_HELPER_ADDR is set; see the module doc."""
    addr = environ.get("LEAKHOUND_HELPER_ADDR")
    if not addr:
        return None
    frames = int(environ.get("LEAKHOUND_HELPER_FRAMES", DEFAULT_FRAMES))
    return start(addr, frames, environ.get("LEAKHOUND_HELPER_ADDR_FILE"))


def main(argv=None):
    import argparse
    import runpy

    p = argparse.ArgumentParser(prog="python -m leakhound_helper", description=__doc__.splitlines()[0])
    p.add_argument("--addr", default=os.environ.get("LEAKHOUND_HELPER_ADDR", "127.0.0.1:0"))
    p.add_argument("--frames", type=int, default=int(os.environ.get("LEAKHOUND_HELPER_FRAMES", DEFAULT_FRAMES)))
    p.add_argument("--addr-file", default=os.environ.get("LEAKHOUND_HELPER_ADDR_FILE"))
    p.add_argument("script", help="the Python program to run with the helper")
    p.add_argument("args", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    start(a.addr, a.frames, a.addr_file)
    sys.argv = [a.script] + a.args
    # As `python3 script.py` would: the script's own directory comes first on
    # sys.path, so a program that imports its sibling modules runs unchanged.
    sys.path[0] = os.path.dirname(os.path.abspath(a.script))
    runpy.run_path(a.script, run_name="__main__")


if __name__ == "__main__":
    main()
