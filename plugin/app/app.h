/* app.h - the framework: what <uwsgi-aio/aio.h> promises, on top of the
 * engine. Its state is struct aio__app: the options, the registry the view
 * modules filled, spawned tasks and open websockets. A host (uwsgi/ or
 * testing/) fills the options, opens the engine and the framework, and
 * hands each request it builds to aio__dispatch(). */
#ifndef AIO_APP_APP_H
#define AIO_APP_APP_H

#include <stdint.h>

#include <uwsgi-aio/aio.h>

#include "app/options.h"
#include "app/registry.h"
#include "app/request.h"
#include "base/list.h"
#include "engine/engine.h"
#include "engine/redis.h"

/* aio-broadcast (broadcast.c) */
struct aio__broadcast {
    int enabled;
    struct aio_redis_conn pub, sub;
    uint64_t origin;   /* this worker, in the envelopes */
    size_t backlog;    /* bytes sent to Redis and not acknowledged */
    int warned_foreign;
};

/* aio-redis (redis.c) */
struct aio__redis_pool {
    struct aio_redis_conn *conns;
    long nconns;
};

struct aio__app {
    struct aio_options opts;
    struct aio_registry registry;
    /* tasks started with aio_spawn() (spawn.c) */
    struct aio_list tasks;       /* not yet finished */
    int ntasks;
    struct aio_list starting;    /* waiting for their first run */
    uv_timer_t start_tasks;
    struct aio_list spare_tasks; /* finished, kept for reuse */
    /* websocket sessions (websocket.c) */
    struct aio_list websockets;  /* open ones */
    long nwebsockets;
    long ws_detached;            /* those of them holding no core (callbacks views) */
    long ws_turns;               /* detached sessions running callbacks now */
    struct aio_list ws_turn_queue; /* detached sessions waiting for a turn */
    uint64_t next_ws_id;
    /* Redis: websocket messages across workers, and aio_redis() */
    struct aio__broadcast broadcast;
    struct aio__redis_pool redis;
    /* PostgreSQL pools the modules made (pg.c) */
    struct aio_list pg_pools;
    /* stall.c: the last stall logged, and those since left unlogged */
    struct {
        uint64_t reported_ns;
        uint64_t unreported;
    } stall;
    /* counters for the host's summary */
    uint64_t spawned;            /* tasks started */
    uint64_t request_ids;        /* the last aio_request_id() given */
    uint64_t cancelled;          /* requests whose client went away */
};

extern struct aio__app aio__app;

/* ---- app.c: the framework's life ---------------------------------------- */

/* Before any option: empty registry, option defaults. */
void aio__app_init(void);
/* After the engine opened: the framework's handles; aio_main() may spawn
 * tasks from then on. */
void aio__app_open(void);
/* Graceful stop begins: spawned tasks are cancelled, websockets told 1001,
 * and messages from other workers no longer come in. */
void aio__app_begin_stop(void);
/* Before the engine closes: closes the framework's handles. */
void aio__app_close(void);
/* Frees the registry and the options. */
void aio__app_free(void);
/* The engine's part of the options, once they are all set. */
const struct aio_engine_config *aio__app_engine_config(void);
/* A new request served by `task` (or its context, for a spawned task),
 * begun at `started_us` (aio__wall_us()'s clock), or NULL when out of
 * memory. */
struct aio_request *aio__request_for_task(struct aio_task *task, uint64_t started_us);
/* struct aio_task_ops' cancelled() for tasks that serve a client: counts
 * and logs the request that was cancelled. */
void aio__request_cancelled(struct aio_task *task, const char *why);

/* ---- stall.c ------------------------------------------------------------------ */

/* The engine's on_stall: one log line naming the request or task that held
 * the loop `held_ns` without suspending (at most one a second). */
void aio__app_report_stall(struct aio_task *task, uint64_t held_ns);

/* ---- dispatch.c: from a built request to its response -------------------- */

/* Serves `req` in its task's coroutine: tweens, routing, traversal, view
 * lookup, permission, the view's mapper, its renderer. The response is on
 * req (nothing to send when req->upgraded or the task was cancelled). */
