"""Listens on $PORT; the test replaces it with broken/deaf after the deploy."""
import http.server
import os


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Ok).serve_forever()
