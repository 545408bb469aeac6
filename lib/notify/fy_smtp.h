/*  fy_smtp: asynchronous mail submission over SMTP, the self-hosted
    alternative to SES for the notification worker. Two parts:

    * fy_smtp_message builds one message (RFC 5322, MIME per RFC 2045-2047):
      From, To, Cc, Reply-To, Subject, Date, Message-ID, a text and/or an
      HTML body (multipart/alternative when both), UTF-8, each body
      quoted-printable or base64 (body lines of at most 76 octets, header
      lines folded, all far below the 998-octet limit), CRLF line endings.
      Bcc addresses are envelope recipients only, never a header. Every
      value comes from event data, so every setter refuses a CR or LF in a
      header value, invalid UTF-8 and malformed addresses, with a clear
      error: no header can be injected.

    * fy_smtp sends messages on libcurl's SMTP support, as transfers of the
      caller's fy_http_client: the same curl multi, fd, timeouts and
      completion dispatch as the program's HTTP calls, so one loop drives
      both and many messages are in flight at once. The result says
      whether a failure is worth retrying (4xx replies, broken or refused
      connections) or permanent (5xx replies), so a worker can send the
      permanent ones to its DLQ.

    Not thread-safe: the loop that owns the fy_http_client owns this. */
#ifndef FY_SMTP_H_INCLUDED
#define FY_SMTP_H_INCLUDED

#include "ferry/fy_common.h"
#include "http/fy_http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_smtp fy_smtp_t;
typedef struct fy_smtp_message fy_smtp_message_t;

//  --- Messages

//  An empty message. Caller owns result.
fy_smtp_message_t *
fy_smtp_message_new (void);

//  Destroy a message and set *self_p to NULL. Safe on NULL.
void
fy_smtp_message_destroy (fy_smtp_message_t **self_p);

//  The author and envelope sender: address (an addr-spec, "user@host",
//  at most 254 octets, local part at most 64, ASCII) with an optional
//  display name (UTF-8; NULL or "" for none). Replaces an earlier one.
//  These and the setters below return 0, or -1 with errno EINVAL and err
//  naming the field when a value is refused; the message is unchanged.
int
fy_smtp_message_set_from (fy_smtp_message_t *self, const char *name,
                          const char *address, fy_error_t *err) FY_MUSTCHECK;

//  The Reply-To address. Replaces an earlier one.
int
fy_smtp_message_set_reply_to (fy_smtp_message_t *self, const char *name,
                              const char *address,
                              fy_error_t *err) FY_MUSTCHECK;

//  Add a recipient in To or Cc (a header and an envelope recipient), or a
//  blind one (an envelope recipient only: no header ever names it).
int
fy_smtp_message_add_to (fy_smtp_message_t *self, const char *name,
                        const char *address, fy_error_t *err) FY_MUSTCHECK;
int
fy_smtp_message_add_cc (fy_smtp_message_t *self, const char *name,
                        const char *address, fy_error_t *err) FY_MUSTCHECK;
int
fy_smtp_message_add_bcc (fy_smtp_message_t *self, const char *address,
                         fy_error_t *err) FY_MUSTCHECK;

//  The subject (UTF-8, any length, no CR or LF). Written as is and folded
//  at its spaces when it is printable ASCII, else (or when a word is too
//  long to fold) as RFC 2047 encoded-words, which hold whole characters.
int
fy_smtp_message_set_subject (fy_smtp_message_t *self, const char *subject,
                             fy_error_t *err) FY_MUSTCHECK;

//  The plain text and the HTML body (UTF-8; any of LF, CRLF or CR ends a
//  line). A message needs at least one; with both it is
//  multipart/alternative, the text first. Each replaces an earlier one.
int
fy_smtp_message_set_text (fy_smtp_message_t *self, const char *text,
                          fy_error_t *err) FY_MUSTCHECK;
int
fy_smtp_message_set_html (fy_smtp_message_t *self, const char *html,
                          fy_error_t *err) FY_MUSTCHECK;

//  Add another header field (List-Unsubscribe, X-Ferry-Event...). name is
//  1-76 printable ASCII characters without ':', and not one the message
//  writes itself (From, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID,
//  MIME-Version, Content-*); value as for the subject.
int
fy_smtp_message_add_header (fy_smtp_message_t *self, const char *name,
                            const char *value, fy_error_t *err) FY_MUSTCHECK;

//  The Date, in seconds since the epoch, written in UTC. Default: the
//  time the message is first rendered.
void
fy_smtp_message_set_date (fy_smtp_message_t *self, int64_t unix_s);

