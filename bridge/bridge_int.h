/*  bridge_int: what the bridge's sources share and nothing else includes,
    as PgBouncer's bouncer.h: the message, queue and bridge state the
    loop owns, and the functions one source calls in another. */
#ifndef BRIDGE_INT_H_INCLUDED
#define BRIDGE_INT_H_INCLUDED

#include "bridge.h"
#include "bridge_batch.h"
#include "aws/fy_aws_sign.h"
#include "aws/fy_sqs.h"
#include "codec/fy_json_arena.h"
#include "core/fy_list.h"
#include "http/fy_http_client.h"

//  Polls per queue at most (bridge.polls is bounded by the key table).
#define BRIDGE_POLLS_MAX 16
//  How long a queue waits after a failed call before trying again.
#define BRIDGE_RETRY_MS 1000
//  The tick: heartbeats, held messages, the stop condition.
#define BRIDGE_TICK_MS 100
//  Room left in a DLQ batch entry for the attributes when a body must be
//  cut to fit (the error text is at most 160 bytes, a URL a few hundred).
#define BRIDGE_DLQ_ROOM 4096

typedef struct bridge_queue bridge_queue_t;

typedef enum {
    BRIDGE_PENDING,                  //  received, not yet published
    BRIDGE_PUBLISHED,                //  the broker has it
    BRIDGE_SETTLING                  //  a delete, release or DLQ call has it
} bridge_state_t;

typedef struct s_msg {
    bridge_queue_t *queue;
    fy_sqs_message_t *sqs;
    bridge_state_t state;
    //  A valid event: its msgpack and envelope, to publish (again). One
    //  allocation: event_id and type are NUL-terminated after the msgpack.
    char *msgpack;
    size_t size;
    const char *event_id, *type;
    //  A rejected one: why, for the DLQ's attributes.
    char *error;
    const char *reason;
    const char *group;          //  MessageGroupId on FIFO queues
    uint64_t seq;
    int receive_count;
    int64_t received_ms;        //  when a poll brought it
    int64_t pending_ms;         //  since when it waits to be published
    int64_t deadline_ms;        //  when SQS makes it visible again
    fy_link_t pending_link;     //  in bridge->pending, waiting to publish
    fy_link_t undecoded_link;   //  in bridge->undecoded
    int ops;                    //  batch entries that point at it
    bool finished;              //  settled; freed when ops reaches 0
    fy_link_t link;             //  in bridge->messages, for the destructor
} bridge_msg_t;

//  One ReceiveMessage in flight.
typedef struct {
    bridge_queue_t *queue;
    uint64_t id;
    int asked;
    int64_t started_ms;
} bridge_poll_t;

struct bridge_queue {
    bridge_t *bridge;
    char *url;
    bool fifo;
    bool ready;                 //  attributes known, polls may start
    int64_t visibility_ms;      //  the queue's visibility timeout
    int64_t retry_at_ms;        //  no call before this after a failure
    size_t held;                //  messages held, in any state
    size_t asked;               //  messages the polls in flight may bring
    bridge_poll_t *polls [BRIDGE_POLLS_MAX];
    size_t poll_count;
    uint64_t attributes_call;
    int64_t attributes_started_ms;
    //  Deletes, releases (visibility set once, then done) and extensions
    //  (visibility pushed back while the work goes on).
    bridge_batch_t *deletes, *visibility, *extend;
    zhashx_t *busy;             //  FIFO groups with a message published
};

//  The series of one SQS action, made once: building their label text on
//  every call cost 2% of the bridge's CPU.
#define BRIDGE_ACTIONS_MAX 8
typedef struct {
    const char *action;         //  a string literal
    fy_metric_t *latency, *errors;
} bridge_action_t;

