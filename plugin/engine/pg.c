/* pg.c - PostgreSQL connections on the loop, and the worker's pools of
 * them (see pg.h for what the pool promises). libpq does the protocol;
 * this file only decides when to call it: after the loop says the socket
 * is ready, never blocking the loop. */
#include "engine/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define conn_of(io) ((struct aio_pg_conn *)(void *)((char *)(io) - offsetof(struct aio_pg_conn, io)))

/* A task waiting for a connection of a full pool. */
struct pg_waiter {
    struct aio_list node;
    struct aio_task *task;
    struct aio_pg_conn *given; /* handed over by aio__pg_release() */
};

static void on_socket_event(struct aio_conn *io, int status, int events);
static void drain_step(struct aio_pg_conn *conn);

static const struct aio_conn_ops pg_socket_ops = {
    .event = on_socket_event,
};

/* libpq's last error, copied into the pool (the connection may be gone
 * when it is read), without its newline. */
static const char *pg_error(struct aio_pg_conn *conn)
{
    const char *msg = PQerrorMessage(conn->pg);
    char *copy = conn->pool->error;
    snprintf(copy, sizeof(conn->pool->error), "%s", msg && *msg ? msg : "connection lost");
    size_t len = strlen(copy);
    while (len && (copy[len - 1] == '\n' || copy[len - 1] == ' '))
        copy[--len] = '\0';
    return copy;
}

/* ---- closing ------------------------------------------------------------------ */

static void free_conn(struct aio_pg_conn *conn)
{
    aio__conn_unwatch(&conn->io); /* before libpq closes the fd */
    PQfinish(conn->pg);
    if (conn->drain_timer)
        uv_close((uv_handle_t *)conn->drain_timer, aio__free_handle);
    free(conn);
}

/* Closes a connection the pool counted; its place may be taken by a new
 * one, so the first waiter (if any) is told to try. */
static void pass_place(struct aio_pg_pool *pool)
{
    struct aio_list *first = aio__list_first(&pool->waiters);
    if (!first)
        return;
    struct pg_waiter *waiter = aio__list_entry(first, struct pg_waiter, node);
    aio__list_remove(&waiter->node);
    aio__task_wake_soon(waiter->task, AIO_OK);
}

static void close_conn(struct aio_pg_conn *conn)
{
    struct aio_pg_pool *pool = conn->pool;
    aio__list_remove(&conn->node);
    pool->open--;
    if (conn->cancelling) { /* the thread still uses conn->cancel: free it after */
        conn->close_after_cancel = 1;
        aio__conn_unwatch(&conn->io);
        if (conn->drain_timer)
            uv_timer_stop(conn->drain_timer);
    } else {
        free_conn(conn);
    }
    pass_place(pool);
}

/* ---- waiting on the socket ---------------------------------------------------------- */

static int64_t ms_left(uint64_t end_ms)
{
    uv_update_time(&aio__engine.loop);
    return (int64_t)(end_ms - aio__loop_ms());
}

/* Parks `task` until the socket is ready for `uv_events`. AIO_OK, or why
 * not (AIO_ETIMEDOUT at end_ms, AIO_ECANCELLED ...). */
static int wait_socket(struct aio_task *task, struct aio_pg_conn *conn, int uv_events,
                       uint64_t end_ms)
{
    int64_t left = ms_left(end_ms);
    if (left <= 0)
        return AIO_ETIMEDOUT;
    int rc = aio__conn_watch(&conn->io, uv_events);
    if (rc != AIO_OK)
        return rc;
    conn->waiter = task;
    rc = aio__task_park(task, left > INT32_MAX ? INT32_MAX : (int)left);
    conn->waiter = NULL;
    return rc > 0 ? AIO_OK : rc;
}

static void on_socket_event(struct aio_conn *io, int status, int events)
{
    struct aio_pg_conn *conn = conn_of(io);
    (void)events;
    if (conn->waiter) {
        /* ready, or in error: libpq's next call tells which */
        aio__task_wake(conn->waiter, 1);
        return;
    }
    switch (conn->state) {
    case AIO_PG_IDLE:
        /* The server closed it (a restart, an administrator), or a notice. */
        if (status < 0 || !PQconsumeInput(conn->pg) || PQstatus(conn->pg) != CONNECTION_OK) {
            aio__log("PostgreSQL pool '%s': an idle connection was closed: %s",
                     conn->pool->name, pg_error(conn));
            conn->pool->closed_broken++;
            close_conn(conn);
            return;
        }
        PGnotify *notify;
        while ((notify = PQnotifies(conn->pg)) != NULL)
            PQfreemem(notify);
        return;
    case AIO_PG_DRAINING:
        drain_step(conn);
        return;
    default:
        aio__conn_watch(io, 0); /* nobody waits: level-triggered events would spin */
    }
}

