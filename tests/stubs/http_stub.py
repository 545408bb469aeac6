#!/usr/bin/env python3
"""http_stub: a small real HTTP/1.1 server for fy_http_client's test, one
thread per connection so slow requests overlap, keep-alive on.

usage: http_stub.py PORTFILE
  GET  /slow?ms=N        waits N ms, then 200 "slow N"
  GET  /big?bytes=N      200 with N bytes of 'x'
  GET  /status?code=N    status N with body "status N"
  POST /echo             200 echoing the body; X-Method and X-Got-Test
                         (the request's X-Test header) in the answer
  GET  /connections      200 with the number of connections accepted
  GET  /hang             never answers (until the client gives up)
  GET  /drop?ms=N        200 "drop N", kept alive, then closed by the
                         server N ms later (N 0: Connection: close)
The chosen port is written to PORTFILE (renamed into place)."""
import http.server
import os
import socket
import sys
import threading
import time
import urllib.parse

port_file = sys.argv[1]
lock = threading.Lock()
connections = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        super().setup()
        with lock:
            connections += 1

    def log_message(self, *args):
        pass

    def _answer(self, status, data, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/slow":
            ms = int(query.get("ms", "0"))
            time.sleep(ms / 1000.0)
            return self._answer(200, b"slow %d" % ms)
        if url.path == "/big":
            return self._answer(200, b"x" * int(query["bytes"]))
        if url.path == "/status":
            code = int(query["code"])
            return self._answer(code, b"status %d" % code)
        if url.path == "/connections":
            with lock:
                count = connections
            return self._answer(200, b"%d" % count)
        if url.path == "/drop":
            ms = int(query["ms"])
            if ms == 0:
                self.close_connection = True
                return self._answer(200, b"drop 0", {"Connection": "close"})
            self._answer(200, b"drop %d" % ms)
            self.wfile.flush()
            connection = self.connection
            threading.Timer(ms / 1000.0,
                            lambda: connection.shutdown(socket.SHUT_RDWR)).start()
            return None
        if url.path == "/hang":
            time.sleep(30)
            return self._answer(200, b"late")
        return self._answer(404, b"no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path != "/echo":
            return self._answer(404, b"no such path")
        return self._answer(200, body, {
            "X-Method": self.command,
            "X-Got-Test": self.headers.get("X-Test", "-"),
        })

    do_PUT = do_POST


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Cancelled and timed-out requests reset their connections on
        # purpose; that is not worth a traceback.
        pass


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
