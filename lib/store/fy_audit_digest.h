/*  fy_audit_digest: tamper evidence for audit.events. For each company
    and UTC hour, once the hour has closed and a grace period has passed,
    a SHA-256 digest over the hour's events in canonical form, chained to
    the company's previous digest and HMAC-SHA256-signed with a key only
    the audit service holds, is stored in audit.digests together with the
    per-event hashes; events of the hour stored later get a supplementary
    digest, chained the same way. Verify recomputes everything and names each event
    changed, removed or added after the fact, each digest row altered or
    removed, and each bad signature. The canonical form is defined in
    doc/store.md ("Tamper evidence"). */
#ifndef FY_AUDIT_DIGEST_H_INCLUDED
#define FY_AUDIT_DIGEST_H_INCLUDED

#include "ferry/fy_common.h"
#include "store/fy_store.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Size of a SHA-256 hash, and of one entry of a digest's event list
//  (16-byte uuid, then the event's hash).
#define FY_AUDIT_DIGEST_SIZE 32
#define FY_AUDIT_DIGEST_ENTRY 48

//  The SHA-256 of one event in canonical form, from its 16 stored
//  columns as PostgreSQL prints them (fields [i] NULL for SQL NULL), in
//  the order of doc/store.md. Exposed so the canonical form can be tested
//  and reproduced outside ferry.
void
fy_audit_digest_event (const char *const fields [16],
                       unsigned char hash [FY_AUDIT_DIGEST_SIZE]);

//  Digest every (company, hour) due (stored rows no digest covers) that
//  has closed before now_ms - grace_s: never digested, or whose late rows
//  have stopped coming for grace_s (by the server's clock). Each digest
//  covers the rows of the pair ferry stored and no digest covers yet,
//  chained after the company's newest, in its own transaction (safe with
//  several workers at once: a per-company advisory lock serialises them,
//  and a pair an append is writing right now waits). key is the HMAC key
//  (not empty). *digested_p (may be NULL) gets how many digests were
//  stored.
//  Returns 0, or -1 with errno (EAGAIN/ECONNRESET: retry later, EIO,
//  EINVAL for an empty key) and err; the hours stored before a failure
//  stay.
int
fy_audit_digest_run (fy_store_t *store, int64_t now_ms, int grace_s,
                     const char *key, size_t *digested_p,
                     fy_error_t *err) FY_MUSTCHECK;

//  Verify company's digests and events over [from, to) (ISO 8601 times,
//  either may be NULL for unbounded; from is taken down to its hour).
//  *report_p (caller owns it) gets
//      {"companyId", "from", "to", "clean": bool,
//       "hours": digests checked, "events": events checked,
//       "pending": events ferry stored that no digest covers yet,
//       "changed": [{"id", "hour"}], "removed": [{"id", "hour"}],
//       "added": [{"id", "hour"}],
//       "digests": [{"hour", "problem"}]}
//  where a digest problem is "bad hmac", "altered" (the row does not
//  match its own event list), "chain broken" (prev_digest is not the
//  digest before it: a row removed or replaced) or "missing". Returns 0
//  when clean, 1 when anything was found, -1 with errno (EINVAL for a
//  malformed company or time, EAGAIN/EIO) and err, with *report_p NULL.
int
fy_audit_digest_verify (fy_store_t *store, const char *company_id,
                        const char *from, const char *to, const char *key,
                        json_t **report_p, fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
