/* pg.h - PostgreSQL connections driven by the worker's loop through
 * libpq's asynchronous API, and the pool a worker keeps of them.
 *
 * A task that needs a connection takes an idle one, opens one (while the
 * pool is below its size) or waits in turn for one to come back. While a
 * statement runs the task is parked (aio__task_park) and the connection's
 * socket, watched by the loop, wakes it. The pool's promise is that it
 * never hands out a dirty connection:
 *   - given back with a statement still unanswered (its task was
 *     cancelled or timed out), a connection is DRAINING: the statement is
 *     cancelled on the server (PQcancel, which blocks, runs in libuv's
 *     thread pool) and its answers are read and dropped on the loop; a
 *     transaction left open is rolled back the same way. Only then is it
 *     idle again; past connect_timeout_ms it is closed instead;
 *   - broken (its server went away), it is closed, and the pool's size
 *     lets a new one be opened;
 *   - idle, it is watched: the server closing it (a restart) closes it. */
#ifndef AIO_ENGINE_PG_H
#define AIO_ENGINE_PG_H

#include <libpq-fe.h>
#include <stdint.h>
#include <uv.h>

#include "base/list.h"
#include "engine/engine.h"

enum aio_pg_conn_state {
    AIO_PG_CONNECTING, /* its task opens it */
    AIO_PG_HELD,       /* a task holds it */
    AIO_PG_IDLE,       /* in the pool */
    AIO_PG_DRAINING,   /* an abandoned statement is cancelled and read to its end */
};

/* A statement every connection prepares as it opens. */
struct aio_pg_prepared {
    char *name;
    char *sql;
};

/* One statement to run (aio__pg_run). */
struct aio_pg_statement {
    const char *sql;      /* with $n placeholders, or NULL and: */
    const char *prepared; /* the name of a prepared one */
    int nparams;
    const char *const *params;
};

struct aio_pg_pool {
    /* configuration, from the application */
    char *name;
    char *conninfo;
    int size;
    int connect_timeout_ms;
    int acquire_timeout_ms;
    int query_timeout_ms;
    struct aio_pg_prepared *prepared;
    int nprepared;
    /* the worker's */
    int open;                /* connections open or being opened: <= size */
    struct aio_list idle;    /* most recently given back first */
    struct aio_list draining;
    struct aio_list waiters; /* tasks waiting for a connection, in turn */
    int nwaiting;
    int down;                /* the last connect failed (and the log said so) */
    uint64_t opened, closed_broken, drained, acquire_timeouts;
    char error[256];         /* the last failure's words (a *why points here) */
    struct aio_list node;    /* in the application's list of pools */
};

struct aio_pg_conn {
    struct aio_conn io; /* libpq's socket (libpq's to close), as the loop watches it */
    PGconn *pg;
    struct aio_pg_pool *pool;
    enum aio_pg_conn_state state;
    struct aio_task *waiter; /* the task parked on the socket, or NULL */
    struct aio_list node;    /* in the pool's idle or draining list */
    int syncs;               /* pipeline syncs sent whose answer is not read */
    unsigned unanswered : 1; /* a statement was left unanswered */
    unsigned broken : 1;     /* the connection cannot be used again */
    unsigned rolled_back : 1; /* draining sent its ROLLBACK */
    unsigned cancelling : 1; /* PQcancel runs in the thread pool */
    unsigned close_after_cancel : 1;
    PGcancel *cancel;
    uv_work_t cancel_work;
    uv_timer_t *drain_timer;
    void *holder; /* the framework's record of who holds it */
};

/* The pool's worker state, empty (after aio_main has filled its
 * configuration). */
void aio__pg_pool_init(struct aio_pg_pool *pool);
/* Closes every connection (at the worker's end; none may be held). */
void aio__pg_pool_close(struct aio_pg_pool *pool);

/* A connection for `task`: AIO_OK (*conn held), AIO_EFULL (none came free
 * within acquire_timeout_ms), AIO_EUNAVAILABLE (opening one failed: *why
 * says why, in static or libpq memory valid until the next call),
 * AIO_ETIMEDOUT (the task's deadline), AIO_ECANCELLED, AIO_ENOMEM. */
int aio__pg_acquire(struct aio_task *task, struct aio_pg_pool *pool, struct aio_pg_conn **conn,
                    const char **why);
/* Gives a held connection back: to a waiting task, to the idle list, to
 * draining, or closed. From a coroutine or the loop. */
void aio__pg_release(struct aio_pg_conn *conn);

/* Runs n statements on a held connection (n > 1: in one pipeline, and one
 * sync) and reads their results: results[i] is the first result of
 * statements[i], or NULL when none came (whatever is not NULL is the
 * caller's to PQclear, on failure too). AIO_OK (every result came; some
 * may be errors), AIO_EUNAVAILABLE (the connection broke: *why),
 * AIO_ETIMEDOUT (past query_timeout_ms or the task's deadline),
 * AIO_ECANCELLED, AIO_ENOMEM. */
int aio__pg_run(struct aio_task *task, struct aio_pg_conn *conn,
                const struct aio_pg_statement *statements, int n, PGresult **results,
                const char **why);

#endif
