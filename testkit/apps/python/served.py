"""A leaky web app with the leakhound helper, started the way `soak` starts
it: from LEAKHOUND_HELPER_* environment variables. GET /grow leaks 1000
session records; the app listens on LISTEN and prints "listening on ADDR"
once both servers are up (the helper writes its address to
LEAKHOUND_HELPER_ADDR_FILE first).
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "helpers", "python"))
import leakhound_helper  # noqa: E402

leakhound_helper.start_from_env()

SESSIONS = []


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/grow":
            self.send_error(404)
            return
        for i in range(1000):
            SESSIONS.append({"user": "user-%d" % i, "blob": bytearray(1500)})
        body = str(len(SESSIONS)).encode()
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
