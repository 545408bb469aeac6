/*  GET /audit/export/csv of 1,000,000 rows through the real broker's HTTP
    endpoint and a real ferry-audit, on a scratch database of the stack's
    PostgreSQL, read by a client that is slow for its first seconds. The
    stream is pulled (broker/PROTOCOL.md, Requests), so: the export
    arrives whole (status, header, row count, first and last row); the
    resident memory of the broker and of ferry-audit, sampled every
    100 ms, stays under S_RSS_BOUND_MIB; events published during the
    export are committed before it ends; and a client that hangs up
    mid-export gets its producer cancelled: the export's connection and
    cursor are closed, and both daemons then stop cleanly (under ASan,
    with no leak). */
#include "ferry/ferry.h"
#include "pg.h"
#include "proc.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define S_ROWS 1000000
#define S_EVENTS 200
#define S_SECRET "an-export-test-secret-long-enough-for-hs256"
#define S_COMPANY "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11"
#define S_OTHER "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
#define S_HEADER                                                        \
    "id,occurredAt,type,version,source,companyId,actorId,"              \
    "correlationId,action,targetType,targetId,ip,userAgent,receivedAt," \
    "changes,payload\r\n"
//  The bound on either process's resident memory while it streams about
//  270 MB. Measured peaks were 17-19 MiB per process (doc: README,
//  "Audit export"); without flow control the broker held the whole
//  export. The sanitizers' shadow memory and quarantine need more.
//  Under ASan the daemons run with a small quarantine (freed parts are
//  otherwise kept until 256 MB of them pile up), and shadow memory still
//  needs a looser bound.
#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifdef S_ASAN
#define S_RSS_BOUND_MIB 160
#else
#define S_RSS_BOUND_MIB 64
#endif

static char s_dir [] = "/tmp/ferry-export-XXXXXX";
static int s_port;
static char s_token [1024];

//  One export read by a thread: slow until told otherwise, or cut after
//  cut_after bytes.
typedef struct {
    pthread_t thread;
    atomic_bool fast;
    atomic_bool done;
    atomic_size_t bytes;
    size_t cut_after;           //  0: read to the end
    size_t lines;
    long status;
    CURLcode result;
    char first [512];           //  the first two lines
    size_t first_len;
    char tail [1024];           //  the last bytes, to find the last row
    size_t tail_len;
} s_reader_t;

static size_t
s_on_data (char *data, size_t size, size_t count, void *arg)
{
    s_reader_t *reader = arg;
    size_t len = size * count;
    if (!atomic_load (&reader->fast))
        usleep (20 * 1000);
    for (size_t i = 0; i < len; i++)
        reader->lines += data [i] == '\n';
    size_t take = sizeof reader->first - 1 - reader->first_len;
    if (take > len)
        take = len;
    memcpy (reader->first + reader->first_len, data, take);
    reader->first_len += take;
    if (len >= sizeof reader->tail) {
        memcpy (reader->tail, data + len - sizeof reader->tail,
                sizeof reader->tail);
        reader->tail_len = sizeof reader->tail;
    }
    else {
        size_t keep = sizeof reader->tail - len;
        if (keep > reader->tail_len)
            keep = reader->tail_len;
        memmove (reader->tail, reader->tail + reader->tail_len - keep, keep);
        memcpy (reader->tail + keep, data, len);
        reader->tail_len = keep + len;
    }
    atomic_fetch_add (&reader->bytes, len);
    if (reader->cut_after && atomic_load (&reader->bytes) >= reader->cut_after)
        return 0;
    return len;
}

static void *
s_read (void *arg)
{
    s_reader_t *reader = arg;
    CURL *curl = curl_easy_init ();
    char url [512], auth [1100];
    snprintf (url, sizeof url,
              "http://127.0.0.1:%d/audit/export/csv"
              "?companyId=%s",
              s_port, S_COMPANY);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", s_token);
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, reader);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 150L);
    reader->result = curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &reader->status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    atomic_store (&reader->done, true);
    return NULL;
}

static void
s_reader_start (s_reader_t *reader, size_t cut_after)
{
    memset (reader, 0, sizeof *reader);
    reader->cut_after = cut_after;
    pthread_create (&reader->thread, NULL, s_read, reader);
}

