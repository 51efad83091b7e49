/* The seeds' DatabaseUtilities story, on a real PostgreSQL: the same query
 * made two ways.
 *
 *   GET /db/items/blocking?limit=N&delay=S
 *       A plain view (not a coroutine): the default mapper runs it in an
 *       executor thread, where blocking libpq calls are fine. Each executor
 *       thread keeps its own connection: a PGconn is never shared between
 *       threads.
 *   GET /db/items/async?limit=N&delay=S
 *       A coroutine view on the loop, through the framework's pool
 *       (aio_pg.h): the worker serves other requests while PostgreSQL
 *       works, and the pool keeps its connections.
 *   GET /db/items/sequential?limit=N and /db/items/pipelined?limit=N
 *       The same rows fetched one by one with a prepared statement, one
 *       round trip each or all in one pipeline.
 *
 * Both answer the rows of `SELECT id, name FROM items WHERE id <= limit`
 * (after pg_sleep(delay) on the server), one "id name" line each.
 * Setting: database.conninfo, a libpq connection string.
 */
#include <uwsgi-aio/aio.h>
#include <uwsgi-aio/aio_pg.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define QUERY "SELECT id, name FROM items, pg_sleep($2::float8) WHERE id <= $1::int ORDER BY id"

static const char *conninfo;

/* ---- the result, either way ------------------------------------------- */

static int render_rows(aio_request *req, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return aio_fail(req, "query failed: %s", PQresultErrorMessage(res));
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    for (int i = 0; i < PQntuples(res); i++)
        aio_printf(req, "%s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    return AIO_OK;
}

static void query_params(aio_request *req, char limit[24], char delay[24])
{
    snprintf(limit, 24, "%ld", aio_param_long(req, "limit", 10));
    snprintf(delay, 24, "%g", aio_param_double(req, "delay", 0.0));
}

/* ---- blocking, in the executor ------------------------------------------ */

static pthread_key_t thread_conn_key;

static void close_thread_conn(void *conn)
{
    PQfinish(conn);
}

/* The calling executor thread's connection (opened on first use). */
static PGconn *thread_conn(aio_request *req)
{
    PGconn *conn = pthread_getspecific(thread_conn_key);
    if (conn && PQstatus(conn) != CONNECTION_OK)
        PQreset(conn);
    if (!conn) {
        conn = PQconnectdb(conninfo);
        pthread_setspecific(thread_conn_key, conn);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        aio_fail(req, "cannot connect: %s", PQerrorMessage(conn));
        return NULL;
    }
    return conn;
}

static int items_blocking(aio_request *req)
{
    PGconn *conn = thread_conn(req);
    if (!conn)
        return AIO_ERROR;
    char limit[24], delay[24];
    query_params(req, limit, delay);
    const char *params[2] = {limit, delay};
    PGresult *res = PQexecParams(conn, QUERY, 2, NULL, params, NULL, NULL, 0);
    int rc = render_rows(req, res);
    PQclear(res);
    return rc;
}

/* ---- asynchronous, on the loop: the framework's pool ------------------------ */

/* The worker's connections, opened as needed (aio_pg.h). */
static aio_pg_pool *pool;

static int items_async(aio_request *req)
{
    char limit[24], delay[24];
    query_params(req, limit, delay);
    PGresult *res;
    int rc = aio_pg_query(req, pool, &res, QUERY, 2, limit, delay);
    return rc == AIO_OK ? render_rows(req, res) : rc; /* res is the request's */
}

/* The same rows by id, one statement each: sent one after the other
 * (a round trip each), or all at once in one pipeline (one round trip). */
static int items_by_id(aio_request *req, int pipelined)
{
    long limit = aio_param_long(req, "limit", 10);
    if (limit < 1 || limit > 100)
        return aio_respond_text(req, 400, "limit must be 1..100\n");
    aio_pg_stmt *stmts = aio_alloc(req, (size_t)limit * sizeof(*stmts));
    PGresult **results = aio_alloc(req, (size_t)limit * sizeof(*results));
    if (!stmts || !results)
        return AIO_ENOMEM;
    for (long i = 0; i < limit; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%ld", i + 1);
        const char **param = aio_alloc(req, sizeof(*param));
        if (!param || !(*param = aio_strdup(req, id)))
            return AIO_ENOMEM;
        stmts[i] = (aio_pg_stmt){.prepared = "item", .nparams = 1, .params = param};
    }
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, pool, &conn);
    if (pipelined && rc == AIO_OK)
        rc = aio_pg_pipeline(req, conn, stmts, (int)limit, results);
    for (long i = 0; !pipelined && rc == AIO_OK && i < limit; i++)
        rc = aio_pg_exec(req, conn, &stmts[i], &results[i]);
    aio_pg_release(req, conn);
    if (rc != AIO_OK)
        return rc;
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    for (long i = 0; i < limit; i++)
        for (int row = 0; row < PQntuples(results[i]); row++)
            aio_printf(req, "%s %s\n", PQgetvalue(results[i], row, 0),
                       PQgetvalue(results[i], row, 1));
    return AIO_OK;
}

static int items_sequential(aio_request *req)
{
    return items_by_id(req, 0);
}

static int items_pipelined(aio_request *req)
{
    return items_by_id(req, 1);
}

int aio_main(aio_config *cfg)
{
    conninfo = aio_config_setting(cfg, "database.conninfo");
    if (!conninfo)
        return aio_config_fail(cfg, "the setting database.conninfo (a libpq connection "
                                    "string) is missing");
    if (pthread_key_create(&thread_conn_key, close_thread_conn) != 0)
        return aio_config_fail(cfg, "pthread_key_create failed");
    /* 64 connections at most per worker: as many queries at once */
    pool = aio_pg_pool_new(cfg, "database",
                           &(struct aio_pg_options){.conninfo = conninfo, .size = 64});
    if (!pool || aio_pg_prepare(cfg, pool, "item", "SELECT id, name FROM items WHERE id = $1") !=
                     AIO_OK)
        return AIO_EINVAL;
    aio_add_route(cfg, "items_blocking", "/db/items/blocking");
    aio_add_route(cfg, "items_async", "/db/items/async");
    aio_add_route(cfg, "items_sequential", "/db/items/sequential");
    aio_add_route(cfg, "items_pipelined", "/db/items/pipelined");
    aio_add_view(cfg, "items_blocking", items_blocking, AIO_GET);
    aio_add_view(cfg, "items_async", items_async, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "items_sequential", items_sequential, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "items_pipelined", items_pipelined, AIO_COROUTINE | AIO_GET);
    return 0;
}
