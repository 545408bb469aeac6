#!/usr/bin/env python3
"""smtp_stub: an SMTP server with a relay's refusals, which the stack's
capture server (maildev accepts everything) cannot give: fy_smtp's test
checks the reply codes and the retryable flag against it. It checks the
command order and syntax as a real server does (RFC 5321) and answers 503
or 501 when they are wrong.

usage: smtp_stub.py PORTFILE
  RCPT TO:<nobody...@...>   550 5.1.1 (permanent)
  RCPT TO:<full...@...>     452 4.2.2 (temporary)
  MAIL FROM:<busy...@...>   421 4.3.2, then closes the connection
  anything else             accepted; DATA ends with 250
The chosen port is written to PORTFILE (renamed into place); one line per
accepted message ("from rcpt,rcpt size") goes to stderr."""
import os
import re
import socketserver
import sys

port_file = sys.argv[1]
PATH = re.compile(r"^(MAIL FROM|RCPT TO):<([^<>\s]+@[^<>\s]+)>( .*)?$", re.I)


class Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 smtp_stub ESMTP")
        greeted = False
        sender = None
        rcpts = []
        while True:
            raw = self.rfile.readline(1002)
            if not raw:
                return
            if not raw.endswith(b"\r\n"):
                self.reply("500 5.5.2 line not ended by CRLF or too long")
                return
            line = raw[:-2].decode("ascii", "replace")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                greeted = True
                if verb == "EHLO":
                    self.reply("250-smtp_stub")
                    self.reply("250 8BITMIME")
                else:
                    self.reply("250 smtp_stub")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            elif verb in ("RSET", "NOOP"):
                if verb == "RSET":
                    sender, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif not greeted:
                self.reply("503 5.5.1 EHLO first")
            elif verb == "MAIL":
                m = PATH.match(line)
                if sender is not None:
                    self.reply("503 5.5.1 nested MAIL")
                elif not m or m.group(1).upper() != "MAIL FROM":
                    self.reply("501 5.1.7 bad sender address syntax")
                elif m.group(2).startswith("busy"):
                    self.reply("421 4.3.2 busy, closing")
                    return
                else:
                    sender, rcpts = m.group(2), []
                    self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                m = PATH.match(line)
                if sender is None:
                    self.reply("503 5.5.1 MAIL first")
                elif not m or m.group(1).upper() != "RCPT TO":
                    self.reply("501 5.1.3 bad recipient address syntax")
                elif m.group(2).startswith("nobody"):
                    self.reply("550 5.1.1 <%s>: no such user" % m.group(2))
                elif m.group(2).startswith("full"):
                    self.reply("452 4.2.2 <%s>: mailbox full" % m.group(2))
                else:
                    rcpts.append(m.group(2))
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                size = 0
                while True:
                    data = self.rfile.readline(1002)
                    if not data:
                        return
                    if data == b".\r\n":
                        break
                    size += len(data)
                print("%s %s %d" % (sender, ",".join(rcpts), size),
                      file=sys.stderr, flush=True)
                sender, rcpts = None, []
                self.reply("250 2.0.0 queued")
            else:
                self.reply("502 5.5.2 command not implemented")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    #  A worker opens dozens of connections at once: with the default
    #  backlog of 5 the kernel drops their SYNs and they wait seconds.
    request_queue_size = 256


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
