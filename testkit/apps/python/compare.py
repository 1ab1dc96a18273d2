"""Differential oracle: CPython's own Snapshot.compare_to on two pickles we
wrote ourselves in this test run (so loading them with pickle is safe).

Usage: python3 compare.py OLD NEW. Prints JSON: {"lineno": [...],
"lineno/cumulative": [...], ...}, each entry [[frames oldest first], size,
size_diff, count, count_diff], in CPython's order.
"""
import json
import sys
import tracemalloc

old = tracemalloc.Snapshot.load(sys.argv[1])
new = tracemalloc.Snapshot.load(sys.argv[2])
out = {}
for key in ("lineno", "filename", "traceback"):
    for cumulative in (False, True):
        if cumulative and key == "traceback":
            continue
        stats = new.compare_to(old, key, cumulative)
        out[key + ("/cumulative" if cumulative else "")] = [
            [[[f.filename, f.lineno] for f in s.traceback], s.size, s.size_diff, s.count, s.count_diff]
            for s in stats
        ]
json.dump(out, sys.stdout)
