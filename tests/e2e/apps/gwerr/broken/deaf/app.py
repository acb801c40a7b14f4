"""A web app that listens on a port of its own choosing, never on $PORT."""
import http.server

http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler).serve_forever()
