/* pg.c - aio_pg.h: the PostgreSQL pools of view modules, on the engine's
 * connections (engine/pg.c). This file checks the configuration, ties
 * what a call gives to its request (results are cleared and a held
 * connection given back when the request is freed) and words failures
 * for the request's log line. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_pg.h>

#include "app/app.h"
#include "engine/pg.h"

#define DEFAULT_SIZE 20
#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_ACQUIRE_MS 5000
#define DEFAULT_QUERY_MS 30000
#define MAX_SIZE 1000
#define MAX_BATCH 10000

/* A held connection, as its request knows it. */
struct held {
    struct aio_pg_conn *conn; /* NULL once given back */
};

/* ---- configuration --------------------------------------------------------------- */

static int option_ms(aio_config *cfg, const char *name, int value, int fallback, int *out)
{
    if (value < 0)
        return aio_config_fail(cfg, "PostgreSQL pool: %s must be >= 0 (0: %d), not %d", name,
                               fallback, value);
    *out = value ? value : fallback;
    return AIO_OK;
}

/* The connection string must parse: its mistakes are start-up errors. */
static int check_conninfo(aio_config *cfg, const char *name, const char *conninfo)
{
    if (!conninfo || !*conninfo)
        return aio_config_fail(cfg, "PostgreSQL pool '%s': conninfo is missing", name);
    char *error = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &error);
    if (!parsed) {
        aio_config_fail(cfg, "PostgreSQL pool '%s': bad conninfo: %s", name,
                        error ? error : "out of memory");
        PQfreemem(error);
        return AIO_EINVAL;
    }
    PQconninfoFree(parsed);
    return AIO_OK;
}

static void free_pool(struct aio_pg_pool *pool)
{
    for (int i = 0; i < pool->nprepared; i++) {
        free(pool->prepared[i].name);
        free(pool->prepared[i].sql);
    }
    free(pool->prepared);
    free(pool->name);
    free(pool->conninfo);
    free(pool);
}

aio_pg_pool *aio_pg_pool_new(aio_config *cfg, const char *name,
                             const struct aio_pg_options *options)
{
    if (!cfg)
        return NULL;
    if (!name || !*name || !options) {
        aio_config_fail(cfg, "aio_pg_pool_new needs a name and options");
        return NULL;
    }
    if (check_conninfo(cfg, name, options->conninfo) != AIO_OK)
        return NULL;
    if (options->size < 0 || options->size > MAX_SIZE) {
        aio_config_fail(cfg, "PostgreSQL pool '%s': size must be 1..%d (0: %d), not %d", name,
                        MAX_SIZE, DEFAULT_SIZE, options->size);
        return NULL;
    }
    struct aio_pg_pool *pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->name = strdup(name)) || !(pool->conninfo = strdup(options->conninfo))) {
        if (pool)
            free_pool(pool);
        aio_config_fail(cfg, "out of memory");
        return NULL;
    }
    pool->size = options->size ? options->size : DEFAULT_SIZE;
    if (option_ms(cfg, "connect_timeout_ms", options->connect_timeout_ms, DEFAULT_CONNECT_MS,
                  &pool->connect_timeout_ms) != AIO_OK ||
        option_ms(cfg, "acquire_timeout_ms", options->acquire_timeout_ms, DEFAULT_ACQUIRE_MS,
                  &pool->acquire_timeout_ms) != AIO_OK ||
        option_ms(cfg, "query_timeout_ms", options->query_timeout_ms, DEFAULT_QUERY_MS,
                  &pool->query_timeout_ms) != AIO_OK) {
        free_pool(pool);
        return NULL;
    }
    aio__pg_pool_init(pool);
    aio__list_append(&aio__app.pg_pools, &pool->node);
    return pool;
}

