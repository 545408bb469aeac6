#!/usr/bin/env python3
"""sqs_stub: a stand-in for SQS (JSON 1.0 protocol) that fails on purpose,
for fy_sqs's retry tests: the real emulator never throttles or fails. It
checks each request as SQS would (POST /, Content-Type
application/x-amz-json-1.0, X-Amz-Target AmazonSQS.<Action>, a JSON object
body) and answers a malformed one with SQS's own errors.

usage: sqs_stub.py PORTFILE
The last path segment of QueueUrl (or QueueName) picks the behaviour:
  flaky500     the first 2 requests of each action: 500 InternalFailure
  throttled    the first 2: 400 ThrottlingException
  slow429      the first 2: 429 with an empty body
  broken       always 500
  partial      batches: entries whose Id starts with "retry" fail with
               SenderFault false on their first try; "bad..." fail with
               SenderFault true (ReceiptHandleIsInvalid) always
  missing      400 QueueDoesNotExist, x-amzn-query-error as SQS sends it
  producer     SendMessageBatch as a producer sees it: a body "failN:..."
               fails with SenderFault false the first N times it comes,
               "bad:..." fails with SenderFault true always; each call
               lasts 20 ms, and one that carries a MessageGroupId already
               in another call in flight is logged with "overlap": true
  dupbody      ReceiveMessage: a message with its Body key twice
  noreceipt    ReceiveMessage: a message without ReceiptHandle
  escaped      ReceiveMessage: a Body full of escapes, and extra keys
  asked        ReceiveMessage: only the attributes the request names (as
               SQS does; "All" for all) of a message that has three
               system attributes and a message attribute
  badbatch     batches: an answer with Failed not a list
  dupattr      ReceiveMessage: a message with an attribute twice
  numattr      ReceiveMessage: a message with an attribute not a string
  anything else  succeeds
X-Amz-Target Stub.Log answers {"requests": [...]}: every request so far,
as {"action", "queue", "ids", "t", "port"}, plus for SendMessageBatch
"bodies", "groups" (None when absent), "dedups" and "overlap", and for
the other batches "receipts" and "timeouts"."""
import http.server
import json
import os
import sys
import threading
import time

