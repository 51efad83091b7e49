/*
 * aio_pg.h - PostgreSQL from coroutine views: a pool of connections per
 * worker, driven by the worker's loop through libpq's asynchronous API.
 *
 *     static aio_pg_pool *db;
 *
 *     static int one_row(aio_request *req)
 *     {
 *         PGresult *res;
 *         int rc = aio_pg_query(req, db, &res, "SELECT name FROM items WHERE id = $1",
 *                               1, aio_param(req, "id"));
 *         if (rc != AIO_OK)
 *             return rc;                   // the failure is named in the log
 *         ...PQgetvalue(res, 0, 0)...      // res is freed with the request
 *     }
 *
 *     int aio_main(aio_config *cfg)
 *     {
 *         db = aio_pg_pool_new(cfg, "items", &(struct aio_pg_options){
 *             .conninfo = aio_config_setting(cfg, "items.conninfo")});
 *         return db ? AIO_OK : AIO_EINVAL;
 *     }
 *
 * Everything here suspends the calling coroutine (a view registered with
 * AIO_COROUTINE, or a spawned task) while PostgreSQL works, and returns
 * AIO_ESCOPE anywhere else (an executor thread uses blocking libpq on a
 * connection of its own instead).
 *
 * The pool of each worker opens connections when they are first needed, up
 * to `size`; past that, callers wait in turn for one to come back, up to
 * `acquire_timeout_ms`. A connection comes back to the pool only clean: a
 * caller that stops waiting mid-query (its client went away, its timeout or
 * its request's deadline passed) has the query cancelled on the server
 * (PQcancel) and its results drained before anyone else gets the
 * connection; one that cannot be drained in time, has a transaction left
 * open or lost its server is closed, and the pool opens a new one when
 * needed. Idle connections are watched: one the server closes (a restart)
 * leaves the pool at once.
 *
 * Status codes: AIO_OK; AIO_ERROR (PostgreSQL refused the statement: the
 * result holds why, and the request's failure names it); AIO_EUNAVAILABLE
 * (no connection could be made or it broke, or the server refused for a
 * reason of its own: shutting down, starting up, SQLSTATE 57P and 08; a
 * view that returns it answers 503); AIO_EFULL (no connection came free within acquire_timeout_ms:
 * 503); AIO_ETIMEDOUT (no answer within query_timeout_ms, or the request's
 * deadline: 504); AIO_ECANCELLED (the client went away); AIO_EINVAL (bad
 * arguments); AIO_ENOMEM; AIO_ESCOPE. Results are PGresults owned by the
 * request: PQclear() is called when it ends, never by you.
 */
#ifndef AIO_PG_H
#define AIO_PG_H

#include <libpq-fe.h>

#include <uwsgi-aio/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aio_pg_pool aio_pg_pool;
typedef struct aio_pg_conn aio_pg_conn;

/* What a pool is made of. Zero fields take the defaults. */
struct aio_pg_options {
    const char *conninfo;   /* a libpq connection string (required); a host
                               name is resolved by libpq as it connects, which
                               blocks the loop: give addresses (host=127.0.0.1)
                               or a socket directory */
    int size;               /* connections per worker, at most: 20 */
    int connect_timeout_ms; /* to open one (and to drain one): 5000 */
    int acquire_timeout_ms; /* to wait for one to come free: 5000 */
    int query_timeout_ms;   /* for the answer to a statement or a batch: 30000 */
};

/* In aio_main: a pool (`name` labels its log lines). The options are
 * copied. NULL on bad options (aio_config_fail() says which). Connections
 * are opened in each worker, when first needed. */
AIO_API aio_pg_pool *aio_pg_pool_new(aio_config *cfg, const char *name,
                                     const struct aio_pg_options *options);

/* In aio_main: a statement that every connection of the pool prepares as
 * it opens, for aio_pg_stmt's `prepared`. AIO_OK, or AIO_EINVAL (a name
 * given twice, empty text) with aio_config_fail(). A statement PostgreSQL
 * refuses makes every connection fail to open (logged). */
AIO_API int aio_pg_prepare(aio_config *cfg, aio_pg_pool *pool, const char *name,
                           const char *sql);

/* One statement: its text with $1..$n placeholders, or the name of a
 * prepared one; the parameters in text form (NULL: SQL NULL). Results come
 * in text form. */
typedef struct aio_pg_stmt {
    const char *sql;
    const char *prepared;
    int nparams;
    const char *const *params;
} aio_pg_stmt;

/* Runs one statement on a connection of the pool, which goes back to the
 * pool before this returns; its `nparams` text parameters follow. */
AIO_API int aio_pg_query(aio_request *req, aio_pg_pool *pool, PGresult **result,
                         const char *sql, int nparams, ...);

/* Holds a connection of the pool for several statements (a transaction,
 * a batch): until aio_pg_release(), or the request's end. */
AIO_API int aio_pg_acquire(aio_request *req, aio_pg_pool *pool, aio_pg_conn **conn);
/* Gives the connection back (clean, or closed: see above). NULL: nothing. */
AIO_API void aio_pg_release(aio_request *req, aio_pg_conn *conn);

/* One statement on a held connection. */
AIO_API int aio_pg_exec(aio_request *req, aio_pg_conn *conn, const aio_pg_stmt *stmt,
                        PGresult **result);

/* n statements in one round trip (libpq's pipeline mode): all are sent,
 * then every answer is read. results[i] is stmts[i]'s result. AIO_OK when
 * every one succeeded; AIO_ERROR when one failed (its result says why;
 * the ones after it are PGRES_PIPELINE_ABORTED). Outside a transaction,
 * the batch is one transaction of its own: it commits at its end, and a
 * failure rolls back the statements before it too. Statements that lock
 * rows should lock them in one order (sorted ids), as batches of other
 * requests run at the same time. */
AIO_API int aio_pg_pipeline(aio_request *req, aio_pg_conn *conn, const aio_pg_stmt *stmts,
                            int n, PGresult **results);

/* BEGIN, fn(req, conn, arg), then COMMIT when fn returned AIO_OK and
 * ROLLBACK otherwise, on a connection of the pool held for the while.
 * Returns fn's status, or the COMMIT's when that failed. */
typedef int (*aio_pg_transaction_fn)(aio_request *req, aio_pg_conn *conn, void *arg);
AIO_API int aio_pg_transaction(aio_request *req, aio_pg_pool *pool, aio_pg_transaction_fn fn,
                               void *arg);

#ifdef __cplusplus
}
#endif

#endif /* AIO_PG_H */
