#!/usr/bin/env python3
"""fcm_stub: a stand-in for Google's OAuth 2.0 token endpoint and Firebase
Cloud Messaging's HTTP v1 API on one port, for fy_fcm. It checks what it
receives as the real services do, independently of ferry's code:

* POST /token (the key file's token_uri): a form body (application/
  x-www-form-urlencoded) of exactly grant_type=urn:ietf:params:oauth:
  grant-type:jwt-bearer and assertion; the assertion a compact JWS with
  alg RS256 whose signature verifies with the service account's public
  key (the PEM file named by $FCM_STUB_PUBLIC_KEY, checked with the
  `cryptography` module); claims iss = CLIENT_EMAIL, scope naming the
  firebase.messaging scope, aud = this endpoint's URL, integer iat within
  5 minutes of now and exp with 0 < exp - iat <= 3600. A refusal is
  Google's: 400 {"error": "invalid_grant" | "unsupported_grant_type" |
  "invalid_request" | "invalid_scope", "error_description": ...}. Else
  {"access_token", "expires_in", "token_type": "Bearer"}.
* POST /v1/projects/PROJECT_ID/messages:send: Authorization: Bearer with
  a token issued here, not expired and not revoked, else 401
  UNAUTHENTICATED in FCM's error shape; Content-Type application/json; a
  body with only "message" and "validate_only" (a bool); a message with
  only Message's fields, exactly one of token / topic / condition (a
  non-empty string; a topic [a-zA-Z0-9-_.~%]+), notification with only
  title, body, image strings, data a map of strings to strings with no
  reserved key, android and apns objects; else 400 INVALID_ARGUMENT.
  Another project is 404 NOT_FOUND.

Magic registration tokens (counted per token):
  dead-*            404 NOT_FOUND, errorCode UNREGISTERED
  quota-N-*         the first N: 429 RESOURCE_EXHAUSTED, QUOTA_EXCEEDED,
                    with Retry-After: 1; then success
  unavailable-N-*   the first N: 503 UNAVAILABLE (no Retry-After)
  internal-N-*      the first N: 500 INTERNAL
  invalid-*         400 INVALID_ARGUMENT, errorCode INVALID_ARGUMENT
  mismatch-*        403 PERMISSION_DENIED, SENDER_ID_MISMATCH
  apns-auth-*       401 UNAUTHENTICATED, THIRD_PARTY_AUTH_ERROR
  unauth-*          401 UNAUTHENTICATED without details, always

usage: fcm_stub.py PORTFILE   (public key in $FCM_STUB_PUBLIC_KEY)
GET /_log answers {"requests": [...]}: every request so far, as {"kind":
"token" | "send", "status", "code" (the OAuth error or FCM's errorCode or
status, null on success), "at" (seconds since the stub started), and for
a token: "claims", "issued" (the token); for a send: "bearer", "body"}.
POST /_config takes a JSON object: "expires_in" (seconds of the next
tokens' life), "token_delay_ms" (the token endpoint waits that long
before answering), "revoke" (true: every token issued so far is
refused from now on)."""
import base64
import binascii
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_EMAIL = "ferry-push@ferry-test.iam.gserviceaccount.com"
PROJECT_ID = "ferry-test"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MESSAGE_FIELDS = {"name", "data", "notification", "android", "webpush",
                  "apns", "fcm_options", "token", "topic", "condition"}
RESERVED = re.compile(r"^(from|notification|message_type|google.*|gcm.*)$")

port_file = sys.argv[1]
with open(os.environ["FCM_STUB_PUBLIC_KEY"], "rb") as f:
    public_key = serialization.load_pem_public_key(f.read())
assert isinstance(public_key, rsa.RSAPublicKey)
lock = threading.Lock()
log = []
counts = {}
tokens = {}                     # token -> expiry (time.time())
config = {"expires_in": 3599, "token_delay_ms": 0}
started = time.time()


class Refused(Exception):
    def __init__(self, status, body, code, headers=()):
        super().__init__(code)
        self.status, self.body, self.code = status, body, code
        self.headers = headers


def oauth_error(error, description):
    return Refused(400, {"error": error, "error_description": description},
                   error)


