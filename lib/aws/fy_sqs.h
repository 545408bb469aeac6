/*  fy_sqs: an asynchronous Amazon SQS client over the JSON 1.0 protocol
    (POST /, Content-Type application/x-amz-json-1.0, X-Amz-Target
    AmazonSQS.<Action>), on fy_http_client and so on the owner's loop. It
    speaks the actions ferry-bridge and the producer need: ReceiveMessage,
    DeleteMessageBatch, ChangeMessageVisibilityBatch, SendMessageBatch,
    GetQueueAttributes and GetQueueUrl.

    Requests go to the endpoint (AWS_ENDPOINT_URL_SQS, else
    AWS_ENDPOINT_URL, else the configured one, else
    https://sqs.<region>.amazonaws.com) with the queue URL in the body, as
    the SDKs do. Throttling (ThrottlingException, RequestThrottled, 429),
    5xx and transport failures are retried with capped exponential backoff
    and full jitter on the HTTP client's timers; batch entries that failed
    with SenderFault false are retried alone, the rest reported. Signing is
    a callback (fy_http_sign_fn) so that the SigV4 signer plugs in without
    this class knowing it; without one, requests go unsigned (emulators).

    Every callback runs from fy_http_client_run. Not thread-safe. */
#ifndef FY_SQS_H_INCLUDED
#define FY_SQS_H_INCLUDED

#include "ferry/fy_common.h"
#include "aws/fy_aws_client.h"
#include "http/fy_http_client.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Largest batch: entries, and bytes of message payload (bodies plus
//  attribute names, types and values), as SQS counts them.
#define FY_SQS_BATCH_MAX 10
#define FY_SQS_PAYLOAD_MAX 262144

typedef struct fy_sqs fy_sqs_t;
typedef struct fy_sqs_message fy_sqs_message_t;
typedef struct fy_sqs_batch fy_sqs_batch_t;

//  The options of every AWS client of libferry (fy_aws_client.h): region,
//  endpoint (beaten by AWS_ENDPOINT_URL_SQS, then AWS_ENDPOINT_URL), and
//  in base the call runner's signer, retry backoff, timeouts.
typedef fy_aws_options_t fy_sqs_options_t;

//  Outcome of a call as a whole.
typedef struct {
    //  0 on success; else EPROTO (SQS answered with an error: see code),
    //  ETIMEDOUT, ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EMSGSIZE, EIO
    //  (transport), EACCES (signing failed).
    int error;
    //  HTTP status of the last attempt, 0 when none came back.
    int status;
    //  SQS's error code, short form ("QueueDoesNotExist",
    //  "ThrottlingException"), NULL when there is none.
    const char *code;
    //  The legacy query code ("AWS.SimpleQueueService.NonExistentQueue")
    //  when SQS sent one, else NULL.
    const char *query_code;
    //  SQS's message, or the transport's; "" on success.
    const char *message;
    //  True when SQS blamed the request (x-amzn-query-error ";Sender",
    //  or a 4xx).
    bool sender_fault;
    //  Attempts made (1 when no retry was needed).
    int attempts;
} fy_sqs_result_t;

//  One batch entry's outcome, in the order the entries were added.
typedef struct {
    const char *id;
    bool ok;
    //  SendMessageBatch: the new message's id; NULL otherwise.
    const char *message_id;
    //  When !ok: the entry's code and message (or the whole call's), and
    //  whether SQS blamed the entry.
    const char *code;
    const char *message;
    bool sender_fault;
} fy_sqs_entry_t;

//  ReceiveMessage answered (or failed: count 0). The callback may keep any
//  message by taking it from the array (set the slot to NULL; the caller
//  then owns it); the others are destroyed when it returns.
typedef void (fy_sqs_receive_fn) (const fy_sqs_result_t *result,
                                  fy_sqs_message_t **messages, size_t count,
                                  void *arg);

//  A batch call ended: every entry, each either ok or failed for good.
typedef void (fy_sqs_batch_fn) (const fy_sqs_result_t *result,
                                const fy_sqs_entry_t *entries, size_t count,
                                void *arg);

//  GetQueueAttributes: attributes is an object of names to strings
//  (borrowed; NULL on failure).
typedef void (fy_sqs_attributes_fn) (const fy_sqs_result_t *result,
                                     json_t *attributes, void *arg);