/* ---- opening ----------------------------------------------------------------------- */

static int connect_failed(struct aio_task *task, struct aio_pg_conn *conn, int rc,
                          const char **why)
{
    struct aio_pg_pool *pool = conn->pool;
    if (rc == AIO_ETIMEDOUT && aio__task_past_deadline(task))
        return rc; /* the request's own deadline, not the server's fault */
    if (rc == AIO_ETIMEDOUT)
        *why = "connecting timed out";
    else if (rc == AIO_EUNAVAILABLE)
        *why = pg_error(conn);
    if ((rc == AIO_EUNAVAILABLE || rc == AIO_ETIMEDOUT) && !pool->down) {
        aio__log("PostgreSQL pool '%s': cannot connect: %s", pool->name, *why);
        pool->down = 1;
    }
    return rc == AIO_ETIMEDOUT ? AIO_EUNAVAILABLE : rc;
}

/* Sends one statement (the caller flushes). */
static int send_statement(struct aio_pg_conn *conn, const struct aio_pg_statement *st)
{
    int sent = st->prepared
                   ? PQsendQueryPrepared(conn->pg, st->prepared, st->nparams, st->params, NULL,
                                         NULL, 0)
                   : PQsendQueryParams(conn->pg, st->sql, st->nparams, NULL, st->params, NULL,
                                       NULL, 0);
    return sent ? AIO_OK : AIO_ERROR;
}

/* Flushes what libpq buffered. While the server's answers come in, they
 * are read too, so that neither side waits for the other. */
static int flush(struct aio_task *task, struct aio_pg_conn *conn, uint64_t end_ms)
{
    int rc, left;
    while ((left = PQflush(conn->pg)) == 1) {
        if ((rc = wait_socket(task, conn, UV_READABLE | UV_WRITABLE, end_ms)) != AIO_OK)
            return rc;
        if (!PQconsumeInput(conn->pg))
            return AIO_EUNAVAILABLE;
    }
    return left == 0 ? AIO_OK : AIO_EUNAVAILABLE;
}

/* The next result (NULL: the current statement's results are over). */
static int next_result(struct aio_task *task, struct aio_pg_conn *conn, uint64_t end_ms,
                       PGresult **result)
{
    int rc;
    while (PQisBusy(conn->pg)) {
        if ((rc = wait_socket(task, conn, UV_READABLE, end_ms)) != AIO_OK)
            return rc;
        if (!PQconsumeInput(conn->pg))
            return AIO_EUNAVAILABLE;
    }
    *result = PQgetResult(conn->pg);
    return AIO_OK;
}

/* The first result of the current statement; the others are dropped. */
static int statement_result(struct aio_task *task, struct aio_pg_conn *conn, uint64_t end_ms,
                            PGresult **first)
{
    for (;;) {
        PGresult *res;
        int rc = next_result(task, conn, end_ms, &res);
        if (rc != AIO_OK || !res)
            return rc;
        if (!*first)
            *first = res;
        else
            PQclear(res);
    }
}

static int read_all(struct aio_task *task, struct aio_pg_conn *conn, int n, PGresult **results,
                    uint64_t end_ms);

/* n > 1 statements go in one pipeline, which one sync ends. */
static int begin_batch(struct aio_pg_conn *conn, int n)
{
    return n > 1 && !PQenterPipelineMode(conn->pg) ? AIO_ERROR : AIO_OK;
}

static int end_batch(struct aio_pg_conn *conn, int n)
{
    if (n > 1) {
        if (!PQpipelineSync(conn->pg))
            return AIO_ERROR;
        conn->syncs++;
    }
    return AIO_OK;
}

