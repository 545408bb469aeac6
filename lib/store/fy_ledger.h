/*  fy_ledger: ferry-notify's delivery ledger in PostgreSQL (notify.*,
    sql/0007_notify.sql), on a fy_store's connection. A delivery is one
    notification to one recipient on one channel, keyed by its
    idempotency key, which is unique: recording a key twice gives back the
    first delivery. The event that asked is stored once, in the same
    transaction as its deliveries. A delivery is sent only by the process
    that claimed it (queued or held, due, and no live claim: an atomic
    UPDATE), so two processes never send one key at the same time; the
    claim is a lease, and a process that dies leaves it to run out, after
    which another one may claim the delivery again (doc/notify.md, "The
    one window").

    Every function returns 0, or -1 with errno as fy_store_pg_fail gives it
    (EINVAL a value the database refused, EAGAIN/ECONNRESET the database
    is unreachable, EIO otherwise) and err. */
#ifndef FY_LEDGER_H_INCLUDED
#define FY_LEDGER_H_INCLUDED

#include "store/fy_store.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FY_LEDGER_QUEUED,
    FY_LEDGER_HELD,
    FY_LEDGER_SENDING,
    FY_LEDGER_SENT,
    FY_LEDGER_FAILED,
    FY_LEDGER_SUPPRESSED,
    FY_LEDGER_STATUSES
} fy_ledger_status_t;

//  "queued", "held", ...
const char *
fy_ledger_status_name (fy_ledger_status_t status);

//  One notification to record. Strings and JSON are borrowed.
typedef struct {
    const char *key;            //  the idempotency key
    const char *channel;        //  email, sms, push, in_app
    const char *company_id;     //  NULL for none
    const char *user_id;        //  NULL: no preferences apply
    json_t *recipient;
    const char *category;       //  NULL for none
    bool critical;              //  never suppressed nor held
    const char *template_name;
    const char *locale;         //  NULL: the recipient directory's, else en
    json_t *data;
    int64_t not_before_ms;      //  epoch ms; 0: now
} fy_ledger_item_t;

typedef struct fy_ledger_job fy_ledger_job_t;

//  A delivery as recorded: its id and status, and the job when it was
//  claimed by this call (the caller's then, to send or destroy).
typedef struct {
    char id [FY_UUID_SIZE];     //  "" when another process recorded the
        //  key in the same moment (its to send)
    fy_ledger_status_t status;
    bool created;  //  by this call
    fy_ledger_job_t *job;
} fy_ledger_entry_t;

//  Record count items in one transaction (one statement), with the event
//  event_id (NULL for none) whose content hashes to hash (32 bytes;
//  ignored without an event), in batch batch_id (NULL for none;
//  fy_ledger_batch_open first). A non-critical item of a user who opted
//  out of its category on its channel is recorded suppressed; one due
//  inside the user's quiet hours held until they end; the rest queued,
//  and, with an owner (NULL for none), those due now claimed for it at
//  once, as fy_ledger_claim would (their entries carry the job). An item
//  whose key is recorded already is not recorded again. When the event was stored already,
//  nothing is recorded: *entries_p gets the deliveries stored with it,
//  and *conflict_p (may be NULL) is true when its hash differs (the first
//  is kept). Otherwise *entries_p gets one entry per item, in order, the
//  earlier delivery for a known key. Caller frees *entries_p (its count in
//  *count_p) and owns the jobs in it.
int
fy_ledger_record (fy_store_t *store, const char *event_id,
                  const unsigned char hash [32], const char *batch_id,
                  const char *owner, int lease_s, const fy_ledger_item_t *items,
                  size_t count, fy_ledger_entry_t **entries_p, size_t *count_p,
                  bool *conflict_p, fy_error_t *err) FY_MUSTCHECK;

