#!/usr/bin/env python3
"""A local HTTP server for the get/put tests: serves files from a directory, accepts
PUT uploads into it, and misbehaves on request.

Usage: http_server.py ROOT   (prints the port it listens on, then serves until killed)

- GET /NAME: the file ROOT/NAME, with its Content-Length; 404 when missing.
- GET /truncated/NAME: announces ROOT/NAME's full length, sends half, and closes the
  connection: an interrupted transfer.
- PUT /NAME: stores the body as ROOT/NAME.
"""

import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        truncated = self.path.startswith("/truncated/")
        name = self.path[len("/truncated/"):] if truncated else self.path.lstrip("/")
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path):
            self.send_error(404, "no such file")
            return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncated:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        path = os.path.join(ROOT, self.path.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


ROOT = sys.argv[1]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
