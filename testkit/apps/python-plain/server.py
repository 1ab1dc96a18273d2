"""A Python web app with no leakhound code at all: `leakhound soak` turns
tracemalloc and its snapshot endpoint on from outside (a sitecustomize).

    python3 server.py leak     GET /work?n=N caches N new reports forever
    python3 server.py steady   the same work, but the cache is bounded

Listens on $LISTEN (port 0 picks one) and prints "listening on HOST:PORT".
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

BOUNDED = sys.argv[1:] == ["steady"]
REPORTS = {}
NEXT = [0]


def render_report(n):
    # The line that leaks: every report is kept, keyed by a request number.
    REPORTS[n] = ("<tr><td>row %d</td></tr>" % n) * 40
    if BOUNDED and len(REPORTS) > 100:
        del REPORTS[next(iter(REPORTS))]


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/work":
            self.send_error(404)
            return
        for _ in range(int(parse_qs(url.query).get("n", ["1"])[0])):
            render_report(NEXT[0])
            NEXT[0] += 1
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