//  One event's notifications for fy_ledger_record_events: its id (NULL
//  for none) and hash, its items; then, filled by the call, its entries
//  (caller frees them and owns their jobs) and whether it conflicts.
typedef struct {
    const char *event_id;
    unsigned char hash [32];
    const fy_ledger_item_t *items;
    size_t count;
    fy_ledger_entry_t *entries;
    size_t entry_count;
    bool conflict;
} fy_ledger_event_t;

//  fy_ledger_record for count events at once, in one statement: the
//  events of one delivery batch in one round trip.
int
fy_ledger_record_events (fy_store_t *store, const char *batch_id,
                         const char *owner, int lease_s,
                         fy_ledger_event_t *events, size_t count,
                         fy_error_t *err) FY_MUSTCHECK;

//  Create a batch of total recipients with a new id into id, or, when
//  key (may be NULL) names a batch already there, give its id (and
//  *created_p false; may be NULL).
int
fy_ledger_batch_open (fy_store_t *store, const char *key, size_t total,
                      char id [FY_UUID_SIZE], bool *created_p,
                      fy_error_t *err) FY_MUSTCHECK;

//  A claimed delivery, what sending it needs. Owned by the caller.
struct fy_ledger_job {
    char id [FY_UUID_SIZE];
    char *key, *channel, *template_name, *locale;
    char *category, *user_id;  //  NULL for none
    json_t *recipient, *data;
    int attempts;  //  this one included
    bool critical;
};

void
fy_ledger_job_destroy (fy_ledger_job_t **self_p);

//  Claim delivery id for owner for lease_s seconds: it is due (queued or
//  held, not_before passed) and unclaimed, or its claim ran out, or it is
//  owner's own. The claim moves it to sending and counts an attempt.
//  *job_p gets the job, or NULL when the delivery cannot be claimed
//  (unknown, settled, not due, or another process's).
int
fy_ledger_claim (fy_store_t *store, const char *id, const char *owner,
                 int lease_s, fy_ledger_job_t **job_p,
                 fy_error_t *err) FY_MUSTCHECK;

//  Claim at most limit due deliveries nobody holds (oldest due first,
//  skipping rows another process is claiming now). *jobs_p gets them
//  (caller frees the array and each job), their count *count_p.
int
fy_ledger_claim_due (fy_store_t *store, const char *owner, int lease_s,
                     size_t limit, fy_ledger_job_t ***jobs_p, size_t *count_p,
                     fy_error_t *err) FY_MUSTCHECK;

//  What one device token of a push came to in an attempt, for good: FCM
//  accepted the message (its name in message_id), called the token
//  unregistered, or refused the message for that device (error).
typedef enum {
    FY_LEDGER_TOKEN_SENT,
    FY_LEDGER_TOKEN_DEAD,
    FY_LEDGER_TOKEN_REFUSED
} fy_ledger_token_status_t;

typedef struct {
    const char *token;
    fy_ledger_token_status_t status;
    const char *message_id;  //  NULL unless sent
    const char *error;  //  NULL when sent
} fy_ledger_token_t;

//  How a claimed delivery ended. status: SENT (provider, message_id),
//  QUEUED (a retry after retry_in_ms; the claim is kept that long plus
//  lease_s, so only owner retries it while it lives) or FAILED; error
//  (NULL when sent) is kept as last_error, template_version as the
//  version rendered (NULL when it did not get so far). message_id NULL
//  keeps the one recorded (a push whose device accepted it at an earlier
//  attempt). tokens: a push's device tokens this attempt settled for good
//  (token_count of them), recorded with the outcome, so that a retry
//  never sends to them again (fy_ledger_push_tokens). inbox_subject and
//  inbox_text (NULL for none): an in_app delivery's message, stored in
//  its user's inbox in the same statement that records it sent, once.
typedef struct {
    const char *id;
    const char *owner;
    fy_ledger_status_t status;
    const char *provider;
    const char *message_id;
    const char *template_version;
    const char *error;
    int64_t retry_in_ms;
    int lease_s;
    const fy_ledger_token_t *tokens;
    size_t token_count;
    const char *inbox_subject, *inbox_text;
} fy_ledger_outcome_t;

