/* redis.h - one connection to a Redis server, driven by the worker's loop
 * through hiredis's asynchronous API, that comes back by itself.
 *
 * hiredis parses the protocol and keeps the queue of callbacks; this file
 * gives it the loop (a uv_poll on its fd: our own adapter, because the one
 * hiredis ships ignores poll errors and has no timers) and what a server
 * needs from a client connection that must not fail a worker:
 *   - connecting never blocks the loop (the host is an address resolved
 *     once, at open) and has a deadline;
 *   - a command that gets no reply within the timeout drops the connection
 *     (every pending callback then gets a NULL reply), so a server that
 *     hangs cannot hold the worker's callers;
 *   - a lost connection is retried with exponential backoff (100 ms up to
 *     2 s), and the log gets one line per change of state, not one per
 *     attempt or per command;
 *   - AUTH and SELECT are sent first on every new connection.
 * While it is not up, commands fail at once: there is no queue to grow. */
#ifndef AIO_ENGINE_REDIS_H
#define AIO_ENGINE_REDIS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "proto/redisurl.h"

enum aio_redis_state {
    AIO_REDIS_DOWN,       /* waiting to retry (or not opened) */
    AIO_REDIS_CONNECTING, /* TCP connect in progress */
    AIO_REDIS_UP,         /* commands may be sent */
    AIO_REDIS_CLOSED,     /* aio__redis_close() ran */
};

struct aio_redis_conn {
    /* set before aio__redis_open() */
    struct aio_redis_url url;
    const char *role;     /* for the log: "broadcast subscriber" ... */
    int timeout_ms;       /* connect deadline and reply deadline */
    void (*on_up)(struct aio_redis_conn *conn);   /* may be NULL */
    void (*on_down)(struct aio_redis_conn *conn); /* may be NULL; not on close */
    void *data;
    /* state */
    enum aio_redis_state state;
    redisAsyncContext *ac;
    uv_poll_t *poll;      /* the adapter's watcher of ac's fd */
    int events;           /* UV_* watched on it */
    uv_timer_t timer;     /* connect deadline, reply deadline, or retry */
    int backoff_ms;
    unsigned pending;     /* commands sent and not answered */
    int reported_down;    /* the log already says it is down */
    int timed_out;        /* the last drop was for a reply past its deadline */
    const char *dropping; /* why drop() frees the context, while it does */
    char address[256];    /* host resolved at open, numeric */
};

/* Resolves the host (blocking: call it at start-up) and starts connecting.
 * AIO_OK, or AIO_ERROR when the loop's handles cannot be made; an
 * unreachable server is not an error (it is retried). */
int aio__redis_open(struct aio_redis_conn *conn, uv_loop_t *loop);
/* Drops the connection (pending callbacks get a NULL reply) and closes the
 * handles; the struct may be freed once the loop has run its close
 * callbacks (uv_run until the loop is done, as the engine does). */
void aio__redis_close(struct aio_redis_conn *conn);
/* Sends a formatted command (redisFormatCommand's output). fn gets the
 * reply, or NULL when the connection dropped before it came. AIO_OK, or
 * AIO_EUNAVAILABLE when the connection is not up. */
int aio__redis_send(struct aio_redis_conn *conn, redisCallbackFn *fn, void *privdata,
                    const char *cmd, size_t len);
/* For subscriptions: the callback may be called for each message, and the
 * command does not count as pending. */
int aio__redis_subscribe(struct aio_redis_conn *conn, redisCallbackFn *fn, void *privdata,
                         const char *channel);

#endif