//  GetQueueUrl: the URL (borrowed), NULL on failure.
typedef void (fy_sqs_url_fn) (const fy_sqs_result_t *result,
                              const char *queue_url, void *arg);

//  Fill options with the defaults above.
void
fy_sqs_options_default (fy_sqs_options_t *options);

//  Create a client on http (borrowed; it must outlive the client).
//  options may be NULL for the defaults; strings are copied. Returns NULL
//  with errno EINVAL and err filled when no endpoint can be found (no
//  region either).
fy_sqs_t *
fy_sqs_new (fy_http_client_t *http, const fy_sqs_options_t *options,
            fy_error_t *err);

//  Cancel every call in flight or waiting to retry (their callbacks are
//  not called). Sets *self_p to NULL. Safe on NULL.
void
fy_sqs_destroy (fy_sqs_t **self_p);

//  The endpoint requests go to. Borrowed.
const char *
fy_sqs_endpoint (fy_sqs_t *self);

//  The default AWS endpoint of region ("https://sqs.eu-west-1.amazonaws.com",
//  ".amazonaws.com.cn" in China, ...). Caller owns result.
char *
fy_sqs_region_endpoint (const char *region);

//  Calls in flight or waiting to retry.
size_t
fy_sqs_pending (fy_sqs_t *self);

//  Cancel call id (from the *id_p of the call that started it); its
//  callback is not called. Returns true if it was pending.
bool
fy_sqs_cancel (fy_sqs_t *self, uint64_t id);

//  --- Calls. Each returns 0 and calls fn exactly once later (unless
//  cancelled), or -1 with errno EINVAL and err filled on bad input (fn is
//  not called). *id_p, when not NULL, gets the call's id.