//  Record outcome. -1 with errno ENOENT when owner's claim is gone (its
//  lease ran out and another process claimed the delivery).
int
fy_ledger_settle (fy_store_t *store, const fy_ledger_outcome_t *outcome,
                  fy_error_t *err) FY_MUSTCHECK;

//  Record count outcomes in one statement: done [i] says whether
//  outcomes [i] was (false: its claim is gone). -1 with errno and err
//  when none could be.
int
fy_ledger_settle_many (fy_store_t *store, const fy_ledger_outcome_t *outcomes,
                       size_t count, bool *done, fy_error_t *err) FY_MUSTCHECK;

//  Give up owner's claims on deliveries ids (count), at SIGTERM: those
//  waiting for a retry or for their turn, never given to a provider, so
//  another process may take them at once (back to queued, an attempt not
//  made not counted). The caller leaves out those a provider may have
//  taken: their claim stays until the lease runs out.
int
fy_ledger_release (fy_store_t *store, const char *owner, const char **ids,
                   size_t count, fy_error_t *err) FY_MUSTCHECK;

//  Delivery id as the API shows it: {"id", "idempotencyKey", "eventId",
//  "batchId", "channel", "recipient", "template", "templateVersion",
//  "locale", "status", "attempts", "lastError", "provider",
//  "providerMessageId", "createdAt", "updatedAt", "sentAt", ...}. NULL
//  with errno ENOENT when there is none. Caller owns result.
json_t *
fy_ledger_get (fy_store_t *store, const char *id, fy_error_t *err);

//  Batch id: {"id", "total", "createdAt", "counts": {"queued": n, ...}}
//  (every status, 0 when none). NULL with ENOENT when unknown.
json_t *
fy_ledger_batch (fy_store_t *store, const char *id, fy_error_t *err);

//  User user_id's preferences: {"userId", "optOut": {channel: [category,
//  ...]}, "timezone" (null when none was given), "quietHours": {"start":
//  "22:00", "end": "07:00"} or null}; the defaults when none are stored.
json_t *
fy_ledger_preferences (fy_store_t *store, const char *user_id, fy_error_t *err);

//  Store user_id's preferences: opt_out an object of arrays of category
//  strings by channel, zone an IANA zone name (NULL: the recipient
//  directory's when it has one PostgreSQL knows, else UTC), quiet start
//  and end "HH:MM" (both NULL for none). EINVAL when the database refuses
//  the zone or a time.
int
fy_ledger_preferences_put (fy_store_t *store, const char *user_id,
                           json_t *opt_out, const char *zone,
                           const char *quiet_start, const char *quiet_end,
                           fy_error_t *err) FY_MUSTCHECK;

//  ---------------------------------------------------------------------
//  Push devices (sql/0016): each user's FCM registration tokens.

//  Mark a device token dead (FCM: unregistered), registered or not:
//  never sent to again, until it is registered again.
int
fy_ledger_token_dead (fy_store_t *store, const char *token,
                      fy_error_t *err) FY_MUSTCHECK;

//  Register device token for user user_id, platform "android", "ios" or
//  "web", app_version and locale NULL for none: a new token is added, a
//  known one replaced (moved to user_id when it was another user's), and
//  a dead one live again. Returns the device as fy_ledger_devices shows
//  it, and *created_p (may be NULL) true when the token was not user_id's
//  before; NULL with errno (EINVAL: a value the database refused) and
//  err. Caller owns result.
json_t *
fy_ledger_device_put (fy_store_t *store, const char *user_id, const char *token,
                      const char *platform, const char *app_version,
                      const char *locale, bool *created_p, fy_error_t *err);