//  The last complete line the reader saw, without its CRLF.
static void
s_last_line (s_reader_t *reader, char *line, size_t size)
{
    size_t end = reader->tail_len;
    while (
        end > 0
        && (reader->tail [end - 1] == '\n' || reader->tail [end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && reader->tail [start - 1] != '\n')
        start--;
    snprintf (line, size, "%.*s", (int) (end - start), reader->tail + start);
}

static long
s_scalar (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    long value = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res)
                     ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                     : -1;
    if (value < 0)
        diag ("%s: %s", sql, PQerrorMessage (conn));
    PQclear (res);
    return value;
}

static bool
s_exec (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    bool done = PQresultStatus (res) == PGRES_COMMAND_OK;
    if (!done)
        diag ("%s: %s", sql, PQerrorMessage (conn));
    PQclear (res);
    return done;
}

//  Sessions of the scratch database other than the test's own.
static long
s_sessions (PGconn *conn, const char *state)
{
    char sql [256];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM pg_stat_activity "
              "WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()%s",
              state);
    return s_scalar (conn, sql);
}

//  The backend that reads an export (its cursor's statements), or 0.
static long
s_export_pid (PGconn *conn)
{
    return s_scalar (conn, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
                           "WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() "
                           "AND query LIKE '%fy_export%'");
}

//  Whether backend pid is still connected. Counting the database's
//  sessions instead raced with ferry-audit's other connections, which
//  open as they are needed (digests, the health probe).
static bool
s_alive (PGconn *conn, long pid)
{
    char sql [128];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM pg_stat_activity WHERE pid = %ld", pid);
    return pid > 0 && s_scalar (conn, sql) > 0;
}

static bool
s_health (void)
{
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/audit/health", s_port);
    for (int i = 0; i < 100; i++) {
        CURL *curl = curl_easy_init ();
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
        long status = 0;
        if (curl_easy_perform (curl) == CURLE_OK)
            curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup (curl);
        if (status == 200)
            return true;
        usleep (100 * 1000);
    }
    return false;
}

//  S_EVENTS audit.recorded events of S_OTHER as NDJSON, for ferryctl send.
static void
s_write_events (const char *path)
{
    FILE *file = fopen (path, "w");
    if (!file)
        BAIL_OUT ("cannot write %s", path);
    char now [FY_TIME_RFC3339_SIZE];
    fy_time_format (fy_clock_wall_ms (), now);
    for (int i = 0; i < S_EVENTS; i++) {
        char id [FY_UUID_SIZE], target [FY_UUID_SIZE];
        fy_uuid_generate (id);
        fy_uuid_generate (target);
        fprintf (file,
                 "{\"id\":\"%s\",\"type\":\"audit.recorded\","
                 "\"version\":1,\"source\":\"test\",\"occurredAt\":\"%s\","
                 "\"companyId\":\"" S_OTHER "\",\"payload\":{\"action\":"
                 "\"user.updated\",\"target\":{\"type\":\"user\","
                 "\"id\":\"%s\"}}}\n",
                 id, now, target);
    }
    fclose (file);
}

typedef struct {
    pid_t broker, audit;
    long broker_max, audit_max;     //  KiB
    size_t samples;
} s_rss_t;

static void
s_sample (s_rss_t *rss)
{
    long broker = proc_status_kib (rss->broker, "VmRSS");
    long audit = proc_status_kib (rss->audit, "VmRSS");
    if (broker > rss->broker_max)
        rss->broker_max = broker;
    if (audit > rss->audit_max)
        rss->audit_max = audit;
    rss->samples++;
}

static bool
s_log_has (const char *path, const char *text)
{
    size_t len = 0;
    char *log = fy_read_file (path, 64 * 1024 * 1024, &len);
    bool found = log && strstr (log, text);
    free (log);
    return found;
}

