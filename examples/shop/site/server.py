"""A plain web server (stdlib only) run in web mode: ondol passes its port in PORT."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok"
        else:
            body = f"<h1>shop</h1><p>served by a web-mode function at {self.path}</p>".encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8" if body != b"ok" else "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