def fcm_error(status, grpc, message, error_code=None, headers=()):
    body = {"error": {"code": status, "message": message, "status": grpc}}
    if error_code:
        body["error"]["details"] = [{"@type": FCM_ERROR,
                                     "errorCode": error_code}]
    return Refused(status, body, error_code or grpc, headers)


def b64url(part):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_assertion(assertion, token_uri):
    """The claims of a JWT bearer assertion Google would take."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise oauth_error("invalid_grant", "Invalid JWT: Token must be a "
                          "short-lived token and in a reasonable timeframe")
    try:
        header = json.loads(b64url(parts[0]))
        claims = json.loads(b64url(parts[1]))
        signature = b64url(parts[2])
    except (ValueError, binascii.Error):
        raise oauth_error("invalid_grant", "Invalid JWT: not base64url JSON")
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise oauth_error("invalid_grant", "Invalid JWT: alg must be RS256")
    try:
        public_key.verify(signature, (parts[0] + "." + parts[1]).encode(),
                          padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise oauth_error("invalid_grant", "Invalid JWT Signature.")
    if not isinstance(claims, dict):
        raise oauth_error("invalid_grant", "Invalid JWT: claims")
    if claims.get("iss") != CLIENT_EMAIL:
        raise oauth_error("invalid_grant", "Invalid grant: account not "
                          "found")
    if SCOPE not in str(claims.get("scope", "")).split(" "):
        raise oauth_error("invalid_scope", "Invalid OAuth scope or ID "
                          "token audience provided.")
    if claims.get("aud") != token_uri:
        raise oauth_error("invalid_grant", "Invalid JWT: audience")
    iat, exp = claims.get("iat"), claims.get("exp")
    if type(iat) is not int or type(exp) is not int \
            or abs(iat - time.time()) > 300 or not 0 < exp - iat <= 3600:
        raise oauth_error("invalid_grant", "Invalid JWT: Token must be a "
                          "short-lived token (60 minutes) and in a "
                          "reasonable timeframe. Check your iat and exp "
                          "values in the JWT claim.")
    return claims


def check_message(request):
    """The messages:send body as FCM validates it; returns the message."""
    def bad(description):
        raise fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload "
                        "received. " + description)
    if not isinstance(request, dict) or set(request) - {"message",
                                                        "validate_only"}:
        bad("Unknown name at the top level.")
    if not isinstance(request.get("validate_only", False), bool):
        bad("validate_only must be a bool.")
    message = request.get("message")
    if not isinstance(message, dict):
        bad("message is required.")
    unknown = set(message) - MESSAGE_FIELDS
    if unknown:
        bad("Unknown name %s at 'message'." % sorted(unknown))
    targets = [k for k in ("token", "topic", "condition") if k in message]
    if len(targets) != 1:
        bad("Exactly one of token, topic or condition must be set.")
    target = message[targets[0]]
    if not isinstance(target, str) or not target:
        bad("The target must be a non-empty string.")
    if targets[0] == "topic" and \
            not re.fullmatch(r"[a-zA-Z0-9\-_.~%]+", target):
        bad("Invalid topic name.")
    notification = message.get("notification", {})
    if not isinstance(notification, dict) or \
            set(notification) - {"title", "body", "image"} or \
            not all(isinstance(v, str) for v in notification.values()):
        bad("notification takes title, body and image strings.")
    data = message.get("data", {})
    if not isinstance(data, dict) or \
            not all(isinstance(v, str) for v in data.values()):
        bad("data values must be strings.")
    for key in data:
        if RESERVED.match(key):
            bad("Invalid data key: %s" % key)
    for platform in ("android", "apns"):
        if not isinstance(message.get(platform, {}), dict):
            bad("%s must be an object." % platform)
    return message


# What each magic kind answers: HTTP status, gRPC status, message,
# errorCode, headers.
MAGIC = {
    "quota": (429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED",
              [("Retry-After", "1")]),
    "unavailable": (503, "UNAVAILABLE", "The service is currently "
                    "unavailable.", "UNAVAILABLE", []),
    "internal": (500, "INTERNAL", "Internal error encountered.", "INTERNAL",
                 []),
    "dead": (404, "NOT_FOUND", "Requested entity was not found.",
             "UNREGISTERED", []),
    "invalid": (400, "INVALID_ARGUMENT", "The registration token is not a "
                "valid FCM registration token", "INVALID_ARGUMENT", []),
    "mismatch": (403, "PERMISSION_DENIED", "SenderId mismatch",
                 "SENDER_ID_MISMATCH", []),
    "apns-auth": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push "
                  "Service", "THIRD_PARTY_AUTH_ERROR", []),
}


def magic(target):
    """The failure a magic token asks for, or None."""
    with lock:
        counts[target] = seen = counts.get(target, 0) + 1
    m = re.match(r"(quota|unavailable|internal)-(\d+)-", target)
    if m and seen > int(m.group(2)):
        return None
    kind = m.group(1) if m else target.split("-")[0]
    if target.startswith("apns-auth-"):
        kind = "apns-auth"
    if kind == "unauth":
        return unauthenticated()
    if kind in MAGIC:
        return fcm_error(*MAGIC[kind])
    return None


def unauthenticated():
    return fcm_error(401, "UNAUTHENTICATED", "Request had invalid "
                     "authentication credentials. Expected OAuth 2 access "
                     "token, login cookie or other valid authentication "
                     "credential.")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/_log":
            return self._send(404, {"error": "not found"})
        with lock:
            self._send(200, {"requests": log})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_config":
            with lock:
                update = json.loads(body)
                if update.pop("revoke", False):
                    tokens.clear()
                config.update(update)
            return self._send(200, config)
        kind = "token" if self.path == "/token" else "send"
        entry = {"kind": kind, "status": 200, "code": None,
                 "at": time.time() - started}
        try:
            if kind == "token":
                answer = (200, self._token(body, entry), ())
            else:
                answer = (200, self._fcm(body, entry), ())
        except Refused as refused:
            entry["status"], entry["code"] = refused.status, refused.code
            answer = (refused.status, refused.body, refused.headers)
        #  Logged before the answer goes out: a client that has its answer
        #  and then reads /_log must find the request there.
        with lock:
            log.append(entry)
        self._send(*answer)

    def _token(self, body, entry):
        time.sleep(config["token_delay_ms"] / 1000)
        if self.headers.get("Content-Type", "").split(";")[0] != \
                "application/x-www-form-urlencoded":
            raise oauth_error("invalid_request", "Bad Content-Type")
        try:
            form = urllib.parse.parse_qs(body.decode("ascii"),
                                         keep_blank_values=True,
                                         strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise oauth_error("invalid_request", "Bad form body")
        if form.get("grant_type") != [GRANT_TYPE]:
            raise oauth_error("unsupported_grant_type", "Invalid "
                              "grant_type: %s" % form.get("grant_type"))
        if set(form) != {"grant_type", "assertion"} or \
                len(form["assertion"]) != 1:
            raise oauth_error("invalid_request", "Exactly grant_type and "
                              "one assertion expected")
        port = self.server.server_address[1]
        claims = check_assertion(form["assertion"][0],
                                 "http://127.0.0.1:%d/token" % port)
        entry["claims"] = claims
        token = "ya29.stub-" + secrets.token_urlsafe(24)
        with lock:
            tokens[token] = time.time() + config["expires_in"]
        entry["issued"] = token
        return {"access_token": token, "expires_in": config["expires_in"],
                "token_type": "Bearer"}

    def _fcm(self, body, entry):
        auth = self.headers.get("Authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else None
        entry["bearer"] = bearer
        with lock:
            expiry = tokens.get(bearer)
        if expiry is None or expiry <= time.time():
            raise unauthenticated()
        m = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", self.path)
        if not m or m.group(1) != PROJECT_ID:
            raise fcm_error(404, "NOT_FOUND", "Requested entity was not "
                            "found.")
        if self.headers.get("Content-Type", "").split(";")[0] != \
                "application/json":
            raise fcm_error(400, "INVALID_ARGUMENT", "Bad Content-Type")
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload")
        entry["body"] = request
        message = check_message(request)
        failure = magic(message.get("token", ""))
        if failure:
            raise failure
        if request.get("validate_only"):
            return {"name": "projects/%s/messages/fake_message_id"
                    % PROJECT_ID}
        return {"name": "projects/%s/messages/0:%d%%%s"
                % (PROJECT_ID, int(time.time() * 1e6),
                   secrets.token_hex(8))}


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
