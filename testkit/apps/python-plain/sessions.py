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
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

TTL = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
SESSIONS = collections.deque()


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/work":
            self.send_error(404)
            return
        now = time.monotonic()
        while SESSIONS and SESSIONS[0][0] < now - TTL:
            SESSIONS.popleft()
        for _ in range(int(parse_qs(url.query).get("n", ["1"])[0])):
            SESSIONS.append((now, b"s" * (192 * 1024)))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


host, _, port = os.environ.get("LISTEN", "127.0.0.1:0").rpartition(":")
server = HTTPServer((host, int(port)), App)
print("listening on %s:%d" % server.server_address[:2], flush=True)
server.serve_forever()