/* Prepares the pool's statements, in one batch. */
static int prepare_statements(struct aio_task *task, struct aio_pg_conn *conn, uint64_t end_ms,
                              const char **why)
{
    struct aio_pg_pool *pool = conn->pool;
    int n = pool->nprepared;
    if (!n)
        return AIO_OK;
    PGresult **results = calloc((size_t)n, sizeof(*results));
    if (!results)
        return AIO_ENOMEM;
    int rc = begin_batch(conn, n);
    for (int i = 0; rc == AIO_OK && i < n; i++)
        if (!PQsendPrepare(conn->pg, pool->prepared[i].name, pool->prepared[i].sql, 0, NULL))
            rc = AIO_ERROR;
    if (rc == AIO_OK)
        rc = end_batch(conn, n);
    rc = rc == AIO_OK ? flush(task, conn, end_ms) : AIO_EUNAVAILABLE;
    if (rc == AIO_OK)
        rc = read_all(task, conn, n, results, end_ms);
    for (int i = 0; i < n; i++) {
        if (rc == AIO_OK && PQresultStatus(results[i]) != PGRES_COMMAND_OK) {
            aio__log("PostgreSQL pool '%s': cannot prepare '%s': %s", pool->name,
                     pool->prepared[i].name,
                     results[i] ? PQresultErrorMessage(results[i]) : "no answer");
            *why = "a statement of the pool cannot be prepared";
            rc = AIO_ERROR;
        }
        PQclear(results[i]);
    }
    free(results);
    return rc;
}

/* Opens a connection (the pool counted it already). */
static int open_conn(struct aio_task *task, struct aio_pg_pool *pool, struct aio_pg_conn **out,
                     const char **why)
{
    struct aio_pg_conn *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return AIO_ENOMEM;
    conn->pool = pool;
    conn->state = AIO_PG_CONNECTING;
    conn->io.ops = &pg_socket_ops;
    aio__list_init(&conn->node);
    conn->pg = PQconnectStart(pool->conninfo);
    uint64_t end_ms = aio__loop_ms() + (uint64_t)pool->connect_timeout_ms;
    int rc = conn->pg && PQstatus(conn->pg) != CONNECTION_BAD ? AIO_OK : AIO_EUNAVAILABLE;
    PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
    conn->io.fd = rc == AIO_OK ? PQsocket(conn->pg) : -1;
    if (conn->io.fd < 0)
        rc = AIO_EUNAVAILABLE;
    while (rc == AIO_OK && polling != PGRES_POLLING_OK) {
        if (polling == PGRES_POLLING_FAILED) {
            rc = AIO_EUNAVAILABLE;
            break;
        }
        if (PQsocket(conn->pg) != conn->io.fd) { /* libpq tries the next address */
            aio__conn_unwatch(&conn->io);
            conn->io.fd = PQsocket(conn->pg);
        }
        rc = wait_socket(task, conn, polling == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE,
                         end_ms);
        if (rc == AIO_OK)
            polling = PQconnectPoll(conn->pg);
    }
    if (rc == AIO_OK && PQsetnonblocking(conn->pg, 1) != 0)
        rc = AIO_EUNAVAILABLE;
    if (rc == AIO_OK)
        rc = prepare_statements(task, conn, end_ms, why);
    if (rc != AIO_OK) {
        if (rc != AIO_ERROR)
            rc = connect_failed(task, conn, rc, why);
        else
            rc = AIO_EUNAVAILABLE;
        free_conn(conn);
        return rc;
    }
    if (pool->down)
        aio__log("PostgreSQL pool '%s': connected again", pool->name);
    pool->down = 0;
    pool->opened++;
    conn->state = AIO_PG_HELD;
    *out = conn;
    return AIO_OK;
}

/* ---- taking and giving back ------------------------------------------------------- */

static struct aio_pg_conn *take_idle(struct aio_pg_pool *pool)
{
    struct aio_list *first = aio__list_first(&pool->idle);
    if (!first)
        return NULL;
    struct aio_pg_conn *conn = aio__list_entry(first, struct aio_pg_conn, node);
    aio__list_remove(&conn->node);
    conn->state = AIO_PG_HELD;
    return conn;
}

int aio__pg_acquire(struct aio_task *task, struct aio_pg_pool *pool, struct aio_pg_conn **out,
                    const char **why)
{
    uv_update_time(&aio__engine.loop);
    uint64_t end_ms = aio__loop_ms() + (uint64_t)pool->acquire_timeout_ms;
    *why = NULL;
    for (;;) {
        if ((*out = take_idle(pool)) != NULL)
            return AIO_OK;
        if (pool->open < pool->size) {
            pool->open++;
            int rc = open_conn(task, pool, out, why);
            if (rc != AIO_OK) {
                pool->open--;
                pass_place(pool);
            }
            return rc;
        }
        int64_t left = ms_left(end_ms);
        int rc = AIO_ETIMEDOUT;
        struct pg_waiter waiter = {.task = task};
        if (left > 0) {
            aio__list_append(&pool->waiters, &waiter.node);
            pool->nwaiting++;
            rc = aio__task_park(task, left > INT32_MAX ? INT32_MAX : (int)left);
            pool->nwaiting--;
            if (!waiter.given)
                aio__list_remove(&waiter.node); /* still linked unless handed something */
        }
        if (waiter.given && rc == AIO_OK) {
            *out = waiter.given;
            return AIO_OK;
        }
        if (waiter.given) /* it came too late: the next one gets it */
            aio__pg_release(waiter.given);
        if (rc == AIO_ETIMEDOUT && !aio__task_past_deadline(task)) {
            pool->acquire_timeouts++;
            *why = "no connection of the pool came free in time";
            return AIO_EFULL;
        }
        if (rc != AIO_OK)
            return rc;
        /* a place came free: try again */
    }
}

