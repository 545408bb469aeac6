/*  audit: ferry-audit's top object. It takes the "audit" service's
    deliveries from the broker, writes them to audit.events in batches
    (one transaction each, ACKed after COMMIT; the next batch is
    received and decoded while one commits) and answers the /audit
    API requests the broker forwards (audit_api.c). */
#ifndef AUDIT_H_INCLUDED
#define AUDIT_H_INCLUDED

#include <ferry/ferry.h>
#include "store/fy_audit_digest.h"
#include "store/fy_store.h"
#include "store/fy_store_lanes.h"
#include "store/fy_store_watch.h"
#include "wire/fy_batch.h"

typedef struct audit audit_t;

//  The batch in flight on one of the batch stores (fy_store_lanes),
//  waiting for its COMMIT, then ACKed.
typedef struct {
    audit_t *owner;
    fy_store_t *store;              //  borrowed from the lanes
    fy_delivery_t **flight;
    fy_event_t **flight_events;
    size_t flight_count;
} audit_lane_t;

//  Private to the worker's sources: the API reads the stores and config.
struct audit {
    fy_cfg_t *cfg;                  //  borrowed
    fy_worker_t *worker;
    //  The batch stores: lanes [0] also runs housekeeping, between its
    //  flights, and is the one the watch probes.
    fy_store_lanes_t *stores;
    audit_lane_t *lanes;
    size_t lane_count;
    fy_store_t *api_store;          //  requests: search, get, POST
    fy_schema_t *schema;
    //  The open batch: deliveries decoded, not sent yet.
    fy_batch_t *batch;
    size_t batch_max;
    int64_t batch_ms;
    bool house_due;                 //  housekeeping waits for lanes [0]
    int house_timer;
    int64_t partitions_at;          //  mono ms of the last partition check
    uint64_t written;
    //  The batch store's state (/audit/health): usable, or what is wrong
    //  and the probe that waits for it to come back.
    fy_store_watch_t *watch;
    fy_metrics_t *metrics;          //  GET /audit/metrics
    fy_metric_t *rejected_undecodable, *rejected_store, *ready_gauge;
    fy_metric_t *conflicts;         //  ferry_audit_conflicts_total
};

//  Connect to the broker and the store, check the schema. NULL with err
//  and errno EINVAL (a bad setting, or the schema is missing or old:
//  fy_daemon's exit 2) or EIO (otherwise: exit 1). A database that cannot
//  be reached is not an error: the worker starts not ready (watch)
//  and waits for it.
audit_t *
audit_new (fy_cfg_t *cfg, fy_error_t *err);

void
audit_destroy (audit_t **self_p);

//  Until SIGTERM (the open batch is written and ACKed first).
int
audit_run (audit_t *self) FY_MUSTCHECK;

//  The conflicts of the append that just landed on store (copies of
//  stored ids whose content differs, not stored): counted in
//  ferry_audit_conflicts_total and logged, without payloads.
void
audit_conflicts (audit_t *self, fy_store_t *store);

//  The /audit routes (audit_api.c).
void
audit_api_request (fy_worker_t *worker, const fy_request_t *request, void *arg);

//  The deterministic event id of an Idempotency-Key within a company: a
//  UUID version 5 (SHA-1) in ferry's namespace over "company\nkey".
void
audit_idempotent_id (const char *company_id, const char *key, size_t key_len,
                     char id [FY_UUID_SIZE]);

#endif
