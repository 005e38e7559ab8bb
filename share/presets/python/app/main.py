"""A small HTTP service, scaffolded by `mvmctl init --preset python`.

Listens on $PORT (default 8080) on all addresses. GET / answers with JSON,
GET $HEALTH_PATH (default /healthz) with "ok". Only the standard library.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
HEALTH_PATH = os.environ.get("HEALTH_PATH", "/healthz")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == HEALTH_PATH:
            self.reply(200, "text/plain", b"ok\n")
        elif self.path == "/":
            body = json.dumps({"hello": "from an mvm microVM"}).encode() + b"\n"
            self.reply(200, "application/json", body)
        else:
            self.reply(404, "text/plain", b"not found\n")

    def reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"listening on port {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
