/*  pg.h: a scratch PostgreSQL database for one test run, made on the
    stack's server (DATABASE_URL) and dropped at the end, so tests never
    touch each other's tables. */
#ifndef FY_TEST_PG_H_INCLUDED
#define FY_TEST_PG_H_INCLUDED

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

typedef struct {
    PGconn *admin;              //  to the server's own database
    char name [64];
    char url [512];             //  DATABASE_URL with the scratch database
} tap_pg_t;

//  The tests that use the stack's PostgreSQL take turns under make -j:
//  fy_store.t and audit.sh restart the server, which would cut the
//  others' connections. The lock (on $FERRY_BUILDDIR/tests/postgres.lock,
//  shared with tests/pg_lock.sh) is held until the process exits.
static inline void
tap_pg_lock (void)
{
    const char *dir = getenv ("FERRY_BUILDDIR");
    char path [4096];
    snprintf (path, sizeof path, "%s/tests/postgres.lock",
              dir && *dir ? dir : ".");
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock (fd, LOCK_EX))
        BAIL_OUT ("cannot lock %s", path);
}

//  Create database <prefix>_<pid>, once this process holds the lock.
//  BAIL_OUT when the server is not there: in CI a missing service is a
//  failure.
static inline void
tap_pg_create (tap_pg_t *pg, const char *prefix)
{
    tap_pg_lock ();
    const char *admin_url = getenv ("DATABASE_URL");
    if (!admin_url || !*admin_url)
        BAIL_OUT ("DATABASE_URL is not set: start contrib/stack.sh and "
                  "eval its env");
    snprintf (pg->name, sizeof pg->name, "%s_%ld", prefix, (long) getpid ());
    pg->admin = PQconnectdb (admin_url);
    if (PQstatus (pg->admin) != CONNECTION_OK)
        BAIL_OUT ("cannot connect to DATABASE_URL: %s",
                  PQerrorMessage (pg->admin));
    //  template0: tests running in parallel connect to template1, which
    //  would make CREATE DATABASE from it fail.
    char *sql =
        fy_xasprintf ("CREATE DATABASE %s TEMPLATE template0", pg->name);
    PGresult *res = PQexec (pg->admin, sql);
    free (sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        BAIL_OUT ("create database: %s", PQerrorMessage (pg->admin));
    PQclear (res);
    //  The URL with the scratch database as its path.
    const char *slash = strrchr (admin_url, '/');
    snprintf (pg->url, sizeof pg->url, "%.*s/%s", (int) (slash - admin_url),
              admin_url, pg->name);
}

//  A connection of the test's own to the scratch database, to look at
//  what the code under test wrote.
static inline PGconn *
tap_pg_connect (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    if (PQstatus (conn) != CONNECTION_OK)
        BAIL_OUT ("scratch database: %s", PQerrorMessage (conn));
    return conn;
}

//  The number the query (one row, one column) gives on conn; bails out on
//  failure.
static inline long long
tap_pg_count (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        BAIL_OUT ("%s: %s", sql, PQerrorMessage (conn));
    long long n = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    return n;
}

//  Run the build's ferryctl with args (shell words), quietly; its exit
//  status, or -1 when it did not exit.
static inline int
tap_ferryctl (const char *args)
{
    char *command = fy_xasprintf ("'%s/tools/ferryctl' %s >/dev/null 2>&1",
                                  getenv ("FERRY_BUILDDIR"), args);
    int status = system (command);
    free (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  tap_pg_create, then the scratch database made DATABASE_URL and
//  migrated by the build's ferryctl (a test).
static inline void
tap_pg_migrated (tap_pg_t *pg, const char *prefix)
{
    tap_pg_create (pg, prefix);
    setenv ("DATABASE_URL", pg->url, 1);
    char *args = fy_xasprintf ("--set store.migrations_dir='%s/sql' migrate",
                               getenv ("FERRY_SRCDIR"));
    is_int (tap_ferryctl (args), 0, "ferryctl migrate on the scratch database");
    free (args);
}

//  Drop the scratch database (as a check) and disconnect.
static inline void
tap_pg_drop (tap_pg_t *pg)
{
    //  The server may have been restarted by the test since.
    PQreset (pg->admin);
    char *sql =
        fy_xasprintf ("DROP DATABASE IF EXISTS %s WITH (FORCE)", pg->name);
    PGresult *res = PQexec (pg->admin, sql);
    free (sql);
    ok (PQresultStatus (res) == PGRES_COMMAND_OK,
        "scratch database dropped%s%s",
        PQresultStatus (res) == PGRES_COMMAND_OK ? "" : ": ",
        PQresultStatus (res) == PGRES_COMMAND_OK ? ""
                                                 : PQerrorMessage (pg->admin));
    PQclear (res);
    PQfinish (pg->admin);
}

#endif