void aio__dispatch(struct aio_request *req);
/* Replaces the response with a plain-text error page: the one error page
 * writer, for both hosts. */
void aio__respond_error(struct aio_request *req, int status, const char *detail);

/* ---- mapper.c ---------------------------------------------------------------- */

/* Runs the view the way its mapper says (without its renderer); an
 * executor view's identity is worked out on the loop first. Returns the
 * view's status. */
int aio__mapper_run(struct aio_request *req, const struct aio_view *view);

/* ---- suspend.c ----------------------------------------------------------------- */

/* The task of `req` if `req` belongs to the running coroutine, else NULL:
 * the check every suspending call makes first (AIO_ESCOPE otherwise). */
struct aio_task *aio__scope_check(const aio_request *req);

/* ---- spawn.c: aio_spawn() ------------------------------------------------------ */

/* The start queue's handle (app.c opens and closes it with the framework). */
void aio__spawn_open(void);
void aio__spawn_close(void);
/* Runs fn(req, arg) in a pooled coroutine soon, from the loop's top level,
 * with `req` - which outlives the task and is not freed with it - as its
 * context (req->task is the task until it ends). Not bounded by
 * aio-max-tasks (the caller bounds these), possible while stopping. The
 * task, or NULL (out of memory). */
struct aio_task *aio__spawn_for(struct aio_request *req, const char *name, aio_task_fn fn,
                                void *arg);
/* Starts tasks spawned before the loop ran (from aio_main). */
void aio__tasks_start_pending(void);
/* Cancels every spawned task (graceful stop). */
void aio__tasks_cancel_all(void);

/* ---- websocket.c: upgraded connections -------------------------------------- */

/* Runs a websocket view for `req` (a GET to its route) on the connection of
 * the request's task. Returns 0 when the connection was upgraded and served
 * (nothing more to send), or the HTTP status to answer a bad handshake with.
 * A callbacks view's session has only opened then (req->ws): it goes on
 * in aio__websocket_continue() once the dispatch is over. */
int aio__websocket_session(struct aio_request *req, const struct aio_view *view);
/* The end of the dispatch of a request whose callbacks session is open:
 * when the host can detach the connection, the session goes on without
 * the request's task or core - its callbacks run in a pooled coroutine
 * whenever a message arrives - and takes the request (req->detached: the
 * host must not free it); else the session runs here to its end. */
void aio__websocket_continue(struct aio_request *req);
/* A websocket message, queued in an inbox through `node`. */
struct aio_msg {
    struct aio_list node;
    int type;
    size_t len;
    char *data;
};
/* A message (takes `data`, malloc'ed and NUL-terminated), or NULL. */
struct aio_msg *aio__msg_new(int type, char *data, size_t len);
/* Graceful stop: close every websocket with 1001. */
void aio__websockets_going_away(void);
/* Queues a message to this worker's open websockets that `target` (enum
 * aio_pubsub_target) and `name` select; returns how many, or AIO_EINVAL
 * (bad type, text not UTF-8) / AIO_ESCOPE (not on the loop thread). */
int aio__ws_deliver(int target, const char *name, size_t name_len, int type, const void *data,
                    size_t len);

/* ---- broadcast.c: websocket messages across workers (aio-broadcast) -------- */

/* Starts the publisher and subscriber connections when the option is set. */
int aio__broadcast_open(void);
/* Graceful stop: no more messages from other workers. */
void aio__broadcast_stop(void);
void aio__broadcast_close(void);

/* ---- redis.c: aio_redis() and its pool (aio-redis) -------------------------- */

int aio__redis_pool_open(void);
void aio__redis_pool_close(void);
/* After the loop ran the close callbacks. */
void aio__redis_pool_free(void);

/* ---- pg.c: the PostgreSQL pools of the modules (aio_pg.h) ------------------ */

/* Closes their connections (at the worker's end). */
void aio__pg_pools_close(void);
/* After the loop ran the close callbacks: forgets them. */
void aio__pg_pools_free(void);
/* Connections open (or opening) in all the pools, and tasks waiting for one. */
void aio__pg_pools_counts(int64_t *open, int64_t *waiting);

#endif
