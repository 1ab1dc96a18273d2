"""A Python web app whose memory follows its load, for recorded memory series:
a session store that keeps each request's 192 KiB session for TTL seconds
(argv[1], default 20) and then drops it. More requests a second, more
sessions alive: memory rises and falls with traffic, and never leaks.

    GET /work?n=N   opens N sessions

Run with MALLOC_MMAP_THRESHOLD_=65536 so that glibc returns the freed
sessions to the kernel (its dynamic threshold would keep them in the heap).
Listens on $LISTEN (port 0 picks one) and prints "listening on HOST:PORT".
"""
import collections
import sys
import time

from _serve import serve

TTL = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
SESSIONS = collections.deque()


def work(query):
    now = time.monotonic()
    while SESSIONS and SESSIONS[0][0] < now - TTL:
        SESSIONS.popleft()
    for _ in range(int(query.get("n", ["1"])[0])):
        SESSIONS.append((now, b"s" * (192 * 1024)))
    return b"ok\n"


serve("/work", work)