/* An idle connection, or the first waiter's. */
static void give_back(struct aio_pg_conn *conn)
{
    struct aio_pg_pool *pool = conn->pool;
    struct aio_list *first = aio__list_first(&pool->waiters);
    conn->unanswered = conn->rolled_back = 0;
    if (first) {
        struct pg_waiter *waiter = aio__list_entry(first, struct pg_waiter, node);
        aio__list_remove(&waiter->node);
        waiter->given = conn;
        conn->state = AIO_PG_HELD;
        aio__task_wake_soon(waiter->task, AIO_OK);
        return;
    }
    conn->state = AIO_PG_IDLE;
    aio__list_append(&pool->idle, &conn->node); /* FIFO: every connection stays warm */
    if (aio__conn_watch(&conn->io, UV_READABLE) != AIO_OK)
        close_conn(conn);
}

/* ---- draining ---------------------------------------------------------------------- */

static void do_cancel(uv_work_t *work)
{
    struct aio_pg_conn *conn = work->data;
    char error[256];
    PQcancel(conn->cancel, error, sizeof(error)); /* failing: the drain's deadline decides */
}

static void on_cancelled(uv_work_t *work, int status)
{
    struct aio_pg_conn *conn = work->data;
    (void)status;
    PQfreeCancel(conn->cancel);
    conn->cancel = NULL;
    conn->cancelling = 0;
    if (conn->close_after_cancel)
        free_conn(conn);
    else
        drain_step(conn);
}

static void on_drain_timeout(uv_timer_t *timer)
{
    struct aio_pg_conn *conn = timer->data;
    aio__log("PostgreSQL pool '%s': an abandoned statement was not over within %d ms: "
             "connection closed", conn->pool->name, conn->pool->connect_timeout_ms);
    close_conn(conn);
}

/* The connection is quiet: give it back, or roll back what was left open
 * (its answer comes to drain_step() again). */
static void drained(struct aio_pg_conn *conn)
{
    if (conn->cancelling)
        return; /* a cancel arriving later would hit the next statement */
    switch (PQtransactionStatus(conn->pg)) {
    case PQTRANS_IDLE:
        uv_timer_stop(conn->drain_timer);
        aio__list_remove(&conn->node);
        conn->pool->drained++;
        give_back(conn);
        return;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        if (!conn->rolled_back && PQsendQuery(conn->pg, "ROLLBACK") && PQflush(conn->pg) == 0) {
            conn->rolled_back = 1;
            return;
        }
        close_conn(conn); /* it cannot be rolled back */
        return;
    default:
        close_conn(conn);
    }
}

static void drain_step(struct aio_pg_conn *conn)
{
    if (conn->cancelling && conn->close_after_cancel)
        return;
    if (!PQconsumeInput(conn->pg)) {
        close_conn(conn);
        return;
    }
    while (!PQisBusy(conn->pg)) {
        PGresult *res = PQgetResult(conn->pg);
        if (res) {
            if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
                conn->syncs--;
            PQclear(res);
            continue;
        }
        if (PQpipelineStatus(conn->pg) != PQ_PIPELINE_OFF) {
            if (conn->syncs > 0)
                continue; /* between two statements of the pipeline */
            if (!PQexitPipelineMode(conn->pg)) {
                close_conn(conn);
                return;
            }
        }
        drained(conn);
        return;
    }
}

