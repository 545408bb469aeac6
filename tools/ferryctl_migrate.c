/*  ferryctl migrate [--dry-run] [--dir DIR] and ferryctl migrate status:
    the sql/NNNN_name.sql migrations, applied forward only, in version
    order, each in its own transaction together with its row in
    schema_migrations (version, name, checksum, applied_at). A session
    advisory lock serialises concurrent runs (two hosts deploying at once):
    the second waits, then finds nothing left to do. A file changed after
    it was applied is an error, never silently skipped. After migrating,
    the monthly audit partitions are made for the current month and
    store.partitions_ahead more.

    schema_migrations itself is created here rather than by a migration:
    it must exist before the first file can be recorded. */
#include "ferryctl.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  pg_advisory_lock key of migrations: "ferrymig" in ASCII.
#define S_LOCK_KEY "7378707164862712167"
#define S_MAX_FILES 1000
#define S_MAX_FILE_BYTES (16 * 1024 * 1024)

typedef struct {
    int version;
    char *name;             //  "audit" of 0001_audit.sql
    char *file;             //  "0001_audit.sql"
    char *checksum;         //  sha256 hex of the file, from the server
    char *applied_at;       //  NULL while pending
    char *recorded;         //  the checksum recorded when applied
} s_migration_t;

typedef struct {
    PGconn *conn;
    const char *dir;
    s_migration_t *list;
    size_t count;
    int newest;             //  the newest version applied, file or not
} s_migrate_t;

//  Print a libpq message (which never holds the password, but may hold
//  a conninfo fragment) with secrets masked and no trailing newline.
static void
s_pg_error (const char *what, const char *message)
{
    char *text = fy_log_redact (message ? message : "");
    size_t len = strlen (text);
    while (len && (text [len - 1] == '\n' || text [len - 1] == ' '))
        len--;
    fprintf (stderr, "ferryctl migrate: %s: %.*s\n", what, (int) len, text);
    free (text);
}

