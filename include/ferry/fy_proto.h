/*  fy_proto: the FERRY1 wire protocol (broker/PROTOCOL.md). A message is
    the frames "FERRY1", command, a msgpack header map and, for PUBLISH and
    EVENT, the event frame, which is carried as an opaque zmq_msg_t so the
    broker forwards it without decoding it. A batched PUBLISH or
    EVENT carries a list of entries in its header and one event frame per
    entry, or, packed, one frame of all its events, cut by the sizes the
    entries give; recv hands both forms over as one message per entry.

    One fy_proto_msg_t is reused for every message a loop receives: recv
    fills it, and its strings borrow from the received header frame until
    the next recv or fy_proto_msg_reset. */
#ifndef FY_PROTO_H_INCLUDED
#define FY_PROTO_H_INCLUDED

#include "ferry/fy_common.h"

#include <zmq.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FY_PROTO_SIGNATURE "FERRY1"

//  The most events one batched PUBLISH or EVENT carries with a frame per
//  event, and packed, in one frame; a batch of more is malformed
//  (PROTOCOL.md, Batches).
#define FY_PROTO_BATCH_MAX 64
#define FY_PROTO_PACKED_MAX 256

typedef enum {
    FY_PROTO_HELLO,
    FY_PROTO_READY,
    FY_PROTO_CREDIT,
    FY_PROTO_PUBLISH,
    FY_PROTO_ACK,
    FY_PROTO_NACK,
    FY_PROTO_LEASE,
    FY_PROTO_EVENT,
    FY_PROTO_REQUEST,
    FY_PROTO_REPLY,
    FY_PROTO_MORE,
    FY_PROTO_CANCEL,
    FY_PROTO_HEARTBEAT,
    FY_PROTO_BYE,
    FY_PROTO_ERROR,
    FY_PROTO_COMMANDS
} fy_proto_command_t;

//  A string that is not NUL-terminated; ptr NULL means absent.
typedef struct {
    const char *ptr;
    size_t len;
} fy_proto_str_t;

typedef struct {
    fy_proto_str_t key;
    fy_proto_str_t value;
} fy_proto_pair_t;

//  One event of a batched PUBLISH (seq, id, type) or EVENT (did,
//  attempt), with its event frame.
typedef struct {
    uint64_t seq;
    fy_proto_str_t id, type;
    uint64_t did, attempt;
    zmq_msg_t event;
    uint64_t size_;             //  private: its size in a packed batch
} fy_proto_entry_t;

typedef struct {
    fy_proto_command_t command;
    //  Header fields; which ones a command carries is in PROTOCOL.md.
    fy_proto_str_t name, role, service, id, type, reason, code, message, method,
        path, content_type, body;
    uint64_t seq, did, rid, n, credit, attempt, status;
    //  REQUEST: the more:true parts the worker may send before it waits
    //  for MORE; 0 (absent) means the stream is not flow-controlled.
    uint64_t window;
    bool retryable, more;
    //  READY: the worker sends stream parts only within their grant.
    bool pull;
    //  CREDIT: the most events the broker takes in one PUBLISH; READY:
    //  the most deliveries the worker takes in one EVENT. 0 (absent, as
    //  from a peer older than batches): one per message.
    uint64_t batch;
    //  CREDIT: the broker takes packed batches; READY: the worker does;
    //  HELLO: the client sends them (and may be offered larger batches).
    //  PUBLISH and EVENT: the batch is (to be) sent packed, its events in
    //  one frame. false (absent, as from a peer older than packing): a
    //  frame per event.
    bool packed;
    //  A batched PUBLISH or EVENT: its events, each with its frame, in
    //  place of seq, id and type (or did and attempt) and event. Empty
    //  (entries_count 0) for the one-event form.
    fy_proto_entry_t *entries;
    size_t entries_count;
    //  seqs (ACK and LEASE to a client) or, when dids is set, the
    //  delivery ids of a worker's ACK. NACK names did when it is not 0
    //  (the broker never issues did 0), else seq.
    uint64_t *ids;
    size_t ids_count;
    bool dids;
    fy_proto_pair_t *query, *headers;
    size_t query_count, headers_count;
    //  The ROUTER identity of the peer, on the broker side.
    zmq_msg_t identity;
    bool has_identity;
    //  The event frame of PUBLISH and EVENT.
    zmq_msg_t event;
    bool has_event;
    //  Private: what the borrowed strings point into, and array capacity.
    zmq_msg_t header_;
    bool has_header_;
    void *unpacked_;            //  a msgpack_zone, reused
    void *buffer_;
    size_t ids_size_, query_size_, headers_size_, entries_size_;
} fy_proto_msg_t;

//  Prepare msg for use. Every initialized msg needs fy_proto_msg_close.
FY_EXPORT void
fy_proto_msg_init (fy_proto_msg_t *msg);