//  User user_id's devices, live and dead, the newest registration first:
//  {"userId", "devices": [{"token", "platform", "appVersion", "locale",
//  "createdAt", "updatedAt", "deadAt"}]}. Caller owns result.
json_t *
fy_ledger_devices (fy_store_t *store, const char *user_id, fy_error_t *err);

//  Forget user_id's device token. -1 with errno ENOENT when user_id has
//  no such token.
int
fy_ledger_device_delete (fy_store_t *store, const char *user_id,
                         const char *token, fy_error_t *err) FY_MUSTCHECK;

//  The device tokens push delivery delivery_id goes to now, at most max:
//  the strings of given (an array, borrowed), else, when given is
//  NULL, user user_id's live devices, the newest registration first;
//  neither one marked dead nor one the delivery's earlier attempts
//  settled (fy_ledger_outcome_t's tokens). *tokens_p gets them (caller
//  frees each and the array; NULL when none), *count_p their count, and
//  *sent_p how many devices accepted the delivery at earlier attempts.
int
fy_ledger_push_tokens (fy_store_t *store, const char *delivery_id,
                       const char *user_id, json_t *given, size_t max,
                       char ***tokens_p, size_t *count_p, size_t *sent_p,
                       fy_error_t *err) FY_MUSTCHECK;

//  ---------------------------------------------------------------------
//  The in-app inbox (sql/0017): each user's in_app notifications, stored
//  by fy_ledger_settle_many when they are sent.

//  The most items of one page of an inbox.
#define FY_LEDGER_INBOX_PAGE_MAX 100

//  User user_id's inbox, the newest first, only the unread ones when
//  unread_only, at most limit (1 to FY_LEDGER_INBOX_PAGE_MAX) after the
//  item cursor (NULL: from the newest): {"userId", "unread" (the user's
//  unread count), "items": [{"id" (the delivery's), "category",
//  "template", "subject", "text", "createdAt", "readAt"}], "nextCursor"
//  (the last item's id when more follow, else null)}. NULL with errno
//  ENOENT when cursor is not one of the user's items. Caller owns result.
json_t *
fy_ledger_inbox (fy_store_t *store, const char *user_id, bool unread_only,
                 const char *cursor, int limit, fy_error_t *err);

//  Mark user_id's items ids (an array of delivery id strings, borrowed)
//  read, or every one when ids is NULL; an item read already, or not the
//  user's, is left as it is. Returns {"userId", "marked" (how many this
//  call marked), "unread" (how many are left)}. Caller owns result.
json_t *
fy_ledger_inbox_read (fy_store_t *store, const char *user_id, json_t *ids,
                      fy_error_t *err);

//  A user.created or user.updated for the recipient directory: the
//  event's id and content hash (32 bytes), the user, the company (may be
//  NULL), the profile fields it carries (an object: email, firstName,
//  lastName, displayName, locale, timezone, phone) and when it happened
//  (ISO 8601). Borrowed.
typedef struct {
    const char *event_id;
    unsigned char hash [32];
    const char *user_id;
    const char *company_id;
    json_t *profile;
    const char *occurred_at;
} fy_ledger_directory_t;

//  Apply entry to the directory with its event's id, in one transaction:
//  the entry's fields replace the user's when the event is newer than the
//  last one applied, else only fill those the user has not. *applied_p
//  (may be NULL) says whether it was applied: an event applied already
//  changes nothing, and *conflict_p (may be NULL) is then true when its
//  content differs from the first's (which is kept). EINVAL when the
//  database refuses a value (a bad id or time).
int
fy_ledger_directory_update (fy_store_t *store,
                            const fy_ledger_directory_t *entry, bool *applied_p,
                            bool *conflict_p, fy_error_t *err) FY_MUSTCHECK;

//  User user_id's profile in the directory (the fields above), or NULL
//  with errno ENOENT when the directory does not know the user (or
//  another errno when the database failed). Caller owns result.
json_t *
fy_ledger_directory_get (fy_store_t *store, const char *user_id,
                         fy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
