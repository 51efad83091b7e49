/* internal.h - what the parts of the engine share: the loop engine's
 * struct (the plugin's only mutable global state), tasks, connections,
 * async cores, executor jobs, and the entry points between them.
 *
 * The engine (engine.c, suspend.c, task.c, executor.c, mapper.c,
 * dispatch.c, websocket.c) knows nothing of uWSGI: a host drives it. The
 * host is uWSGI in the plugin (plugin.c, loop.c, accept.c, handler.c,
 * waithooks.c) and the test harness in libaio_testing (testing.c); each
 * gives its tasks and connections their operations and defines aio_log(). */
#ifndef AIO_INTERNAL_H
#define AIO_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "coro.h"
#include "list.h"
#include "options.h"
#include "registry.h"
#include "request.h"

struct wsgi_request;
struct aio_core;
struct aio_ws;

/* ---- tasks: a coroutine and what it waits for ------------------------ */

enum aio_task_state {
    AIO_TASK_IDLE,    /* not started, or finished */
    AIO_TASK_ACTIVE,  /* its coroutine runs (or is about to) */
    AIO_TASK_WAITING, /* its coroutine is suspended in aio_task_wait() */
};

struct aio_job;
struct aio_task;

/* ---- client connections ---------------------------------------------- */

enum aio_io_status {
    AIO_IO_DONE = 0,    /* everything was written */
    AIO_IO_AGAIN = 1,   /* the socket is full: wait until it is writable */
    AIO_IO_FAILED = -1, /* the connection is unusable */
};

struct aio_conn;

/* How bytes move on a connection: uWSGI's protocol I/O in the server, a
 * socketpair in the test harness. */
struct aio_conn_ops {
    /* Events on the fd while no websocket owns the connection. */
    void (*event)(struct aio_conn *conn, int status, int events);
    /* Sends the websocket handshake's answer (101). AIO_OK, or < 0 when the
     * peer is gone. */
    int (*upgrade)(struct aio_conn *conn, struct aio_request *req);
    /* read(2)'s contract; bytes already buffered by the host come first. */
    ssize_t (*read)(struct aio_conn *conn, char *buf, size_t len);
    /* Writes data[*pos..len) as far as the socket takes it, advancing *pos. */
    enum aio_io_status (*write)(struct aio_conn *conn, const char *data, size_t len,
                                size_t *pos);
};

/* A client connection, as the engine watches it. */
struct aio_conn {
    int fd;
    uv_poll_t *poll;        /* created on first need */
    int events;             /* UV_* events watched now */
    struct aio_ws *ws;      /* after a websocket upgrade: it gets the events */
    const struct aio_conn_ops *ops;
};

/* What a host does when a task's coroutine is resumed and when it ends. */
struct aio_task_ops {
    void (*resuming)(struct aio_task *task); /* may be NULL */
    void (*finished)(struct aio_task *task);
};

/* What a suspended coroutine waits for. */
struct aio_wait {
    int client_events;      /* AIO_READ/AIO_WRITE on the client connection */
    int fd;                 /* another fd to watch, or -1 */
    int fd_events;          /* AIO_READ/AIO_WRITE on `fd` */
    int timeout_ms;         /* < 0: none */
    struct aio_job *job;    /* an executor job: only its end wakes the task */
    struct aio_task *joined; /* a spawned task to join */
    int executor_room;      /* room in the executor's queue */
};

/* A coroutine of the loop: the one of an async core serving a request, or
 * a task started with aio_spawn(). */
