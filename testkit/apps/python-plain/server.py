"""A Python web app with no leakhound code at all: `leakhound soak` turns
tracemalloc and its snapshot endpoint on from outside (a sitecustomize).

    python3 server.py leak     GET /work?n=N caches N new reports forever
    python3 server.py steady   the same work, but the cache is bounded

Listens on $LISTEN (port 0 picks one) and prints "listening on HOST:PORT".
"""
import sys

# The HTTP plumbing every sample app shares (the ready line, a 404 elsewhere).
from _serve import serve

BOUNDED = sys.argv[1:] == ["steady"]
REPORTS = {}
NEXT = [0]


def render_report(n):
    # The line that leaks: every report is kept, keyed by a request number.
    REPORTS[n] = ("<tr><td>row %d</td></tr>" % n) * 40
    if BOUNDED and len(REPORTS) > 100:
        del REPORTS[next(iter(REPORTS))]


def work(query):
    for _ in range(int(query.get("n", ["1"])[0])):
        render_report(NEXT[0])
        NEXT[0] += 1
    return b"ok\n"


serve("/work", work)
