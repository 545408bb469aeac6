#!/usr/bin/env python3
"""aws_notify_stub: a stand-in for Amazon SES (API v2 SendEmail) and Amazon
SNS (Publish, query protocol) on one port, for fy_ses and fy_sns. It checks
every request as the services do, independently of ferry's code:

* SigV4: the signature is recomputed here with hmac/hashlib from the known
  keys (ACCESS_KEY / SECRET_KEY below); a missing, unknown, stale or wrong
  one is refused with 403 in the service's own shape (SES: x-amzn-ErrorType
  InvalidSignatureException / UnrecognizedClientException /
  MissingAuthenticationTokenException and a JSON {"message"}; SNS: an XML
  ErrorResponse with SignatureDoesNotMatch / InvalidClientTokenId /
  MissingAuthenticationToken). The credential scope must name REGION and
  the right service ("ses", "sns"), and host must be signed.
* SES: POST /v2/email/outbound-emails, Content-Type application/json, a
  JSON object with only SendEmailRequest's members, Content with exactly
  one of Simple (Subject.Data, Body.Text and/or Body.Html, each with Data)
  or Raw (Data valid base64), FromEmailAddress with Simple, 1-50
  recipients unless Raw; else 400 BadRequestException.
* SNS: POST /, Content-Type application/x-www-form-urlencoded, a body of
  name=value pairs percent-encoded as the SDKs do (unreserved characters
  bare, every other byte as %XX), Action=Publish, Version=2010-03-31,
  exactly one of TopicArn / TargetArn / PhoneNumber, a Message, a JSON
  object with a string "default" when MessageStructure=json, attributes
  MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue|
  Value.BinaryValue} numbered from 1 without gaps, MessageGroupId for a
  .fifo topic, no unknown parameter; else 400 InvalidParameter (in XML).

Magic names pick failures: SES by the local part of the first To address,
SNS by the last ':' field of TopicArn / TargetArn:
  throttle-N   the first N requests for it: SES 429 TooManyRequestsException,
               SNS 429 Throttled; then success
  fail500-N    the first N: 500 (SES InternalFailure, SNS InternalError)
  rejected     SES 400 MessageRejected (always)
  suspended    SES 400 AccountSuspendedException
  disabled     SNS 400 EndpointDisabled
  auth         SNS 403 AuthorizationError
  xmlodd       SNS success, with an XML declaration, comments, a CDATA
               section and entities around the MessageId "id&<odd>"

usage: aws_notify_stub.py PORTFILE
GET /_log answers {"requests": [...]}: every request so far, as {"service",
"status", "code", "signed" (true when the signature checked), "body" (SES:
the JSON; SNS: the decoded parameters)}."""
import base64
import binascii
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse
import uuid

ACCESS_KEY = "AKIDFERRYNOTIFY"
SECRET_KEY = "ferry/notify+secret"
REGION = "eu-west-1"
SES_PATH = "/v2/email/outbound-emails"
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
SES_MEMBERS = {"FromEmailAddress", "FromEmailAddressIdentityArn",
               "Destination", "ReplyToAddresses",
               "FeedbackForwardingEmailAddress",
               "FeedbackForwardingEmailAddressIdentityArn", "Content",
               "EmailTags", "ConfigurationSetName", "EndpointId",
               "TenantName", "ListManagementOptions"}
SNS_PARAMS = {"Action", "Version", "TopicArn", "TargetArn", "PhoneNumber",
              "Message", "Subject", "MessageStructure",
              "MessageDeduplicationId", "MessageGroupId"}
UNRESERVED = re.compile(rb"^(?:[A-Za-z0-9\-_.~=&]|%[0-9A-F]{2})*$")

port_file = sys.argv[1]
lock = threading.Lock()
log = []
counts = {}