static void start_drain(struct aio_pg_conn *conn)
{
    struct aio_pg_pool *pool = conn->pool;
    conn->state = AIO_PG_DRAINING;
    aio__list_append(&pool->draining, &conn->node);
    if (!conn->drain_timer) {
        conn->drain_timer = malloc(sizeof(*conn->drain_timer));
        if (!conn->drain_timer) {
            close_conn(conn);
            return;
        }
        uv_timer_init(&aio__engine.loop, conn->drain_timer);
        conn->drain_timer->data = conn;
    }
    uv_timer_start(conn->drain_timer, on_drain_timeout, (uint64_t)pool->connect_timeout_ms, 0);
    if (conn->unanswered && PQisBusy(conn->pg)) {
        conn->cancel = PQgetCancel(conn->pg);
        conn->cancel_work.data = conn;
        if (conn->cancel &&
            uv_queue_work(&aio__engine.loop, &conn->cancel_work, do_cancel, on_cancelled) == 0)
            conn->cancelling = 1;
        else if (conn->cancel) {
            PQfreeCancel(conn->cancel);
            conn->cancel = NULL;
        }
    }
    if (aio__conn_watch(&conn->io, UV_READABLE) != AIO_OK) {
        close_conn(conn);
        return;
    }
    drain_step(conn);
}

void aio__pg_release(struct aio_pg_conn *conn)
{
    if (!conn)
        return;
    conn->holder = NULL;
    if (conn->broken || PQstatus(conn->pg) != CONNECTION_OK) {
        conn->pool->closed_broken++;
        close_conn(conn);
    } else if (conn->unanswered || PQtransactionStatus(conn->pg) != PQTRANS_IDLE ||
               PQpipelineStatus(conn->pg) != PQ_PIPELINE_OFF) {
        start_drain(conn);
    } else {
        give_back(conn);
    }
}

/* ---- running statements ----------------------------------------------------------- */

static int send_all(struct aio_pg_conn *conn, const struct aio_pg_statement *statements, int n)
{
    int rc = begin_batch(conn, n);
    for (int i = 0; rc == AIO_OK && i < n; i++)
        rc = send_statement(conn, &statements[i]);
    return rc == AIO_OK ? end_batch(conn, n) : rc;
}

static int read_all(struct aio_task *task, struct aio_pg_conn *conn, int n, PGresult **results,
                    uint64_t end_ms)
{
    int rc = AIO_OK;
    for (int i = 0; rc == AIO_OK && i < n; i++)
        rc = statement_result(task, conn, end_ms, &results[i]);
    if (rc != AIO_OK || n == 1)
        return rc;
    PGresult *sync = NULL;
    if ((rc = next_result(task, conn, end_ms, &sync)) != AIO_OK)
        return rc;
    int synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced)
        return AIO_EUNAVAILABLE; /* out of step with the server */
    conn->syncs--;
    return PQexitPipelineMode(conn->pg) ? AIO_OK : AIO_EUNAVAILABLE;
}

int aio__pg_run(struct aio_task *task, struct aio_pg_conn *conn,
                const struct aio_pg_statement *statements, int n, PGresult **results,
                const char **why)
{
    uv_update_time(&aio__engine.loop);
    uint64_t end_ms = aio__loop_ms() + (uint64_t)conn->pool->query_timeout_ms;
    *why = NULL;
    for (int i = 0; i < n; i++)
        results[i] = NULL;
    if (conn->state != AIO_PG_HELD)
        return AIO_EINVAL;
    conn->unanswered = 1; /* until every answer is read */
    int rc = send_all(conn, statements, n);
    if (rc == AIO_OK)
        rc = flush(task, conn, end_ms);
    else
        rc = AIO_EUNAVAILABLE;
    if (rc == AIO_OK)
        rc = read_all(task, conn, n, results, end_ms);
    if (rc == AIO_OK)
        conn->unanswered = 0;
    if (rc == AIO_EUNAVAILABLE || PQstatus(conn->pg) != CONNECTION_OK) {
        conn->broken = 1;
        *why = pg_error(conn);
        rc = AIO_EUNAVAILABLE;
    } else if (rc == AIO_ETIMEDOUT && !aio__task_past_deadline(task)) {
        *why = "no answer within the pool's query timeout";
    }
    return rc;
}

/* ---- the pool's life --------------------------------------------------------------- */

void aio__pg_pool_init(struct aio_pg_pool *pool)
{
    pool->open = 0;
    pool->down = 0;
    aio__list_init(&pool->idle);
    aio__list_init(&pool->draining);
    aio__list_init(&pool->waiters);
}

void aio__pg_pool_close(struct aio_pg_pool *pool)
{
    struct aio_list *node;
    while ((node = aio__list_first(&pool->idle)) != NULL)
        close_conn(aio__list_entry(node, struct aio_pg_conn, node));
    while ((node = aio__list_first(&pool->draining)) != NULL)
        close_conn(aio__list_entry(node, struct aio_pg_conn, node));
}
