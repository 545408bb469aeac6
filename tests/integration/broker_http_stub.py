#!/usr/bin/env python3
"""broker_http_stub: a stand-in for the broker's HTTP endpoint while the
ferryctl tests cannot use the real one (POST /events and GET /admin/status
are being written). It answers as the broker is specified to, checks the
bearer token as the broker will, and logs what it received so the test can
assert on it.

usage: broker_http_stub.py PORTFILE STATUSFILE TOKEN LOG
  GET  /admin/status  200 with STATUSFILE's bytes as they are
  POST /events        202; 400 for a goal.created event (the refused one);
                      400 for a body that is not a JSON object
  anything else       404
Every answer but 202/200 is {"error":{"code","message"}}, and a wrong or
missing "Authorization: Bearer TOKEN" gets 401. LOG gets one line per
request: METHOD PATH CLIENT_PORT TYPE_OR_DASH. The chosen port is written
to PORTFILE (renamed into place, so the test never reads half of it)."""
import http.server
import json
import os
import sys

port_file, status_file, token, log_path = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the connection open, so the log shows whether the
    # client re-used it.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _log(self, what):
        with open(log_path, "a") as log:
            log.write("%s %s %d %s\n" % (self.command, self.path,
                                         self.client_address[1], what))

    def _answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, code, message):
        self._answer(status, {"error": {"code": code, "message": message}})

    def _authorized(self):
        if self.headers.get("Authorization") == "Bearer " + token:
            return True
        self._error(401, "unauthorized", "bad or missing bearer token")
        return False

    def do_GET(self):
        self._log("-")
        if self.path != "/admin/status":
            return self._error(404, "not_found", self.path)
        if self._authorized():
            with open(status_file, "rb") as f:
                self._answer(200, f.read())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            event = json.loads(body)
            kind = event.get("type", "-")
        except (ValueError, AttributeError):
            event, kind = None, "-"
        self._log(kind)
        if self.path != "/events":
            return self._error(404, "not_found", self.path)
        if not self._authorized():
            return
        if not isinstance(event, dict):
            return self._error(400, "invalid_json", "not an event")
        if self.headers.get("Content-Type") != "application/json":
            return self._error(415, "media_type", "want application/json")
        if kind == "goal.created":
            return self._error(400, "invalid_event", "refused by stub")
        self._answer(202, {"id": event.get("id")})


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