struct aio_task {
    struct aio_coro coro;
    enum aio_task_state state;
    uv_timer_t timer;       /* the timeout of a wait (and a core's head deadline) */
    uv_poll_t *wait_poll;   /* watcher of struct aio_wait.fd */
    struct aio_wait wait;   /* valid while WAITING */
    int wait_result;        /* set by whoever wakes the task */
    int soon_result;        /* the result of a pending aio_task_wake_soon() */
    int ready_fd;           /* the fd that became ready */
    unsigned cancelled : 1; /* client gone / worker stopping: waits now fail */
    unsigned timed_out : 1; /* a uWSGI read/write timed out */
    const struct aio_task_ops *ops;
    struct aio_conn *conn;  /* its client connection, or NULL */
    struct aio_core *core;  /* uWSGI: the async core it serves, or NULL */
    struct aio_request *req; /* its request, or a spawned task's context */
    struct aio_list node;       /* spawned: in aio_engine.tasks */
    struct aio_list queue_node; /* in aio_engine.starting or the executor's room_waiters */
    /* spawned tasks only */
    char name[64];
    aio_task_fn fn;
    void *arg;
    int result;
    int finished;
    int detached;            /* nobody will join it: free it when it ends */
    struct aio_task *joiner; /* the task suspended in aio_join() on it */
};

/* ---- async cores ---------------------------------------------------- */

enum aio_core_state {
    AIO_CORE_FREE,    /* in uWSGI's unused-core stack */
    AIO_CORE_HEAD,    /* connection accepted, request head not complete */
    AIO_CORE_RUNNING, /* its task serves the request */
};

struct aio_core {
    int id;
    enum aio_core_state state;
    struct wsgi_request *wsgi_req;
    struct aio_task task;
    struct aio_conn conn;      /* wsgi_req's fd */
    uint64_t head_started;     /* loop time (ms) when the head phase began */
    struct aio_list head_node; /* in aio_engine.heads while HEAD */
};

/* ---- executor jobs ----------------------------------------------------- */

/* A call to make in an executor thread; the task that submitted it is
 * suspended until it returns. */
struct aio_job {
    struct aio_list node;
    int (*fn)(void *arg);
    void *arg;
    int result;
    struct aio_task *task;
};

struct aio_executor {
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct aio_list queue;    /* jobs no thread has taken yet */
    int queued;
    struct aio_list done;     /* jobs that returned, for the loop */
    int running;              /* jobs submitted and not yet done */
    int stopping;
    uv_async_t notify;        /* threads -> loop: jobs are done */
    struct aio_list room_waiters; /* tasks waiting for room in the queue */
};

/* ---- the engine ----------------------------------------------------- */

struct aio_stats {
    uint64_t requests;  /* request heads completed */
    uint64_t cancelled; /* requests whose client went away */
    uint64_t evicted;   /* slow heads dropped to free a core */
    uint64_t evicted_reported;
    uint64_t rejected;  /* malformed or oversized request heads */
    uint64_t spawned;   /* tasks started with aio_spawn() */
    uint64_t jobs;      /* executor jobs run */
};

struct aio_engine {
    struct aio_options opts;
    int selected; /* `aio = N` chose this loop engine */
    struct aio_registry registry;
    void *host; /* the host's own state (the test harness's application) */
    volatile int *startup_failed; /* shared with the master (pre-fork) */

    /* worker-side state */
    int loop_ready; /* the loop exists (tasks may be spawned) */
    int running;    /* the loop runs */
    pthread_t loop_thread;
    uv_loop_t loop;
    struct aio_core *cores;
    int ncores;
    int busy;                 /* cores not FREE */
    struct aio_task *current; /* task whose coroutine runs, or NULL */
    struct aio_list heads;    /* cores in the HEAD state, oldest first */
    struct aio_list pending;  /* connections accepted without a core, oldest first */
    int npending;
    int max_pending;
    char *peek_buf;           /* uwsgi.buffer_size bytes, to look at pending heads */
    struct aio_list lingering; /* sockets closing after an error response */
    uv_poll_t *listeners;
    int nlisteners;
    int listening;
    int accept_error_logged;
    uv_poll_t signal_polls[2];
    int nsignal_polls;
    uv_timer_t tick;
    uv_timer_t dispatch;      /* hands freed cores to pending connections */
    uv_async_t wakeup;
    volatile sig_atomic_t stop_signals;
    int stopping;
    int exit_code;
    struct aio_list tasks;    /* spawned tasks not yet finished */
    int ntasks;
    struct aio_list starting; /* spawned tasks waiting for their first run */
    uv_timer_t start_tasks;
    struct aio_list spare_tasks; /* finished spawned tasks, kept for reuse */
    struct aio_executor executor;
    struct aio_list wake_soon;  /* tasks to resume from the loop's top level */
    uv_check_t wake_check;
    struct aio_list websockets; /* open websocket connections */
    uint64_t next_ws_id;
    char *ws_read_buf;          /* scratch buffer for websocket reads */
    struct aio_stats stats;
};

