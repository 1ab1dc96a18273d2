"""What the sample web apps share, so each file holds only its own behaviour:
serve GET PATH on $LISTEN (port 0 picks one), print "listening on HOST:PORT"
once bound (the tests wait for that line, not a sleep), and answer each
request with the bytes `handle(query)` returns; any other path is a 404.
"""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit


def serve(path, handle):
    class App(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            if url.path != path:
                self.send_error(404)
                return
            body = handle(parse_qs(url.query))
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