//  ReceiveMessage of up to max_messages (1..10) with a long poll of
//  wait_s (0..20) seconds, asking for every system and message attribute.
//  visibility_s < 0 keeps the queue's visibility timeout.
int
fy_sqs_receive (fy_sqs_t *self, const char *queue_url, int max_messages,
                int wait_s, int visibility_s, fy_sqs_receive_fn *fn, void *arg,
                uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  A ReceiveMessage in full, for a caller that needs only some attributes
//  (each one asked for is parsed and kept with every message).
typedef struct {
    int max_messages;           //  1..10
    int wait_s;                 //  Long poll, 0..20 seconds
    //  < 0 keeps the queue's visibility timeout (0 makes the messages
    //  visible again at once).
    int visibility_s;
    //  NULL or a NULL-terminated list of system attribute names
    //  ("ApproximateReceiveCount", "MessageGroupId", or "All"); NULL or
    //  an empty list asks for none.
    const char **attributes;
    //  The same for message attributes (names, "prefix.*" or "All").
    const char **message_attributes;
} fy_sqs_receive_t;

//  ReceiveMessage as options say; errors as fy_sqs_receive.
int
fy_sqs_receive_ex (fy_sqs_t *self, const char *queue_url,
                   const fy_sqs_receive_t *options, fy_sqs_receive_fn *fn,
                   void *arg, uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  Run a batch (DeleteMessageBatch, ChangeMessageVisibilityBatch or
//  SendMessageBatch, by the batch's kind) on queue_url. Takes ownership of
//  *batch_p and sets it to NULL, even on failure. An empty batch is EINVAL.
int
fy_sqs_submit (fy_sqs_t *self, const char *queue_url, fy_sqs_batch_t **batch_p,
               fy_sqs_batch_fn *fn, void *arg, uint64_t *id_p,
               fy_error_t *err) FY_MUSTCHECK;

//  GetQueueAttributes of names (NULL-terminated list; NULL for "All").
int
fy_sqs_get_attributes (fy_sqs_t *self, const char *queue_url,
                       const char **names, fy_sqs_attributes_fn *fn, void *arg,
                       uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  GetQueueUrl of queue_name.
int
fy_sqs_get_queue_url (fy_sqs_t *self, const char *queue_name, fy_sqs_url_fn *fn,
                      void *arg, uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  --- Batches

typedef enum {
    FY_SQS_DELETE,              //  DeleteMessageBatch
    FY_SQS_VISIBILITY,          //  ChangeMessageVisibilityBatch
    FY_SQS_SEND                 //  SendMessageBatch
} fy_sqs_batch_kind_t;

//  An empty batch of kind. Caller owns result.
fy_sqs_batch_t *
fy_sqs_batch_new (fy_sqs_batch_kind_t kind);

//  Safe on NULL; sets *self_p to NULL.
void
fy_sqs_batch_destroy (fy_sqs_batch_t **self_p);

//  Entries so far, and payload bytes as SQS counts them.
size_t
fy_sqs_batch_size (fy_sqs_batch_t *self);
size_t
fy_sqs_batch_bytes (fy_sqs_batch_t *self);

//  Add an entry. id (1-80 of [A-Za-z0-9_-], unique in the batch) and the
//  strings are copied. Returns 0, or -1 with errno ENOSPC when the batch
//  is full (10 entries, or the payload would pass 256 KiB: submit it and
//  start another), EMSGSIZE when the message alone is over 256 KiB, or
//  EINVAL for a bad or repeated id, a wrong kind, or a bad number.
int
fy_sqs_batch_delete (fy_sqs_batch_t *self, const char *id,
                     const char *receipt) FY_MUSTCHECK;
int
fy_sqs_batch_visibility (fy_sqs_batch_t *self, const char *id,
                         const char *receipt, int timeout_s) FY_MUSTCHECK;
//  delay_s < 0 keeps the queue's delay. attrs is NULL or a NULL-terminated
//  list of name, value pairs sent as String message attributes.
int
fy_sqs_batch_send (fy_sqs_batch_t *self, const char *id, const char *body,
                   int delay_s, const char **attrs) FY_MUSTCHECK;

//  A SendMessageBatch entry in full. Zeroed fields are left out.
typedef struct {
    const char *body;
    //  DelaySeconds when > 0 (FIFO queues refuse a per-message delay).
    int delay_s;
    //  NULL or a NULL-terminated list of name, value pairs sent as String
    //  message attributes.
    const char **attrs;
    //  NULL or a MessageAttributes object as SQS shapes it (name to
    //  {DataType, StringValue | BinaryValue}), sent beside attrs; what a
    //  received message carries can be sent again as it is. Borrowed.
    json_t *attributes;
    //  MessageGroupId and MessageDeduplicationId for FIFO queues: 1-128
    //  printable ASCII characters, no space.
    const char *group_id;
    const char *dedup_id;
} fy_sqs_send_t;

//  Payload bytes of msg as SQS counts them (body, attribute names, types
//  and values). 0 when msg is malformed (no body, a bad attribute or id).
size_t
fy_sqs_send_bytes (const fy_sqs_send_t *msg);

//  Add msg as an entry; errors as fy_sqs_batch_send.
int
fy_sqs_batch_send_ex (fy_sqs_batch_t *self, const char *id,
                      const fy_sqs_send_t *msg) FY_MUSTCHECK;

//  --- Messages (from fy_sqs_receive_fn). Strings are borrowed from msg.

void
fy_sqs_message_destroy (fy_sqs_message_t **self_p);
const char *
fy_sqs_message_id (fy_sqs_message_t *self);
const char *
fy_sqs_message_receipt (fy_sqs_message_t *self);
const char *
fy_sqs_message_body (fy_sqs_message_t *self);
//  A system attribute ("SentTimestamp", "ApproximateReceiveCount"), or
//  NULL.
const char *
fy_sqs_message_attribute (fy_sqs_message_t *self, const char *name);
//  ApproximateReceiveCount as a number, 0 when absent.
int
fy_sqs_message_receive_count (fy_sqs_message_t *self);
//  A message attribute's StringValue (String and Number types), or NULL.
const char *
fy_sqs_message_user_attribute (fy_sqs_message_t *self, const char *name);
//  The message as SQS sent it (Body, Attributes, MessageAttributes...).
//  Borrowed.
json_t *
fy_sqs_message_json (fy_sqs_message_t *self);

//  True for a code or status worth retrying: throttling, 5xx, timeouts.
bool
fy_sqs_is_retryable (int status, const char *code);

#ifdef __cplusplus
}
#endif
#endif