extern struct aio_engine aio_engine;

/* ---- engine.c: the engine whoever hosts it ---------------------------- */

/* Creates the loop and what every host needs (executor, task lists);
 * aio_main() may spawn tasks from then on. AIO_OK or AIO_ERROR. */
int aio_engine_open(void);
/* Closes what aio_engine_open() made, once the host closed its handles:
 * stops the executor, frees spare tasks, runs the loop's close callbacks. */
void aio_engine_close(void);
/* Runs a task's coroutine until it suspends or ends (then its ops'
 * finished() cleans up). */
void aio_task_run(struct aio_task *task);
/* A new request served by `task` (or its context, for a spawned task),
 * begun at `started_us` (aio_now_us()'s clock), or NULL when out of memory. */
struct aio_request *aio_task_new_request(struct aio_task *task, uint64_t started_us);
/* The task whose coroutine is running on this thread, or NULL. */
struct aio_task *aio_running_task(void);
/* Watches the connection for UV_* events (0: stop); the watcher is created
 * on first use. */
int aio_conn_watch(struct aio_conn *conn, int events);
/* Forgets the connection's fd (must run before the fd is closed). */
void aio_conn_unwatch(struct aio_conn *conn);
void aio_free_handle(uv_handle_t *handle);
/* Stops the loop if a graceful stop is under way and nothing is left. */
void aio_engine_check_stop(void);
/* Wall-clock microseconds, as uWSGI's start_of_request. */
uint64_t aio_now_us(void);

/* ---- loop.c: the uWSGI loop engine, cores and their coroutines -------- */

void aio_loop_run(void);
/* The request head is complete: start the core's request. */
void aio_core_start(struct aio_core *core);
/* Puts a core back in uWSGI's unused stack and hands it to a waiting
 * connection, if any. */
void aio_core_release(struct aio_core *core);
void aio_listeners_start(void);
void aio_listeners_stop(void);
/* Ask the worker to stop gracefully. */
void aio_engine_request_stop(int exit_code);

/* ---- accept.c: connections until their request head is complete ------ */

void aio_on_listener(uv_poll_t *poll, int status, int events);
/* More client data (or EOF) for a core in the HEAD state. */
void aio_head_feed(struct aio_core *core);
/* Gives free cores to accepted connections waiting for one. */
void aio_pending_dispatch(void);
/* Periodic: expires slow heads, frees cores for complete ones. */
void aio_accept_tick(void);
void aio_pending_close_all(void);
/* Half-closes fd after an error response and closes it once the client
 * has hung up or a short delay passed (see accept.c). */
void aio_linger_close(int fd);
void aio_linger_close_all(void);

/* ---- suspend.c: suspending coroutines ------------------------------- */

/* Suspends the running task (see struct aio_wait). Returns AIO_OK (a pure
 * sleep ended, a join or room came), > 0 (ready events; task->ready_fd),
 * the job's result, AIO_ETIMEDOUT, AIO_ECANCELLED or AIO_EBUSY/AIO_EINVAL/
 * AIO_ERROR. */
int aio_task_wait(struct aio_task *task, const struct aio_wait *wait);
/* Waits for `fd` (the task's client connection or any other) to be ready
 * for `events` (AIO_READ/AIO_WRITE), timeout_ms < 0: no timeout. Returns as
 * aio_task_wait(). */