int aio_pg_prepare(aio_config *cfg, aio_pg_pool *pool, const char *name, const char *sql)
{
    if (!cfg || !pool)
        return AIO_EINVAL;
    if (!name || !*name || !sql || !*sql)
        return aio_config_fail(cfg, "aio_pg_prepare needs a name and a statement");
    for (int i = 0; i < pool->nprepared; i++)
        if (strcmp(pool->prepared[i].name, name) == 0)
            return aio_config_fail(cfg, "PostgreSQL pool '%s': statement '%s' is prepared twice",
                                   pool->name, name);
    struct aio_pg_prepared *grown =
        realloc(pool->prepared, (size_t)(pool->nprepared + 1) * sizeof(*grown));
    if (!grown)
        return aio_config_fail(cfg, "out of memory");
    pool->prepared = grown;
    struct aio_pg_prepared *p = &pool->prepared[pool->nprepared];
    p->name = strdup(name);
    p->sql = strdup(sql);
    if (!p->name || !p->sql) {
        free(p->name);
        free(p->sql);
        return aio_config_fail(cfg, "out of memory");
    }
    pool->nprepared++;
    return AIO_OK;
}

void aio__pg_pools_close(void)
{
    for (struct aio_list *node = aio__list_first(&aio__app.pg_pools); node;
         node = aio__list_next(&aio__app.pg_pools, node))
        aio__pg_pool_close(aio__list_entry(node, struct aio_pg_pool, node));
}

void aio__pg_pools_counts(int64_t *open, int64_t *waiting)
{
    *open = *waiting = 0;
    for (struct aio_list *node = aio__list_first(&aio__app.pg_pools); node;
         node = aio__list_next(&aio__app.pg_pools, node)) {
        const struct aio_pg_pool *pool = aio__list_entry(node, struct aio_pg_pool, node);
        *open += pool->open;
        *waiting += pool->nwaiting;
    }
}

void aio__pg_pools_free(void)
{
    struct aio_list *node;
    while ((node = aio__list_first(&aio__app.pg_pools)) != NULL) {
        aio__list_remove(node);
        free_pool(aio__list_entry(node, struct aio_pg_pool, node));
    }
}

/* ---- failures, as the request's log line says them ---------------------------------- */

static int failed(aio_request *req, const struct aio_pg_pool *pool, int rc, const char *why)
{
    if (why)
        aio_fail(req, "PostgreSQL pool '%s': %s", pool->name, why);
    return rc;
}

/* ---- holding connections ------------------------------------------------------------- */

static void release_held(void *arg)
{
    struct held *held = arg;
    if (held->conn)
        aio__pg_release(held->conn);
    held->conn = NULL;
}

int aio_pg_acquire(aio_request *req, aio_pg_pool *pool, aio_pg_conn **conn)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!pool || !conn)
        return AIO_EINVAL;
    *conn = NULL;
    struct held *held = aio_alloc(req, sizeof(*held));
    if (!held)
        return AIO_ENOMEM;
    held->conn = NULL;
    if (aio__request_on_free(req, release_held, held) != AIO_OK)
        return AIO_ENOMEM;
    const char *why;
    int rc = aio__pg_acquire(task, pool, &held->conn, &why);
    if (rc != AIO_OK)
        return failed(req, pool, rc, why);
    held->conn->holder = held;
    *conn = held->conn;
    return AIO_OK;
}

void aio_pg_release(aio_request *req, aio_pg_conn *conn)
{
    (void)req;
    if (!conn)
        return;
    struct held *held = conn->holder;
    if (held)
        held->conn = NULL;
    aio__pg_release(conn);
}

/* ---- statements --------------------------------------------------------------------- */

static void clear_result(void *res)
{
    PQclear(res);
}

/* The server refused for a reason of its own, not the statement's: it is
 * shutting down or starting (SQLSTATE class 57P, operator intervention) or
 * the connection failed (class 08). The caller hears AIO_EUNAVAILABLE, as
 * when the connection breaks. */
static int server_unavailable(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0);
}