//  The Message-ID, "left@right" without the angle brackets (dot-atoms,
//  at most 250 octets), e.g. a delivery key and the sender's domain.
//  Default: a random UUID at the From address's domain.
int
fy_smtp_message_set_id (fy_smtp_message_t *self, const char *id,
                        fy_error_t *err) FY_MUSTCHECK;

//  The Message-ID without brackets: as set, or made now if From is set;
//  NULL before either. Borrowed.
const char *
fy_smtp_message_id (fy_smtp_message_t *self);

//  The envelope sender (the From address), NULL when unset. Borrowed.
const char *
fy_smtp_message_sender (fy_smtp_message_t *self);

//  The envelope recipients in order (To, then Cc, then Bcc): the one at
//  index, NULL past the end. Borrowed.
const char *
fy_smtp_message_recipient (fy_smtp_message_t *self, size_t index);

//  The whole message, CRLF line endings, not dot-stuffed (curl does that),
//  and its length in *len. Returns NULL with errno EINVAL and err filled
//  when From, every recipient or both bodies are missing. Caller owns
//  result.
char *
fy_smtp_message_render (fy_smtp_message_t *self, size_t *len, fy_error_t *err);

//  --- Client

typedef enum {
    FY_SMTP_STARTTLS_NONE,      //  Never: plain text (a local relay)
    FY_SMTP_STARTTLS_TRY,       //  When the server offers it
    FY_SMTP_STARTTLS_REQUIRED,  //  Or fail, permanently (the default)
} fy_smtp_starttls_t;

typedef struct {
    //  smtp://host[:port] (port 25 by default; 587 for submission) or
    //  smtps://host[:port] (TLS from the start, 465). No credentials in it.
    const char *url;
    //  STARTTLS on smtp:// URLs (smtps:// is always TLS).
    fy_smtp_starttls_t starttls;
    //  AUTH (curl picks PLAIN, LOGIN, CRAM-MD5... as the server offers);
    //  NULL for none. Copied; never logged, never in an error text.
    const char *user;
    const char *password;
    //  Connecting (DNS, TCP, TLS), and a whole submission. Defaults 10 s
    //  and 60 s.
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
} fy_smtp_options_t;

//  Fill options with the defaults: no URL, STARTTLS required, no AUTH.
void
fy_smtp_options_default (fy_smtp_options_t *options);

//  The policy named "none", "try" or "required" (a config value). Returns
//  0, or -1 with errno EINVAL.
int
fy_smtp_starttls_parse (const char *text,
                        fy_smtp_starttls_t *policy) FY_MUSTCHECK;

//  A client sending through options->url on http's loop (borrowed: it
//  must outlive this client). Returns NULL with errno EINVAL and err
//  filled when an option is wrong.
fy_smtp_t *
fy_smtp_new (fy_http_client_t *http, const fy_smtp_options_t *options,
             fy_error_t *err);

//  Abort every submission in flight (their callbacks are not called) and
//  set *self_p to NULL. Safe on NULL.
void
fy_smtp_destroy (fy_smtp_t **self_p);

typedef struct {
    bool ok;
    //  The server's reply code: 250 when the message was accepted, the
    //  refusing one on failure (550 for a recipient, 421 for a busy
    //  server...), 0 when none came (no connection, timeout).
    int reply_code;
    //  Worth trying again later: a 4xx reply, a refused, broken or timed
    //  out connection. False for 5xx replies and local errors, which will
    //  fail again the same way.
    bool retryable;
    //  "" when ok, else what failed: curl's description and the server's
    //  last reply line. Borrowed.
    const char *error;
    //  The message's Message-ID without brackets. Borrowed.
    const char *message_id;
    int64_t elapsed_ms;
} fy_smtp_result_t;

//  Called once per message, from fy_http_client_run. May send and cancel;
//  must not destroy the client.
typedef void (fy_smtp_done_fn) (const fy_smtp_result_t *result, void *arg);

//  Render *message_p and submit it to its envelope recipients; fn is
//  called with arg when the server accepted or refused it. Takes
//  ownership of *message_p and sets it to NULL, even on failure. *id_p (if
//  not NULL) gets an id for fy_smtp_cancel. Returns 0, or -1 with errno
//  EINVAL (message incomplete) or EIO and err filled; fn is not called
//  then.
int
fy_smtp_send (fy_smtp_t *self, fy_smtp_message_t **message_p,
              fy_smtp_done_fn *fn, void *arg, uint64_t *id_p,
              fy_error_t *err) FY_MUSTCHECK;

//  Abort submission id; its callback is not called. Returns true if it was
//  still in flight.
bool
fy_smtp_cancel (fy_smtp_t *self, uint64_t id);

//  Submissions in flight.
size_t
fy_smtp_active (fy_smtp_t *self);

#ifdef __cplusplus
}
#endif
#endif