//  Release frames and borrowed data; msg is empty and reusable.
FY_EXPORT void
fy_proto_msg_reset (fy_proto_msg_t *msg);

FY_EXPORT void
fy_proto_msg_close (fy_proto_msg_t *msg);

//  Append one id (seq or did) to msg's list.
FY_EXPORT void
fy_proto_msg_add_id (fy_proto_msg_t *msg, uint64_t id);

//  Append one entry to msg's batch and return it, zeroed, with an empty
//  event frame to fill (zmq_msg_init_size, zmq_msg_init_data). Borrowed
//  from msg until its next reset.
FY_EXPORT fy_proto_entry_t *
fy_proto_msg_add_entry (fy_proto_msg_t *msg);

//  The fd of the connection a received msg came on (ZMQ_SRCFD; it may
//  be closed, even reused, by now), or -1 when msg has no header.
FY_EXPORT int
fy_proto_msg_fd (const fy_proto_msg_t *msg);

//  Exchange the id lists of a and b (a batch collected in one message is
//  sent from another without copying).
FY_EXPORT void
fy_proto_msg_swap_ids (fy_proto_msg_t *a, fy_proto_msg_t *b);

//  The upper-case name of a command, and back. fy_proto_command_parse
//  returns -1 for an unknown name.
FY_EXPORT const char *
fy_proto_command_name (fy_proto_command_t command);
FY_EXPORT int
fy_proto_command_parse (const char *name, size_t len);

//  Receive one whole message from socket (a raw libzmq socket), with the
//  identity frame first when router is true. Blocks unless flags has
//  ZMQ_DONTWAIT. Returns 0; or -1 with errno EAGAIN/EINTR from libzmq, or
//  EPROTO with err when the message is malformed (its frames are consumed,
//  and msg->identity still names the sender when known), or
//  EPROTONOSUPPORT when its first frame is not FERRY1 (another version).
FY_EXPORT int
fy_proto_recv (void *socket, bool router, int flags, fy_proto_msg_t *msg,
               fy_error_t *err) FY_MUSTCHECK;

//  Decode one message from frames already received: the identity first
//  when router is true, then the protocol frames. recv is this after
//  reading the frames off a socket; decode needs no socket, so the parser
//  can be tested and fuzzed alone. Takes ownership of the count frames:
//  each is moved into msg or closed, success or not, and the caller must
//  not use or close them again. Returns 0; or -1 with errno EPROTO (or
//  EPROTONOSUPPORT, as fy_proto_recv) and err
//  when the frames are malformed (msg->identity still names the sender
//  when router is true and there was a frame).
FY_EXPORT int
fy_proto_decode (fy_proto_msg_t *msg, zmq_msg_t *frames, size_t count,
                 bool router, fy_error_t *err) FY_MUSTCHECK;

//  Send msg: the identity frame when msg->has_identity, then the protocol
//  frames. The event frame, when present, is consumed (it is sent, and
//  msg->has_event is cleared), so keep a zmq_msg_copy to send it again;
//  so are a batch's entries' frames (left empty), unless msg->packed:
//  then they are copied into the one frame and left as they were.
//  The identity is kept. Returns 0, or -1 with errno from libzmq.
FY_EXPORT int
fy_proto_send (void *socket, fy_proto_msg_t *msg) FY_MUSTCHECK;

//  Pack msg's header alone into header (initialized here; the caller
//  closes it), to be sent later, perhaps more than once, with
//  fy_proto_send_packed. Returns 0, or -1 with errno from libzmq.
FY_EXPORT int
fy_proto_pack (fy_proto_msg_t *msg, zmq_msg_t *header) FY_MUSTCHECK;

//  Send a packed header as command, after identity when it is not NULL,
//  with the event frame for PUBLISH and EVENT (consumed on success).
//  header is not consumed. Returns 0, or -1 with errno from libzmq.
FY_EXPORT int
fy_proto_send_packed (void *socket, const void *identity, size_t identity_len,
                      fy_proto_command_t command, zmq_msg_t *header,
                      zmq_msg_t *event) FY_MUSTCHECK;

//  Shorthand for a field that is a C string (copied into msg's scratch is
//  not needed: the pointer is borrowed until the message is sent).
FY_EXPORT fy_proto_str_t
fy_proto_str (const char *text);

//  The most events a batch to a peer may carry: what it asked (batch; 0
//  or 1, one per message), within the limit of the form it takes.
FY_EXPORT uint64_t
fy_proto_batch_most (uint64_t batch, bool packed);

//  True when a borrowed string equals text.
FY_EXPORT bool
fy_proto_str_is (fy_proto_str_t str, const char *text);

#ifdef __cplusplus
}
#endif
#endif