struct bridge {
    fy_cfg_t *cfg;
    zloop_t *loop;
    int signal_fd;
    fy_client_t *client;
    fy_http_client_t *http;
    //  The two in the loop (fy_loop).
    fy_loop_source_t *client_source, *http_source;
    fy_sqs_t *sqs;
    fy_aws_sign_t *sign;
    fy_schema_t *schema;
    //  What decoding one event needs, reused: its jansson tree comes from
    //  the arena, its msgpack is written in the buffer and then copied out
    //  at its size (an sbuffer starts at 8 KiB).
    fy_json_arena_t *arena;
    msgpack_sbuffer packed;
    bridge_queue_t **queues;
    size_t queue_count;
    char *dlq_url;
    bridge_batch_t *dlq;
    fy_link_t messages;         //  every live bridge_msg_t
    //  bridge_msg_t waiting to be published, and how many (intrusive
    //  lists: a list node per event was two mallocs and frees more).
    fy_link_t pending;
    size_t pending_count;
    //  bridge_msg_t received in this handler, decoded at its end
    //  (s_on_http_idle) once the next receive has gone out.
    fy_link_t undecoded;
    size_t undecoded_count;
    zhashx_t *published;  //  seq -> bridge_msg_t
    size_t asked;  //  over every queue
    //  A message settled (bridge_msg_finish) since the HTTP client's idle
    //  hook last ran: its queue's budget has room for a poll.
    bool settled;
    //  Settings.
    int64_t backoff_base_s, backoff_cap_s;
    int64_t inflight, polls, wait_s, stop_timeout_ms, flush_ms;
    int64_t hold_ms, stop_grace_ms, linger_ms;
    //  The last PUBLISH, and the timer that publishes what waits for more
    //  events to join it if nothing else wakes the loop, or -1.
    int64_t published_ms;
    int linger_timer;
    //  LEASE cadence, to extend early enough for the next one.
    int64_t last_lease_ms, lease_gap_ms;
    bool stopping;
    int64_t stop_deadline_ms;
    //  Metrics.
    fy_metrics_t *metrics;
    fy_metric_t *received, *published_total, *publishes_total, *acked, *deleted,
        *nacked, *nacked_retryable, *dlq_total, *extended, *released,
        *republished, *invalid, *sqs_errors_total;
    //  Receive to ACK, each event: the tail a stall would show in.
    fy_metric_t *ack_seconds;
    int64_t ack_max_ms;
    bridge_action_t actions [BRIDGE_ACTIONS_MAX];
    size_t action_count;
};

//  bridge.c, for bridge_settle.c: SQS call metrics, the messages' life
//  cycle, and the receive pump.

//  A failed entry of a batch call that succeeded counts as an error too.
void
bridge_entry_error (bridge_t *self, const char *action);

void
bridge_observe (bridge_t *self, const char *action,
                const fy_sqs_result_t *result, int64_t elapsed_ms);

//  The message is settled (or given up): it stops counting against its
//  queue, and is freed once no batch entry points at it.
void
bridge_msg_finish (bridge_msg_t *msg);

//  An entry that pointed at msg came back; true when msg lives on.
bool
bridge_msg_unref (bridge_msg_t *msg);

const char *
bridge_msg_id (bridge_msg_t *msg);

//  msg waits to be published since now: at the end of the pending list,
//  or at its start when it goes back (first).
void
bridge_pend (bridge_t *self, bridge_msg_t *msg, int64_t now, bool first);

//  msg no longer waits to be published. Safe when it did not.
void
bridge_unpend (bridge_t *self, bridge_msg_t *msg);

//  The first message waiting to be published, and the one after msg;
//  NULL at the end.
bridge_msg_t *
bridge_pending_first (bridge_t *self);
bridge_msg_t *
bridge_pending_next (bridge_t *self, bridge_msg_t *msg);

void
bridge_unpublish (bridge_t *self, bridge_msg_t *msg);

//  Start the receives the credit allows, on every queue.
void
bridge_pump (bridge_t *self);

//  bridge_settle.c, for bridge.c: settling, and the broker's answers.

//  Make msg visible again in timeout_s seconds; it is then done here.
void
bridge_release (bridge_t *self, bridge_msg_t *msg, int timeout_s);

//  Release every message of queue's FIFO group waiting unpublished, so
//  that none overtakes an earlier one going back; how many.
size_t
bridge_release_group (bridge_t *self, bridge_queue_t *queue, const char *group);

//  A permanent failure: to the DLQ with the reason, then deleted. Without
//  a DLQ the message goes the retry way, and the queue's own redrive
//  policy (or an operator) deals with it: never dropped.
void
bridge_reject (bridge_t *self, bridge_msg_t *msg, const char *reason,
               const char *error);

//  One batch entry's outcome, by batch kind (bridge_batch_entry_fn).
void
bridge_on_delete (void *ctx, const fy_sqs_entry_t *entry, void *arg);

void
bridge_on_visibility (void *ctx, const fy_sqs_entry_t *entry, void *arg);

void
bridge_on_extend (void *ctx, const fy_sqs_entry_t *entry, void *arg);

void
bridge_on_dlq (void *ctx, const fy_sqs_entry_t *entry, void *arg);

//  One batch call ended, by batch kind (bridge_batch_call_fn).
void
bridge_on_delete_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                       void *arg);

void
bridge_on_visibility_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                           void *arg);

void
bridge_on_dlq_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                    void *arg);

//  The broker's answers (fy_client callbacks): ACK, NACK, LEASE, and a
//  session lost.
void
bridge_on_ack (fy_client_t *client, uint64_t seq, void *arg);

void
bridge_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
                const char *reason, void *arg);

void
bridge_on_lease (fy_client_t *client, const uint64_t *seqs, size_t count,
                 void *arg);

//  The broker lost the session: everything published and unanswered is
//  void there. Publish it all again first, in the order it went out.
void
bridge_on_reset (fy_client_t *client, void *arg);

#endif