int aio_task_wait_fd(struct aio_task *task, int fd, int events, int timeout_ms);
/* Resumes a WAITING task with `result`. */
void aio_task_wake(struct aio_task *task, int result);
/* Client connection events for a task that waits. */
void aio_task_conn_event(struct aio_task *task, int status, int events);
/* Marks the task cancelled and wakes it if what it waits for allows.
 * `why` (NULL: quietly) goes into the "request cancelled" log line. */
void aio_task_cancel(struct aio_task *task, const char *why);
/* Resumes a WAITING task with `result` once the current callback is over:
 * for wakers that must not run the task's coroutine from where they are. */
void aio_task_wake_soon(struct aio_task *task, int result);
/* Initialises the wait machinery (timer) of a task. */
void aio_task_init(struct aio_task *task);

/* ---- waithooks.c: uWSGI's own blocking calls suspend too -------------- */

void aio_install_wait_hooks(void);

/* ---- task.c: aio_spawn() --------------------------------------------- */

/* Starts tasks spawned before the loop ran (from aio_main). */
void aio_tasks_start_pending(void);
/* Cancels every spawned task (graceful stop). */
void aio_tasks_cancel_all(void);
void aio_tasks_free_all(void);

/* ---- executor.c: the thread pool ---------------------------------------- */

/* Runs fn(arg) in an executor thread, suspending `task` until it returns.
 * Returns AIO_OK (*result holds fn's return value), AIO_EBUSY (the queue
 * is full and aio-executor-when-full is reject), AIO_ECANCELLED (the task
 * was cancelled before fn started) or AIO_ERROR (no thread could start). */
int aio_executor_call(struct aio_task *task, int (*fn)(void *), void *arg, int *result);
/* 1 while jobs are queued or running. */
int aio_executor_busy(void);
void aio_executor_init(void);
void aio_executor_stop(void);

/* ---- websocket.c: upgraded connections ----------------------------------- */

/* Runs a websocket view for `req` (a GET to its route) on the connection of
 * the request's task. Returns 0 when the connection was upgraded and served
 * (nothing more to send), or the HTTP status to answer a bad handshake with. */
int aio_websocket_session(struct aio_request *req, const struct aio_view *view);
/* A websocket message, queued in an inbox through `node`. */
struct aio_msg {
    struct aio_list node;
    int type;
    size_t len;
    char *data;
};
/* A message (takes `data`, malloc'ed and NUL-terminated), or NULL. */
struct aio_msg *aio_msg_new(int type, char *data, size_t len);
/* Client fd events of an upgraded connection. */
void aio_ws_conn_event(struct aio_ws *ws, int status, int events);
/* Graceful stop: close every websocket with 1001. */
void aio_websockets_going_away(void);

/* ---- mapper.c ------------------------------------------------------- */

/* Runs the view the way its mapper says (without its renderer); an
 * executor view's identity is worked out on the loop first. Returns the
 * view's status. */
int aio_mapper_run(struct aio_request *req, const struct aio_view *view);

/* ---- dispatch.c: from a built request to its response ----------------- */

/* Serves `req` in its task's coroutine: tweens, routing, traversal, view
 * lookup, permission, the view's mapper, its renderer. The response is on
 * req (nothing to send when req->upgraded or the task was cancelled). */
void aio_dispatch(struct aio_request *req);
/* Replaces the response with a plain-text error page. */
void aio_respond_error(struct aio_request *req, int status, const char *detail);

/* ---- handler.c ------------------------------------------------------ */

/* uWSGI's request hook for our modifier: serves one request. */
int aio_handle_request(struct wsgi_request *wsgi_req);
/* After-request hook: the uWSGI request log line. */
void aio_after_request(struct wsgi_request *wsgi_req);

/* ---- logging: engine.c formats, the host writes ---------------------- */

void aio_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One formatted line (no newline) to the host's log: uWSGI's (plugin.c),
 * or the test's (testing.c). */
void aio_host_log(const char *line);

/* ---- plugin.c ------------------------------------------------------- */

/* Runs the view modules' aio_main() in this worker; on a configuration
 * error it reports once and stops the whole instance (never returns). */
void aio_worker_construct_app(void);

#endif