static int
s_exec (PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        s_pg_error (what, PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    return 0;
}

//  "NNNN_name.sql" -> version and name. Returns 0, or -1 when the name
//  is not one of a migration.
static int
s_parse_name (const char *file, int *version, char **name)
{
    size_t len = strlen (file);
    size_t digits = strspn (file, "0123456789");
    if (digits != 4 || file [4] != '_' || len <= 9
        || strcmp (file + len - 4, ".sql") != 0)
        return -1;
    for (size_t i = 5; i < len - 4; i++)
        if (!((file [i] >= 'a' && file [i] <= 'z')
              || (file [i] >= '0' && file [i] <= '9') || file [i] == '_'))
            return -1;
    *version = (file [0] - '0') * 1000 + (file [1] - '0') * 100
               + (file [2] - '0') * 10 + (file [3] - '0');
    *name = fy_xstrndup (file + 5, len - 9);
    return 0;
}

static int
s_compare (const void *a, const void *b)
{
    const s_migration_t *left = a, *right = b;
    return (left->version > right->version) - (left->version < right->version);
}

//  The migrations in dir, in version order. Returns 0 or -1 (printed).
static int
s_scan (s_migrate_t *self)
{
    DIR *dir = opendir (self->dir);
    if (!dir) {
        fprintf (stderr, "ferryctl migrate: %s: %s\n", self->dir,
                 strerror (errno));
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    self->list = fy_xcalloc (S_MAX_FILES, sizeof *self->list);
    while ((entry = readdir (dir)) && rc == 0) {
        size_t len = strlen (entry->d_name);
        if (len < 4 || strcmp (entry->d_name + len - 4, ".sql") != 0)
            continue;
        s_migration_t *migration = &self->list [self->count];
        if (s_parse_name (entry->d_name, &migration->version,
                          &migration->name)) {
            fprintf (stderr,
                     "ferryctl migrate: %s/%s: not named "
                     "NNNN_name.sql (lower case)\n",
                     self->dir, entry->d_name);
            rc = -1;
        }
        else if (self->count + 1 == S_MAX_FILES) {
            fprintf (stderr, "ferryctl migrate: %s: more than %d files\n",
                     self->dir, S_MAX_FILES);
            rc = -1;
        }
        else {
            migration->file = fy_xstrdup (entry->d_name);
            self->count++;
        }
    }
    closedir (dir);
    qsort (self->list, self->count, sizeof *self->list, s_compare);
    for (size_t i = 1; i < self->count && rc == 0; i++)
        if (self->list [i].version == self->list [i - 1].version) {
            fprintf (stderr,
                     "ferryctl migrate: %s and %s have the same "
                     "version\n",
                     self->list [i - 1].file, self->list [i].file);
            rc = -1;
        }
    return rc;
}

//  The file's text. Caller owns result; NULL when it cannot be read.
static char *
s_read (s_migrate_t *self, s_migration_t *migration)
{
    char *path = fy_xasprintf ("%s/%s", self->dir, migration->file);
    size_t size;
    char *text = fy_read_file (path, S_MAX_FILE_BYTES, &size);
    if (!text)
        fprintf (stderr, "ferryctl migrate: %s: %s\n", path, strerror (errno));
    else if (strlen (text) != size) {
        fprintf (stderr, "ferryctl migrate: %s: holds a NUL byte\n", path);
        free (text);
        text = NULL;
    }
    free (path);
    return text;
}

//  Every file's checksum, computed by the server (sha256 is built into
//  PostgreSQL 11 and later, so ferryctl needs no crypto library).
static int
s_checksums (s_migrate_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        char *text = s_read (self, &self->list [i]);
        if (!text)
            return -1;
        const char *values [] = { text };
        PGresult *res = PQexecParams (
            self->conn,
            "SELECT encode(sha256(convert_to($1::text, 'UTF8')), 'hex')", 1,
            NULL, values, NULL, NULL, 0);
        free (text);
        if (PQresultStatus (res) != PGRES_TUPLES_OK) {
            s_pg_error (self->list [i].file, PQresultErrorMessage (res));
            PQclear (res);
            return -1;
        }
        self->list [i].checksum = fy_xstrdup (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    return 0;
}

//  What schema_migrations records, matched to the files. An applied
//  version with no file is reported and otherwise left alone. Returns 0
//  or -1 (printed).
static int
s_applied (s_migrate_t *self)
{
    PGresult *res =
        PQexec (self->conn,
                "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        s_pg_error ("schema_migrations", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    bool exists = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    if (!exists)
        return 0;
    res = PQexec (
        self->conn,
        "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE "
        "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM public.schema_migrations ORDER BY version");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        s_pg_error ("schema_migrations", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    for (int row = 0; row < PQntuples (res); row++) {
        int64_t version = -1;
        if (fy_parse_int64 (PQgetvalue (res, row, 0), 0, 9999, &version))
            version = -1;
        if (version > self->newest)
            self->newest = (int) version;
        s_migration_t *migration = NULL;
        for (size_t i = 0; i < self->count; i++)
            if (self->list [i].version == version)
                migration = &self->list [i];
        if (!migration) {
            printf ("applied  %04d_%s.sql  %s  (no such file in %s)\n",
                    (int) version, PQgetvalue (res, row, 1),
                    PQgetvalue (res, row, 3), self->dir);
            continue;
        }
        migration->recorded = fy_xstrdup (PQgetvalue (res, row, 2));
        migration->applied_at = fy_xstrdup (PQgetvalue (res, row, 3));
    }
    PQclear (res);
    return 0;
}

//  A changed applied file, or a pending one older than an applied one,
//  is an error. Returns the number of such problems (printed).
static int
s_problems (s_migrate_t *self)
{
    int problems = 0;
    int newest = self->newest;
    for (size_t i = 0; i < self->count; i++) {
        s_migration_t *migration = &self->list [i];
        if (migration->applied_at
            && strcmp (migration->recorded, migration->checksum) != 0) {
            fprintf (stderr,
                     "ferryctl migrate: %s was changed after it was "
                     "applied (checksum %.12s, applied %.12s): migrations "
                     "are forward only; add a new file instead\n",
                     migration->file, migration->checksum, migration->recorded);
            problems++;
        }
        if (!migration->applied_at && migration->version < newest) {
            fprintf (stderr,
                     "ferryctl migrate: %s is older than the applied "
                     "version %04d and was never applied\n",
                     migration->file, newest);
            problems++;
        }
    }
    return problems;
}

//  Apply one file and record it, in one transaction.
static int
s_apply (s_migrate_t *self, s_migration_t *migration)
{
    char *text = s_read (self, migration);
    if (!text)
        return -1;
    int64_t started = fy_clock_mono_ms ();
    int rc = s_exec (self->conn, "BEGIN", "BEGIN");
    if (rc == 0)
        rc = s_exec (self->conn, text, migration->file);
    free (text);
    if (rc == 0) {
        char version [16];
        snprintf (version, sizeof version, "%d", migration->version);
        const char *values [] = { version, migration->name,
                                  migration->checksum };
        PGresult *res = PQexecParams (
            self->conn,
            "INSERT INTO public.schema_migrations (version, name, checksum) "
            "VALUES ($1::int, $2, $3)",
            3, NULL, values, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            s_pg_error ("schema_migrations", PQresultErrorMessage (res));
            rc = -1;
        }
        PQclear (res);
    }
    if (rc == 0)
        rc = s_exec (self->conn, "COMMIT", migration->file);
    if (rc) {
        PQclear (PQexec (self->conn, "ROLLBACK"));
        fprintf (stderr, "ferryctl migrate: %s failed and was rolled back\n",
                 migration->file);
        return -1;
    }
    printf ("applied  %s  (%lld ms)\n", migration->file,
            (long long) (fy_clock_mono_ms () - started));
    return 0;
}

//  Create the audit partitions ahead, once audit.ensure_partitions exists.
static int
s_partitions (s_migrate_t *self, int64_t ahead, bool dry_run)
{
    PGresult *res = PQexec (
        self->conn,
        "SELECT to_regprocedure('audit.ensure_partitions(date, integer)') "
        "IS NOT NULL");
    bool exists = PQresultStatus (res) == PGRES_TUPLES_OK
                  && strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    if (!exists || dry_run) {
        if (dry_run)
            printf ("would ensure audit partitions for this month and %lld "
                    "ahead\n",
                    (long long) ahead);
        return 0;
    }
    char months [24];
    snprintf (months, sizeof months, "%lld", (long long) ahead + 1);
    const char *values [] = { months };
    res = PQexecParams (
        self->conn,
        "SELECT audit.ensure_partitions((now() AT TIME ZONE 'UTC')::date, "
        "$1::int)",
        1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        s_pg_error ("partitions", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    printf ("partitions: %s created (this month and %lld ahead)\n",
            PQgetvalue (res, 0, 0), (long long) ahead);
    PQclear (res);
    return 0;
}

static void
s_status (s_migrate_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        s_migration_t *migration = &self->list [i];
        if (!migration->applied_at)
            printf ("pending  %s\n", migration->file);
        else
            printf ("applied  %s  %s%s\n", migration->file,
                    migration->applied_at,
                    strcmp (migration->recorded, migration->checksum)
                        ? "  CHANGED since applied"
                        : "");
    }
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: ferryctl migrate [--dry-run] [--dir DIR]\n"
                     "       ferryctl migrate status [--dir DIR]\n");
    return FERRYCTL_USAGE;
}

int
ferryctl_migrate (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "dry-run", no_argument, NULL, 'n' },
        { "dir", required_argument, NULL, 'd' },
        { .name = NULL }
    };
    bool dry_run = false, status = false;
    s_migrate_t self = { .dir =
                             fy_cfg_str (ctl->cfg, "store", "migrations_dir") };
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt == 'n')
            dry_run = true;
        else if (opt == 'd')
            self.dir = optarg;
        else
            return s_usage ();
    }
    if (optind < ctl->argc && strcmp (ctl->argv [optind], "status") == 0) {
        status = true;
        optind++;
    }
    if (optind < ctl->argc || (status && dry_run))
        return s_usage ();
    const char *url = fy_cfg_str (ctl->cfg, "store", "database_url");
    if (!url || !*url) {
        fprintf (stderr, "ferryctl migrate: store.database_url is not set "
                         "(DATABASE_URL or FERRY_STORE_DATABASE_URL)\n");
        return FERRYCTL_FAILED;
    }
    char timeout [24];
    snprintf (timeout, sizeof timeout, "%lld",
              (long long) fy_cfg_int (ctl->cfg, "store", "connect_timeout_s"));
    int rc = FERRYCTL_FAILED;
    if (s_scan (&self))
        goto out;
    const char *keys [] = { "connect_timeout", "application_name", "dbname",
                            NULL };
    const char *values [] = { timeout, "ferryctl-migrate", url, NULL };
    self.conn = PQconnectdbParams (keys, values, 1);
    if (PQstatus (self.conn) != CONNECTION_OK) {
        s_pg_error ("connect", PQerrorMessage (self.conn));
        goto out;
    }
    //  Quiet the NOTICEs of CREATE ... IF NOT EXISTS.
    if (s_exec (self.conn, "SET client_min_messages = warning", "settings"))
        goto out;
    //  Only a real run needs the lock and the table; a dry run or status
    //  changes nothing and must work on a database it may not write.
    if (!status && !dry_run
        && (s_exec (self.conn, "SELECT pg_advisory_lock(" S_LOCK_KEY ")",
                    "advisory lock")
            || s_exec (self.conn,
                       "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                       "version integer PRIMARY KEY, name text NOT NULL, "
                       "checksum text NOT NULL, applied_at timestamptz NOT "
                       "NULL DEFAULT now())",
                       "schema_migrations")))
        goto out;
    if (s_checksums (&self) || s_applied (&self))
        goto out;
    if (status) {
        s_status (&self);
        rc = s_problems (&self) ? FERRYCTL_FAILED : FERRYCTL_OK;
        goto out;
    }
    if (s_problems (&self))
        goto out;
    size_t pending = 0;
    for (size_t i = 0; i < self.count; i++) {
        s_migration_t *migration = &self.list [i];
        if (migration->applied_at)
            continue;
        pending++;
        if (dry_run)
            printf ("would apply  %s\n", migration->file);
        else if (s_apply (&self, migration))
            goto out;
    }
    if (pending == 0)
        printf ("schema is up to date (version %04d)\n",
                self.count ? self.list [self.count - 1].version : 0);
    if (s_partitions (&self, fy_cfg_int (ctl->cfg, "store", "partitions_ahead"),
                      dry_run))
        goto out;
    rc = FERRYCTL_OK;
out:
    //  Closing the session releases the advisory lock.
    if (self.conn)
        PQfinish (self.conn);
    for (size_t i = 0; i < self.count; i++) {
        free (self.list [i].name);
        free (self.list [i].file);
        free (self.list [i].checksum);
        free (self.list [i].applied_at);
        free (self.list [i].recorded);
    }
    free (self.list);
    return rc;
}
