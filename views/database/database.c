/* The seeds' DatabaseUtilities story, on a real PostgreSQL: the same query
 * made two ways.
 *
 *   GET /db/items/blocking?limit=N&delay=S
 *       A plain view (not a coroutine): the default mapper runs it in an
 *       executor thread, where blocking libpq calls are fine. Each executor
 *       thread keeps its own connection: a PGconn is never shared between
 *       threads.
 *   GET /db/items/async?limit=N&delay=S
 *       A coroutine view on the loop: libpq's asynchronous API, each wait
 *       awaited with aio_wait_fd(), so the worker serves other requests
 *       while PostgreSQL works. Connections are pooled on the loop thread.
 *
 * Both answer the rows of `SELECT id, name FROM items WHERE id <= limit`
 * (after pg_sleep(delay) on the server), one "id name" line each.
 * Setting: database.conninfo, a libpq connection string.
 */
#include <uwsgi-aio/aio.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define QUERY "SELECT id, name FROM items, pg_sleep($2::float8) WHERE id <= $1::int ORDER BY id"
#define POOL_MAX 32
#define WAIT_MS 30000

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

/* ---- asynchronous, on the loop ------------------------------------------- */

/* Idle connections; only the loop thread touches them (coroutine views). */
static PGconn *pool[POOL_MAX];
static int pooled;

/* Waits for libpq's socket. AIO_OK, or why not (cancelled, timed out). */
static int wait_socket(aio_request *req, PGconn *conn, int events)
{
    int rc = aio_wait_fd(req, PQsocket(conn), events, WAIT_MS);
    return rc > 0 ? AIO_OK : rc;
}

static PGconn *connect_async(aio_request *req, int *rc)
{
    PGconn *conn = PQconnectStart(conninfo);
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    *rc = conn && PQstatus(conn) != CONNECTION_BAD ? AIO_OK : AIO_ERROR;
    while (*rc == AIO_OK && poll != PGRES_POLLING_OK) {
        if (poll == PGRES_POLLING_FAILED) {
            *rc = AIO_ERROR;
            break;
        }
        *rc = wait_socket(req, conn, poll == PGRES_POLLING_READING ? AIO_READ : AIO_WRITE);
        if (*rc == AIO_OK)
            poll = PQconnectPoll(conn);
    }
    if (*rc == AIO_OK && PQsetnonblocking(conn, 1) != 0)
        *rc = AIO_ERROR;
    if (*rc != AIO_OK) {
        if (*rc == AIO_ERROR)
            aio_fail(req, "cannot connect: %s", conn ? PQerrorMessage(conn) : "out of memory");
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static PGconn *pool_take(aio_request *req, int *rc)
{
    while (pooled > 0) {
        PGconn *conn = pool[--pooled];
        if (PQstatus(conn) == CONNECTION_OK) {
            *rc = AIO_OK;
            return conn;
        }
        PQfinish(conn);
    }
    return connect_async(req, rc);
}

static void pool_give_back(PGconn *conn)
{
    if (pooled < POOL_MAX)
        pool[pooled++] = conn;
    else
        PQfinish(conn);
}

/* Sends the query and collects its single result without blocking. */
static int query_async(aio_request *req, PGconn *conn, PGresult **result)
{
    char limit[24], delay[24];
    query_params(req, limit, delay);
    const char *params[2] = {limit, delay};
    if (!PQsendQueryParams(conn, QUERY, 2, NULL, params, NULL, NULL, 0))
        return aio_fail(req, "cannot send the query: %s", PQerrorMessage(conn));
    int flushed, rc;
    while ((flushed = PQflush(conn)) == 1)
        if ((rc = wait_socket(req, conn, AIO_WRITE)) != AIO_OK)
            return rc;
    if (flushed < 0)
        return aio_fail(req, "cannot send the query: %s", PQerrorMessage(conn));
    for (;;) {
        while (PQisBusy(conn)) {
            if ((rc = wait_socket(req, conn, AIO_READ)) != AIO_OK)
                return rc;
            if (!PQconsumeInput(conn))
                return aio_fail(req, "connection lost: %s", PQerrorMessage(conn));
        }
        PGresult *res = PQgetResult(conn);
        if (!res)
            return AIO_OK; /* every result collected */
        if (*result)
            PQclear(res); /* only one statement: nothing more is expected */
        else
            *result = res;
    }
}

static int items_async(aio_request *req)
{
    int rc;
    PGconn *conn = pool_take(req, &rc);
    if (!conn)
        return rc;
    PGresult *res = NULL;
    rc = query_async(req, conn, &res);
    if (rc == AIO_OK)
        pool_give_back(conn);
    else /* a query may still be in flight: this connection is done */
        PQfinish(conn);
    if (rc == AIO_OK)
        rc = render_rows(req, res);
    PQclear(res);
    return rc;
}

int aio_main(aio_config *cfg)
{
    conninfo = aio_config_setting(cfg, "database.conninfo");
    if (!conninfo)
        return aio_config_fail(cfg, "the setting database.conninfo (a libpq connection "
                                    "string) is missing");
    if (pthread_key_create(&thread_conn_key, close_thread_conn) != 0)
        return aio_config_fail(cfg, "pthread_key_create failed");
    aio_add_route(cfg, "items_blocking", "/db/items/blocking");
    aio_add_route(cfg, "items_async", "/db/items/async");
    aio_add_view(cfg, "items_blocking", items_blocking, AIO_GET);
    aio_add_view(cfg, "items_async", items_async, AIO_COROUTINE | AIO_GET);
    return 0;
}
