/* The pool's corners, for tests/integration/test_pg_pool.py: a failing
 * statement in a pipeline, the transaction helper, and a connection given
 * back in the middle of a transaction, a statement past its timeout. One connection (pool size 1), so
 * that every request gets the connection the one before gave back.
 * Setting: pgprobe.conninfo. Table: pgprobe(n int). */
#include <uwsgi-aio/aio.h>
#include <uwsgi-aio/aio_pg.h>

#include <stdio.h>
#include <string.h>

static aio_pg_pool *pool;

/* GET /pg/pipeline?n=N&bad=K: N statements in one pipeline, the K-th
 * failing; answers each result's status, then what the same connection
 * answers next. */
static int pipeline(aio_request *req)
{
    long n = aio_param_long(req, "n", 5), bad = aio_param_long(req, "bad", 0);
    if (n < 1 || n > 50)
        return aio_respond_text(req, 400, "n must be 1..50\n");
    aio_pg_stmt stmts[50];
    PGresult *results[50];
    static const char *const one[] = {"1"};
    for (long i = 0; i < n; i++)
        stmts[i] = (aio_pg_stmt){.sql = i + 1 == bad ? "SELECT 1/0" : "SELECT $1::int",
                                 .nparams = i + 1 == bad ? 0 : 1, .params = one};
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, pool, &conn);
    if (rc != AIO_OK)
        return rc;
    rc = aio_pg_pipeline(req, conn, stmts, (int)n, results);
    aio_printf(req, "rc=%d", rc);
    for (long i = 0; i < n; i++)
        aio_printf(req, " %s", PQresStatus(PQresultStatus(results[i])));
    PGresult *after;
    rc = aio_pg_exec(req, conn, &(aio_pg_stmt){.sql = "SELECT 42"}, &after);
    aio_printf(req, "\nafter: %s\n", rc == AIO_OK ? PQgetvalue(after, 0, 0) : aio_strerror(rc));
    aio_pg_release(req, conn);
    return AIO_OK;
}

static int insert_then(aio_request *req, aio_pg_conn *conn, void *arg)
{
    PGresult *res;
    int rc = aio_pg_exec(req, conn, &(aio_pg_stmt){.sql = "INSERT INTO pgprobe VALUES (1)"}, &res);
    return rc == AIO_OK ? *(int *)arg : rc;
}

static int count_rows(aio_request *req)
{
    PGresult *res;
    int rc = aio_pg_query(req, pool, &res, "SELECT count(*) FROM pgprobe", 0);
    return rc == AIO_OK ? aio_printf(req, "rows: %s\n", PQgetvalue(res, 0, 0)) : rc;
}

/* GET /pg/tx?fail=0|1: a transaction that inserts a row, then fails or
 * not; answers its status and the rows then. */
static int tx(aio_request *req)
{
    int outcome = aio_param_long(req, "fail", 0) ? AIO_ERROR : AIO_OK;
    int rc = aio_pg_transaction(req, pool, insert_then, &outcome);
    aio_printf(req, "rc=%d\n", rc);
    return count_rows(req);
}

/* GET /pg/abandon: BEGIN and an INSERT, then the connection given back
 * without COMMIT: the pool rolls it back. */
static int abandon(aio_request *req)
{
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, pool, &conn);
    PGresult *res;
    if (rc == AIO_OK)
        rc = aio_pg_exec(req, conn, &(aio_pg_stmt){.sql = "BEGIN"}, &res);
    if (rc == AIO_OK)
        rc = aio_pg_exec(req, conn, &(aio_pg_stmt){.sql = "INSERT INTO pgprobe VALUES (2)"},
                         &res);
    aio_pg_release(req, conn);
    return rc == AIO_OK ? aio_printf(req, "abandoned\n") : rc;
}

/* GET /pg/rows */
static int rows(aio_request *req)
{
    return count_rows(req);
}

/* GET /pg/sleep?s=S: past the pool's query timeout (500 ms) the view
 * fails with AIO_ETIMEDOUT, and the statement is cancelled. */
static int sleep_view(aio_request *req)
{
    PGresult *res;
    const char *s = aio_param(req, "s");
    return aio_pg_query(req, pool, &res, "SELECT pg_sleep($1::float8)", 1, s ? s : "0");
}

/* GET /pg/raise?code=XXXXX: a statement that fails with that SQLSTATE
 * (five letters or digits); the view returns what the pool says. */
static int raise_view(aio_request *req)
{
    const char *code = aio_param(req, "code");
    if (!code || strlen(code) != 5 || strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
        return aio_respond_text(req, 400, "code must be a SQLSTATE\n");
    char sql[160];
    snprintf(sql, sizeof(sql),
             "DO $$ BEGIN RAISE EXCEPTION 'raised %s' USING ERRCODE = '%s'; END $$", code, code);
    PGresult *res;
    return aio_pg_query(req, pool, &res, sql, 0);
}

/* GET /pg/bad: a statement PostgreSQL refuses: the view fails with it. */
static int bad(aio_request *req)
{
    PGresult *res;
    return aio_pg_query(req, pool, &res, "SELEC nothing", 0);
}

int aio_main(aio_config *cfg)
{
    pool = aio_pg_pool_new(cfg, "pgprobe", &(struct aio_pg_options){
        .conninfo = aio_config_setting(cfg, "pgprobe.conninfo"), .size = 1,
        .query_timeout_ms = 500});
    if (!pool)
        return AIO_EINVAL;
    aio_add_route(cfg, "pipeline", "/pg/pipeline");
    aio_add_route(cfg, "tx", "/pg/tx");
    aio_add_route(cfg, "abandon", "/pg/abandon");
    aio_add_route(cfg, "rows", "/pg/rows");
    aio_add_route(cfg, "bad", "/pg/bad");
    aio_add_route(cfg, "sleep", "/pg/sleep");
    aio_add_route(cfg, "raise", "/pg/raise");
    aio_add_view(cfg, "raise", raise_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "sleep", sleep_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "pipeline", pipeline, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "tx", tx, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "abandon", abandon, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "rows", rows, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "bad", bad, AIO_COROUTINE | AIO_GET);
    return AIO_OK;
}