class Refused(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def sign_key(date, service):
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, REGION, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_signature(handler, service, body):
    """Raise Refused unless the request carries a valid SigV4 signature
    for service, recomputed from the request as received."""
    auth = handler.headers.get("Authorization")
    missing = ("MissingAuthenticationTokenException" if service == "ses"
               else "MissingAuthenticationToken")
    bad_sig = ("InvalidSignatureException" if service == "ses"
               else "SignatureDoesNotMatch")
    bad_key = ("UnrecognizedClientException" if service == "ses"
               else "InvalidClientTokenId")
    if not auth:
        raise Refused(403, missing, "Missing Authentication Token")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/"
                     r"([^/]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?"
                     r"Signature=([0-9a-f]{64})", auth)
    if not m:
        raise Refused(403, "IncompleteSignature" if service == "sns"
                      else "IncompleteSignatureException",
                      "Authorization header requires Credential, "
                      "SignedHeaders and Signature")
    key_id, date, region, svc, signed, signature = m.groups()
    if key_id != ACCESS_KEY:
        raise Refused(403, bad_key,
                      "The security token included in the request is "
                      "invalid.")
    amz_date = handler.headers.get("X-Amz-Date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise Refused(403, bad_sig, "X-Amz-Date is missing or malformed")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    skew = abs((now - when).total_seconds())
    if skew > 300:
        raise Refused(403, bad_sig, "Signature expired: %s" % amz_date)
    if date != amz_date[:8] or region != REGION or svc != service:
        raise Refused(403, bad_sig,
                      "Credential should be scoped to a valid region / "
                      "service: %s/%s" % (region, svc))
    names = signed.split(";")
    if "host" not in names or names != sorted(names):
        raise Refused(403, bad_sig, "host must be signed, names sorted")
    canonical_headers = ""
    for name in names:
        values = handler.headers.get_all(name)
        if values is None:
            raise Refused(403, bad_sig, "signed header %s not sent" % name)
        canonical_headers += "%s:%s\n" % (
            name, ",".join(" ".join(v.split()) for v in values))
    path, _, query = handler.path.partition("?")
    uri = "/".join(urllib.parse.quote(seg, safe="-_.~")
                   for seg in path.split("/"))
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                   urllib.parse.quote(v, safe="-_.~")) for k, v in pairs)
    canonical = "\n".join([handler.command, uri, canonical_query,
                           canonical_headers, signed,
                           hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (date, region, svc)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    want = hmac.new(sign_key(date, service), to_sign.encode(),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        raise Refused(403, bad_sig,
                      "The request signature we calculated does not match "
                      "the signature you provided. Check your AWS Secret "
                      "Access Key and signing method.")


def magic(name, key):
    """(kind, n) for a magic name, counting its requests under key."""
    m = re.fullmatch(r"(throttle|fail500)-(\d+)", name or "")
    with lock:
        counts[key] = counts.get(key, 0) + 1
        seen = counts[key]
    if m:
        return (m.group(1), seen <= int(m.group(2)))
    return (name, True)


def check_ses(request):
    """The SendEmail request as SES validates it; returns the first To."""
    def bad(message):
        raise Refused(400, "BadRequestException", message)
    if not isinstance(request, dict):
        bad("Request body must be a JSON object")
    unknown = set(request) - SES_MEMBERS
    if unknown:
        bad("Unknown members: %s" % ", ".join(sorted(unknown)))
    content = request.get("Content")
    if not isinstance(content, dict) or len(content) != 1 \
            or next(iter(content)) not in ("Simple", "Raw", "Template"):
        bad("Content must hold exactly one of Simple, Raw, Template")
    recipients = []
    dest = request.get("Destination", {})
    for field in ("ToAddresses", "CcAddresses", "BccAddresses"):
        addrs = dest.get(field, [])
        if not isinstance(addrs, list) or \
                not all(isinstance(a, str) and "@" in a for a in addrs):
            bad("%s must be a list of addresses" % field)
        recipients += addrs
    if "Simple" in content:
        simple = content["Simple"]
        subject = simple.get("Subject", {})
        body = simple.get("Body", {})
        if not isinstance(subject.get("Data"), str):
            bad("Subject.Data is required")
        if not body or set(body) - {"Text", "Html"} or \
                not all(isinstance(body[k].get("Data"), str) for k in body):
            bad("Body needs Text and/or Html, each with Data")
        for part in [subject] + list(body.values()):
            if part.get("Charset", "UTF-8").upper() != "UTF-8":
                bad("unexpected Charset")
        if not isinstance(request.get("FromEmailAddress"), str):
            bad("FromEmailAddress is required for Simple content")
    if "Raw" in content:
        try:
            raw = base64.b64decode(content["Raw"]["Data"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            bad("Raw.Data must be base64")
        if not raw:
            bad("Raw.Data is empty")
        if not recipients:
            to = re.search(rb"^To: *(.+?)\r?$", raw, re.M)
            recipients = [to.group(1).decode()] if to else []
    if not 1 <= len(recipients) <= 50:
        bad("1 to 50 recipients, not %d" % len(recipients))
    return recipients[0]


def check_sns(body):
    """The Publish form as SNS reads it; returns the decoded parameters."""
    def bad(message):
        raise Refused(400, "InvalidParameter", "Invalid parameter: " + message)
    if not UNRESERVED.match(body):
        bad("body is not form-encoded as the SDKs encode it")
    params = {}
    for pair in body.split(b"&"):
        name, eq, value = pair.partition(b"=")
        if not eq:
            bad("a pair without '='")
        name = urllib.parse.unquote_to_bytes(name).decode()
        try:
            value = urllib.parse.unquote_to_bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            bad("%s is not UTF-8" % name)
        if name in params:
            bad("%s given twice" % name)
        params[name] = value
    if params.get("Action") != "Publish" or \
            params.get("Version") != "2010-03-31":
        bad("Action=Publish&Version=2010-03-31 expected")
    attrs = {}
    for name, value in params.items():
        m = re.fullmatch(r"MessageAttributes\.entry\.(\d+)\.(Name|Value\."
                         r"DataType|Value\.StringValue|Value\.BinaryValue)",
                         name)
        if m:
            attrs.setdefault(int(m.group(1)), {})[m.group(2)] = value
        elif name not in SNS_PARAMS:
            bad("unknown parameter %s" % name)
    if sorted(attrs) != list(range(1, len(attrs) + 1)):
        bad("MessageAttributes entries must count from 1")
    for n, entry in attrs.items():
        if "Name" not in entry or "Value.DataType" not in entry or \
                ("Value.StringValue" in entry) == \
                ("Value.BinaryValue" in entry):
            bad("MessageAttributes.entry.%d is incomplete" % n)
    dests = [k for k in ("TopicArn", "TargetArn", "PhoneNumber")
             if k in params]
    if len(dests) != 1:
        bad("exactly one of TopicArn, TargetArn, PhoneNumber")
    if not params.get("Message"):
        bad("Message")
    if params.get("MessageStructure", "json") != "json":
        bad("MessageStructure")
    if "MessageStructure" in params:
        try:
            doc = json.loads(params["Message"])
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or \
                not isinstance(doc.get("default"), str):
            bad("Message Structure - No default entry in JSON message body")
    if params.get(dests[0], "").endswith(".fifo") and \
            "MessageGroupId" not in params:
        bad("The MessageGroupId parameter is required for FIFO topics")
    params["attributes"] = [attrs[n] for n in sorted(attrs)]
    return params


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, content_type, data, headers=()):
        #  The request's entry is logged before its answer goes out: a
        #  client that has its answer and then reads /_log must find it.
        entry, self.entry = getattr(self, "entry", None), None
        if entry is not None:
            with lock:
                log.append(entry)
        data = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _ses_error(self, status, code, message):
        self._send(status, "application/json",
                   json.dumps({"message": message}),
                   [("x-amzn-ErrorType", code + ":http://internal.amazon."
                     "com/coral/com.amazon.coral.service/")])

    def _sns_error(self, status, code, message):
        fault = "Receiver" if status >= 500 else "Sender"
        self._send(status, "text/xml",
                   '<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s'
                   '</Type>\n    <Code>%s</Code>\n    <Message>%s</Message>'
                   '\n  </Error>\n  <RequestId>%s</RequestId>\n'
                   '</ErrorResponse>\n'
                   % (SNS_NS, fault, code, xml_escape(message),
                      uuid.uuid4()))

    def do_GET(self):
        if self.path != "/_log":
            return self._send(404, "text/plain", "not found")
        with lock:
            self._send(200, "application/json",
                       json.dumps({"requests": log}))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        service = "ses" if self.path == SES_PATH else "sns"
        entry = self.entry = {"service": service, "signed": False,
                              "body": None}
        error = self._ses_error if service == "ses" else self._sns_error
        try:
            if service == "sns" and self.path != "/":
                raise Refused(404, "NotFound", "no route " + self.path)
            check_signature(self, service, body)
            entry["signed"] = True
            if service == "ses":
                self._ses(body, entry)
            else:
                self._sns(body, entry)
        except Refused as refused:
            entry["status"], entry["code"] = refused.status, refused.code
            error(refused.status, refused.code, refused.message)

    def _ses(self, body, entry):
        if self.headers.get("Content-Type") != "application/json":
            raise Refused(400, "BadRequestException", "bad Content-Type")
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "BadRequestException", "body is not JSON")
        entry["body"] = request
        first = check_ses(request)
        kind, fail = magic(first.split("@")[0], first)
        if kind == "throttle" and fail:
            raise Refused(429, "TooManyRequestsException",
                          "Maximum sending rate exceeded.")
        if kind == "fail500" and fail:
            raise Refused(500, "InternalFailure", "Internal failure")
        if kind == "rejected":
            raise Refused(400, "MessageRejected",
                          "Email address is not verified. The following "
                          "identities failed the check in region "
                          "EU-WEST-1: " + first)
        if kind == "suspended":
            raise Refused(400, "AccountSuspendedException",
                          "Your account has been suspended.")
        entry["status"], entry["code"] = 200, None
        self._send(200, "application/json",
                   json.dumps({"MessageId": "0102018f%s-000000"
                               % uuid.uuid4().hex}))

    def _sns(self, body, entry):
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise Refused(400, "InvalidParameter", "bad Content-Type")
        params = check_sns(body)
        entry["body"] = params
        dest = params.get("TopicArn") or params.get("TargetArn") or ""
        kind, fail = magic(dest.split(":")[-1], dest)
        if kind == "throttle" and fail:
            raise Refused(429, "Throttled", "Rate exceeded")
        if kind == "fail500" and fail:
            raise Refused(500, "InternalError", "Internal error")
        if kind == "disabled":
            raise Refused(400, "EndpointDisabled", "Endpoint is disabled")
        if kind == "auth":
            raise Refused(403, "AuthorizationError",
                          "User is not authorized to perform SNS:Publish")
        entry["status"], entry["code"] = 200, None
        message_id = str(uuid.uuid4())
        if kind == "xmlodd":
            self._send(200, "text/xml",
                       '<?xml version="1.0" encoding="UTF-8"?>\n<!-- odd -->'
                       '<PublishResponse xmlns="%s"><PublishResult>'
                       '<!-- c --><MessageId>id&amp;<![CDATA[<odd>]]>'
                       '</MessageId></PublishResult><ResponseMetadata>'
                       '<RequestId>r&#x2d;1</RequestId></ResponseMetadata>'
                       '</PublishResponse>\n' % SNS_NS)
            return
        sequence = ("<SequenceNumber>%d</SequenceNumber>" % (10 ** 19)
                    if "MessageGroupId" in params else "")
        self._send(200, "text/xml",
                   '<PublishResponse xmlns="%s">\n  <PublishResult>\n'
                   '    <MessageId>%s</MessageId>%s\n  </PublishResult>\n'
                   '  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n'
                   '  </ResponseMetadata>\n</PublishResponse>\n'
                   % (SNS_NS, message_id, sequence, uuid.uuid4()))


def xml_escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