int
main (void)
{
    plan (NO_PLAN);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    int64_t started = fy_clock_mono_ms ();
    tap_pg_t pg;
    tap_pg_create (&pg, "ferry_export");
    setenv ("DATABASE_URL", pg.url, 1);
    const char *builddir = getenv ("FERRY_BUILDDIR");
    char *command =
        fy_xasprintf ("'%s/tools/ferryctl' --set "
                      "store.migrations_dir='%s' migrate "
                      ">/dev/null 2>&1",
                      builddir ? builddir : ".", tap_srcpath ("sql"));
    ok (system (command) == 0, "ferryctl migrate on the scratch database");
    free (command);
    PGconn *conn = PQconnectdb (pg.url);
    if (PQstatus (conn) != CONNECTION_OK)
        BAIL_OUT ("connect: %s", PQerrorMessage (conn));

    //  1,000,000 rows in one statement. Ids follow the row number, and
    //  the search indexes the export does not use are dropped first:
    //  that makes the insert about four times faster (11 s instead of
    //  47 s here). Times run from the start of this month, whose
    //  partition migrate made.
    int64_t insert_started = fy_clock_mono_ms ();
    bool inserted =
        s_exec (conn, "DROP INDEX audit.events_company_actor_time, "
                      "audit.events_company_type_time, "
                      "audit.events_company_target_time")
        && s_exec (
            conn,
            "INSERT INTO audit.events (id, occurred_at, type, "
            "version, source, company_id, actor_id, action, target_type, "
            "target_id, ip, user_agent, payload) SELECT "
            "('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,"
            " date_trunc('month', now()) + i * interval '1 ms', "
            "'audit.recorded', 1, 'test', '" S_COMPANY "', "
            "'0b7a1e7c-1d2b-4f6e-8a0b-3c4d5e6f7a8b', 'user.updated', "
            "'user', 'u-' || i, '192.0.2.7', 'bench/1', "
            "jsonb_build_object('action', 'user.updated', 'n', i) "
            "FROM generate_series(1, 1000000) AS i");
    ok (inserted, "1,000,000 rows inserted in %.1f s",
        (double) (fy_clock_mono_ms () - insert_started) / 1000);

    char port_set [64], audit_set [320];
    char broker_log [300], audit_log [300], events [300], send_log [300];
    proc_broker_at_t at = proc_broker_at (s_dir);
    snprintf (audit_set, sizeof audit_set, "audit.broker=%s", at.endpoint);
    s_port = tap_free_port ();
    snprintf (port_set, sizeof port_set, "http.port=%d", s_port);
    snprintf (broker_log, sizeof broker_log, "%s/broker.log", s_dir);
    snprintf (audit_log, sizeof audit_log, "%s/audit.log", s_dir);
    snprintf (events, sizeof events, "%s/events.ndjson", s_dir);
    snprintf (send_log, sizeof send_log, "%s/send.log", s_dir);
    setenv ("JWT_SERVICE_SECRET", S_SECRET, 1);
#ifdef S_ASAN
    const char *asan = getenv ("ASAN_OPTIONS");
    char *options = fy_xasprintf ("%s%squarantine_size_mb=16", asan ? asan : "",
                                  asan && *asan ? ":" : "");
    setenv ("ASAN_OPTIONS", options, 1);
    free (options);
#endif
    const char *broker_args [] = { "--set", at.set,
                                   "--set", port_set,
                                   "--set", "http.address=127.0.0.1",
                                   "--set", "log.level=warn",
                                   NULL };
    s_rss_t rss = { 0 };
    rss.broker = proc_spawn (broker_log, "broker/ferry-broker", broker_args);
    const char *audit_args [] = { "--set", audit_set,
                                  "--set", "audit.batch_ms=20",
                                  "--set", "log.level=info",
                                  NULL };
    rss.audit = proc_spawn (audit_log, "workers/audit/ferry-audit", audit_args);
    ok (s_health (), "GET /audit/health answers 200");
    //  The token, as an operator makes one.
    command =
        fy_xasprintf ("'%s/tools/ferryctl' token", builddir ? builddir : ".");
    FILE *pipe = popen (command, "r");
    free (command);
    if (!pipe || !fgets (s_token, sizeof s_token, pipe))
        BAIL_OUT ("ferryctl token");
    pclose (pipe);
    s_token [strcspn (s_token, "\n")] = 0;
    long sessions = s_sessions (conn, "");
    s_write_events (events);

    //  (a) and (b): the whole export, slow at first; events published
    //  while it runs.
    s_reader_t reader;
    int64_t export_started = fy_clock_mono_ms ();
    s_reader_start (&reader, 0);
    pid_t send = 0;
    bool committed_during = false, sent = false;
    int send_status = -1;
    long export_sessions = 0, export_pid = 0;
    while (!atomic_load (&reader.done)) {
        s_sample (&rss);
        int64_t now = fy_clock_mono_ms ();
        if (!send && atomic_load (&reader.bytes) > 0) {
            export_sessions = s_sessions (conn, "");
            export_pid = s_export_pid (conn);
            const char *args [] = { "send",      "--broker",
                                    at.endpoint, "--timeout-ms",
                                    "20000",     events,
                                    NULL };
            send = proc_spawn (send_log, "tools/ferryctl", args);
        }
        if (send && !sent && waitpid (send, &send_status, WNOHANG) == send) {
            sent = true;
            char sql [160];
            snprintf (sql, sizeof sql,
                      "SELECT count(*) FROM audit.events "
                      "WHERE company_id = '%s'",
                      S_OTHER);
            committed_during =
                s_scalar (conn, sql) == S_EVENTS && !atomic_load (&reader.done);
        }
        //  Slow for 3 s at least, and until the events are in: the
        //  buffers fill and the pull holds the worker back.
        if (sent && now - export_started >= 3000)
            atomic_store (&reader.fast, true);
        usleep (100 * 1000);
    }
    pthread_join (reader.thread, NULL);
    double seconds = (double) (fy_clock_mono_ms () - export_started) / 1000;
    if (send && !sent)
        waitpid (send, &send_status, 0);
    ok (reader.result == CURLE_OK && reader.status == 200,
        "the export completes with 200 in %.1f s (curl %d)", seconds,
        (int) reader.result);
    is_int ((long long) reader.lines, S_ROWS + 1,
            "a header and 1,000,000 rows (%zu bytes)",
            atomic_load (&reader.bytes));
    ok (reader.first_len >= strlen (S_HEADER)
            && memcmp (reader.first, S_HEADER, strlen (S_HEADER)) == 0,
        "the header first");
    ok (memcmp (reader.first + strlen (S_HEADER),
                "00000000-0000-4000-8000-0000000f4240,", 37)
            == 0,
        "then the newest row");
    char last [1024];
    s_last_line (&reader, last, sizeof last);
    static const char payload [] =
        ",\"{\"\"action\"\":\"\"user.updated\"\",\"\"n\"\":1}\"";
    size_t len = strlen (last);
    ok (strncmp (last, "00000000-0000-4000-8000-000000000001,", 37) == 0
            && strstr (last, ",user.updated,user,u-1,192.0.2.7,bench/1,")
            && len > sizeof payload
            && strcmp (last + len - (sizeof payload - 1), payload) == 0,
        "and the oldest row last, whole: %.60s...%s", last,
        last + (len > 40 ? len - 40 : 0));
    ok (rss.samples >= 10, "RSS sampled every 100 ms (%zu samples)",
        rss.samples);
    ok (rss.broker_max > 0 && rss.broker_max < S_RSS_BOUND_MIB * 1024,
        "ferry-broker's RSS peaked at %ld KiB, under %d MiB", rss.broker_max,
        S_RSS_BOUND_MIB);
    ok (rss.audit_max > 0 && rss.audit_max < S_RSS_BOUND_MIB * 1024,
        "ferry-audit's RSS peaked at %ld KiB, under %d MiB", rss.audit_max,
        S_RSS_BOUND_MIB);
    diag ("VmHWM: broker %ld KiB, audit %ld KiB",
          proc_status_kib (rss.broker, "VmHWM"),
          proc_status_kib (rss.audit, "VmHWM"));
    ok (sent && WIFEXITED (send_status) && WEXITSTATUS (send_status) == 0,
        "ferryctl send of %d events during the export succeeds", S_EVENTS);
    ok (committed_during, "and all %d are committed before the export ends",
        S_EVENTS);
    ok (export_sessions == sessions + 1,
        "the export reads on a connection of its own (%ld, then %ld)", sessions,
        export_sessions);

    //  The whole export's connection closes after its last part, which
    //  may be after the HTTP client has it all.
    bool settled = false;
    for (int i = 0; i < 100 && !settled; i++) {
        settled = !s_alive (conn, export_pid);
        if (!settled)
            usleep (100 * 1000);
    }
    ok (export_pid > 0 && settled,
        "then its connection (backend %ld) is closed", export_pid);

    //  (c) A client that hangs up mid-export.
    s_reader_t cut;
    s_reader_start (&cut, 4 * 1024 * 1024);
    long cut_pid = 0;
    while (!atomic_load (&cut.done) && !cut_pid) {
        cut_pid = s_export_pid (conn);
        usleep (10 * 1000);
    }
    pthread_join (cut.thread, NULL);
    ok (cut.result == CURLE_WRITE_ERROR && cut.status == 200,
        "a client hangs up after %zu bytes", atomic_load (&cut.bytes));
    bool closed = false, cancelled = false;
    for (int i = 0; i < 100 && !(closed && cancelled); i++) {
        usleep (100 * 1000);
        cancelled = s_log_has (audit_log, "cancelled");
        closed =
            !s_alive (conn, cut_pid)
            && s_sessions (conn, " AND state LIKE 'idle in transaction%'") == 0;
    }
    ok (cancelled, "ferry-audit cancels the stream");
    ok (cut_pid > 0 && closed,
        "its connection (backend %ld) and cursor are closed", cut_pid);

    int status = proc_stop (rss.audit, SIGTERM);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "ferry-audit stops with 0 (no leak under ASan)");
    status = proc_stop (rss.broker, SIGTERM);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "ferry-broker stops with 0");
    ok (!s_log_has (broker_log, "ERROR: ") && !s_log_has (audit_log, "ERROR: "),
        "no sanitizer report in the daemons' logs");
    diag ("whole test: %.1f s",
          (double) (fy_clock_mono_ms () - started) / 1000);
    PQfinish (conn);
    tap_pg_drop (&pg);
    unlink (broker_log);
    unlink (audit_log);
    unlink (events);
    unlink (send_log);
    rmdir (s_dir);
    curl_global_cleanup ();
    return done_testing ();
}