/* The request owns the results; the first error among them fails the call. */
static int own_results(aio_request *req, const struct aio_pg_pool *pool, PGresult **results,
                       int n, int rc)
{
    for (int i = 0; i < n; i++)
        if (results[i] && aio__request_on_free(req, clear_result, results[i]) != AIO_OK) {
            for (int j = i; j < n; j++) {
                PQclear(results[j]);
                results[j] = NULL;
            }
            return AIO_ENOMEM;
        }
    if (rc != AIO_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        ExecStatusType status = PQresultStatus(results[i]);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            continue;
        const char *message = results[i] ? PQresultErrorMessage(results[i]) : "";
        aio_fail(req, "PostgreSQL pool '%s': statement %d of %d failed: %.*s", pool->name, i + 1,
                 n, (int)strcspn(message, "\n"), *message ? message : PQresStatus(status));
        return server_unavailable(results[i]) ? AIO_EUNAVAILABLE : AIO_ERROR;
    }
    return AIO_OK;
}

static int valid_statement(const aio_pg_stmt *stmt)
{
    return stmt && (stmt->sql != NULL) != (stmt->prepared != NULL) && stmt->nparams >= 0 &&
           (stmt->nparams == 0 || stmt->params);
}

int aio_pg_pipeline(aio_request *req, aio_pg_conn *conn, const aio_pg_stmt *stmts, int n,
                    PGresult **results)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!conn || !results || n < 1 || n > MAX_BATCH)
        return AIO_EINVAL;
    struct aio_pg_statement *statements = aio_alloc(req, (size_t)n * sizeof(*statements));
    if (!statements)
        return AIO_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (!valid_statement(&stmts[i]))
            return AIO_EINVAL;
        statements[i] = (struct aio_pg_statement){stmts[i].sql, stmts[i].prepared,
                                                  stmts[i].nparams, stmts[i].params};
    }
    const char *why;
    int rc = aio__pg_run(task, conn, statements, n, results, &why);
    rc = own_results(req, conn->pool, results, n, rc);
    return rc == AIO_OK || rc == AIO_ERROR ? rc : failed(req, conn->pool, rc, why);
}

int aio_pg_exec(aio_request *req, aio_pg_conn *conn, const aio_pg_stmt *stmt, PGresult **result)
{
    if (!result)
        return AIO_EINVAL;
    *result = NULL;
    return aio_pg_pipeline(req, conn, stmt, 1, result);
}

int aio_pg_query(aio_request *req, aio_pg_pool *pool, PGresult **result, const char *sql,
                 int nparams, ...)
{
    if (!result || !sql || nparams < 0 || nparams > 65535)
        return AIO_EINVAL;
    *result = NULL;
    const char **params = aio_alloc(req, (size_t)(nparams ? nparams : 1) * sizeof(*params));
    if (!params)
        return AIO_ENOMEM;
    va_list ap;
    va_start(ap, nparams);
    for (int i = 0; i < nparams; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, pool, &conn);
    if (rc != AIO_OK)
        return rc;
    aio_pg_stmt stmt = {.sql = sql, .nparams = nparams, .params = params};
    rc = aio_pg_exec(req, conn, &stmt, result);
    aio_pg_release(req, conn);
    return rc;
}

static int run_simple(aio_request *req, aio_pg_conn *conn, const char *sql)
{
    PGresult *res;
    aio_pg_stmt stmt = {.sql = sql};
    return aio_pg_exec(req, conn, &stmt, &res);
}

int aio_pg_transaction(aio_request *req, aio_pg_pool *pool, aio_pg_transaction_fn fn, void *arg)
{
    if (!fn)
        return AIO_EINVAL;
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, pool, &conn);
    if (rc != AIO_OK)
        return rc;
    rc = run_simple(req, conn, "BEGIN");
    if (rc == AIO_OK)
        rc = fn(req, conn, arg);
    if (rc == AIO_OK)
        rc = run_simple(req, conn, "COMMIT");
    else if (!aio_is_cancelled(req))
        run_simple(req, conn, "ROLLBACK"); /* fn's failure is what the caller hears */
    /* Whatever is left open (a cancelled ROLLBACK) is rolled back as the
     * connection is drained. */
    aio_pg_release(req, conn);
    return rc;
}