port_file = sys.argv[1]
lock = threading.Lock()
log = []
counts = {}
seen_bodies = {}
groups_in_flight = set()
ACTIONS = {"ReceiveMessage", "DeleteMessageBatch",
           "ChangeMessageVisibilityBatch", "SendMessageBatch",
           "GetQueueAttributes", "GetQueueUrl"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, query_error=None):
        data = b"" if body is None else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        if query_error:
            self.send_header("x-amzn-query-error", query_error)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, shape, message, query=None, fault="Sender"):
        self._answer(status, {"__type": "com.amazonaws.sqs#" + shape,
                              "message": message},
                     "%s;%s" % (query or shape, fault))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if target == "Stub.Log":
            with lock:
                return self._answer(200, {"requests": log})
        if self.path != "/":
            return self._error(404, "InvalidAddress", "path " + self.path)
        if self.headers.get("Content-Type") != "application/x-amz-json-1.0":
            return self._error(400, "InvalidParameterValue",
                               "bad Content-Type")
        if self.headers.get("x-amzn-query-mode") != "true":
            return self._error(400, "InvalidParameterValue",
                               "query-compatible clients send "
                               "x-amzn-query-mode")
        action = target[len("AmazonSQS."):]
        if not target.startswith("AmazonSQS.") or action not in ACTIONS:
            return self._answer(400, {
                "__type": "com.amazon.coral.service#UnknownOperationException"})
        try:
            request = json.loads(body)
            assert isinstance(request, dict)
        except Exception:
            return self._answer(400, {
                "__type": "com.amazon.coral.service#SerializationException"})
        queue = (request.get("QueueUrl") or request.get("QueueName") or "")
        queue = queue.rsplit("/", 1)[-1]
        ids = [e.get("Id") for e in request.get("Entries", [])]
        entries = request.get("Entries", [])
        groups = [e.get("MessageGroupId") for e in entries]
        with lock:
            key = (queue, action)
            counts[key] = counts.get(key, 0) + 1
            n = counts[key]
            record = {"action": action, "queue": queue, "ids": ids,
                      "t": time.monotonic(),
                      "port": self.client_address[1]}
            if action in ("DeleteMessageBatch",
                          "ChangeMessageVisibilityBatch"):
                record.update(receipts=[e.get("ReceiptHandle")
                                        for e in entries],
                              timeouts=[e.get("VisibilityTimeout")
                                        for e in entries])
            if action == "SendMessageBatch":
                mine = set(g for g in groups if g is not None)
                record.update(bodies=[e.get("MessageBody") for e in entries],
                              groups=groups,
                              dedups=[e.get("MessageDeduplicationId")
                                      for e in entries],
                              overlap=bool(mine & groups_in_flight))
                groups_in_flight.update(mine)
            log.append(record)
        if queue == "producer" and action == "SendMessageBatch":
            time.sleep(0.02)
            with lock:
                groups_in_flight.difference_update(
                    g for g in groups if g is not None)
        if queue == "flaky500" and n <= 2 or queue == "broken":
            return self._error(500, "InternalFailure", "try again",
                               "InternalFailure", "Receiver")
        if queue == "throttled" and n <= 2:
            return self._answer(400, {
                "__type": "com.amazon.coral.availability#ThrottlingException",
                "message": "Rate exceeded"})
        if queue == "slow429" and n <= 2:
            return self._answer(429, None)
        if queue == "missing":
            return self._error(400, "QueueDoesNotExist",
                               "The specified queue does not exist.",
                               "AWS.SimpleQueueService.NonExistentQueue")
        return self._answer(200, self._success(action, request, queue, n))

    def _producer_fails(self, entry):
        body = entry.get("MessageBody", "")
        if body.startswith("bad:"):
            return True
        head = body[4:].split(":", 1)[0]
        if not body.startswith("fail") or not head.isdigit():
            return False
        with lock:
            seen_bodies[body] = seen_bodies.get(body, 0) + 1
            return seen_bodies[body] <= int(head)

    def _success(self, action, request, queue, n):
        if action == "ReceiveMessage" and queue == "dupbody":
            return ('{"Messages": [{"MessageId": "m-1", "ReceiptHandle": '
                    '"r-1", "Body": "a", "Body": "b"}]}')
        if queue == "badbatch" and action != "ReceiveMessage":
            return {"Successful": [{"Id": "a"}], "Failed": 3}
        if action == "ReceiveMessage" and queue == "dupattr":
            return ('{"Messages": [{"MessageId": "m-1", "ReceiptHandle": '
                    '"r-1", "Body": "a", "Attributes": {"SentTimestamp": '
                    '"1", "SentTimestamp": "2"}}]}')
        if action == "ReceiveMessage" and queue == "numattr":
            return {"Messages": [{"MessageId": "m-1", "ReceiptHandle": "r-1",
                                  "Body": "a",
                                  "Attributes": {"SentTimestamp": 1}}]}
        if action == "ReceiveMessage" and queue == "asked":
            def pick(have, names):
                return {k: v for k, v in have.items()
                        if "All" in names or k in names}
            message = {"MessageId": "m-1", "ReceiptHandle": "r-1",
                       "Body": "asked", "MD5OfBody": "x"}
            system = pick({"ApproximateReceiveCount": "2",
                           "SentTimestamp": "1", "MessageGroupId": "g"},
                          request.get("MessageSystemAttributeNames", []))
            if system:
                message["Attributes"] = system
            user = pick({"kind": {"DataType": "String",
                                  "StringValue": "test"}},
                        request.get("MessageAttributeNames", []))
            if user:
                message["MessageAttributes"] = user
            return {"Messages": [message]}
        if action == "ReceiveMessage" and queue == "noreceipt":
            return {"Messages": [{"MessageId": "m-1", "Body": "a"}]}
        if action == "ReceiveMessage" and queue == "escaped":
            return {"Messages": [{
                "MessageId": "m-1", "ReceiptHandle": "r-1",
                "Body": "{\"k\": \"\u00e9\\n\ud83d\ude00\"}",
                "MD5OfBody": "x", "Attributes": {}}, {
                "MessageId": "m-2", "ReceiptHandle": "r-2", "Body": "two"}],
                "Unknown": [1, {"a": None}]}
        if action == "ReceiveMessage":
            return {"Messages": [{
                "MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "hello",
                "Attributes": {"ApproximateReceiveCount": "3"},
                "MessageAttributes": {"kind": {"DataType": "String",
                                               "StringValue": "test"}}}]}
        if action == "GetQueueAttributes":
            return {"Attributes": {"ApproximateNumberOfMessages": "7"}}
        if action == "GetQueueUrl":
            return {"QueueUrl": "http://sqs.unresolvable.invalid/0/" + queue}
        ok, failed = [], []
        for entry in request.get("Entries", []):
            eid = entry.get("Id", "")
            if queue == "partial" and eid.startswith("bad"):
                failed.append({"Id": eid, "SenderFault": True,
                               "Code": "ReceiptHandleIsInvalid",
                               "Message": "The input receipt handle is "
                                          "invalid."})
            elif queue == "producer" and self._producer_fails(entry):
                bad = entry.get("MessageBody", "").startswith("bad:")
                failed.append({"Id": eid, "SenderFault": bad,
                               "Code": "InvalidParameterValue" if bad
                               else "InternalError",
                               "Message": "refused" if bad
                               else "try again"})
            elif queue == "partial" and eid.startswith("retry") and n == 1:
                failed.append({"Id": eid, "SenderFault": False,
                               "Code": "InternalError",
                               "Message": "try again"})
            else:
                done = {"Id": eid}
                if action == "SendMessageBatch":
                    done.update(MessageId="msg-" + eid,
                                MD5OfMessageBody="0" * 32)
                ok.append(done)
        return {"Successful": ok, "Failed": failed}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
