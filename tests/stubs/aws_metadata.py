#!/usr/bin/env python3
"""Stand-ins for the two AWS credential endpoints that cannot run here,
checking what they receive as the real services do.

  aws_metadata.py imds [--log FILE] [--expires-in S]
      EC2 instance metadata, IMDSv2 only: PUT /latest/api/token needs
      X-aws-ec2-metadata-token-ttl-seconds (1..21600, else 400) and no
      X-Forwarded-For (else 403); every GET needs a live token in
      X-aws-ec2-metadata-token (else 401); tokens expire after their TTL.
      Serves the role "ferry-role" under
      /latest/meta-data/iam/security-credentials/.

  aws_metadata.py ecs --path PATH [--auth TOKEN] [--log FILE] [--expires-in S]
      The ECS/EKS container credentials endpoint: GET PATH, with
      "Authorization: TOKEN" when --auth is given (else 401).

Both listen on 127.0.0.1 on a free port and print it on the first line of
stdout. Each credentials answer is new (AccessKeyId ASIA<MODE>0001, 0002,
...) and expires --expires-in seconds from now. Every request is logged
as "METHOD PATH STATUS" to --log.
"""
import argparse
import http.server
import json
import secrets
import sys
import time

ROLE = "ferry-role"
CREDS_PATH = "/latest/meta-data/iam/security-credentials/"


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "aws-metadata-stub"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body="", content_type="text/plain"):
        # Logged before answering, so that a client that got its answer
        # finds the request in the log.
        if self.server.log:
            with open(self.server.log, "a") as log:
                log.write("%s %s %d\n" % (self.command, self.path, status))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def credentials(self):
        self.server.served += 1
        n = self.server.served
        mode = self.server.mode.upper()
        expires = time.gmtime(time.time() + self.server.expires_in)
        return json.dumps({
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": "ASIA%s%04d" % (mode, n),
            "SecretAccessKey": "secret-%s-%d-%s" % (mode, n, "x" * 20),
            "Token": "token-%s-%d-%s" % (mode, n, "y" * 20),
            "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", expires),
        })

    # IMDSv2 ---------------------------------------------------------------
    def imds_put(self):
        if self.path != "/latest/api/token":
            return self.reply(404)
        if self.headers.get("X-Forwarded-For"):
            return self.reply(403)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400)
        token = secrets.token_urlsafe(32)
        self.server.tokens[token] = time.monotonic() + int(ttl)
        self.reply(200, token)

    def imds_get(self):
        if self.path == "/latest/api/token":
            return self.reply(405)
        token = self.headers.get("X-aws-ec2-metadata-token", "")
        expiry = self.server.tokens.get(token)
        if expiry is None or time.monotonic() >= expiry:
            return self.reply(401)
        if self.path == CREDS_PATH:
            return self.reply(200, ROLE)
        if self.path == CREDS_PATH + ROLE:
            return self.reply(200, self.credentials(), "application/json")
        self.reply(404)

    # ECS ------------------------------------------------------------------
    def ecs_get(self):
        if self.path != self.server.ecs_path:
            return self.reply(404)
        if (self.server.auth is not None
                and self.headers.get("Authorization") != self.server.auth):
            return self.reply(401)
        self.reply(200, self.credentials(), "application/json")

    def do_PUT(self):
        if self.server.mode == "imds":
            self.imds_put()
        else:
            self.reply(405)

    def do_GET(self):
        if self.server.mode == "imds":
            self.imds_get()
        else:
            self.ecs_get()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["imds", "ecs"])
    parser.add_argument("--path", default="/v2/credentials/ferry")
    parser.add_argument("--auth")
    parser.add_argument("--log")
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args()
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.mode = args.mode
    server.ecs_path = args.path
    server.auth = args.auth
    server.log = args.log
    server.expires_in = args.expires_in
    server.served = 0
    server.tokens = {}
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
