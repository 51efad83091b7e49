/* internal.h - what the uWSGI-facing parts of the plugin share: the loop
 * engine's struct (the plugin's only mutable global state), tasks, async
 * cores, executor jobs, and the entry points between loop, suspend engine,
 * executor, mapper and handler. */
#ifndef AIO_INTERNAL_H
#define AIO_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <uv.h>

#include "coro.h"
#include "list.h"
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
    struct aio_core *core;  /* the async core it serves, NULL if spawned */
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
    uv_poll_t *conn_poll;      /* client fd watcher, created on first need */
    int conn_events;           /* UV_* events conn_poll watches now */
    uint64_t head_started;     /* loop time (ms) when the head phase began */
    struct aio_list head_node; /* in aio_engine.heads while HEAD */
    struct aio_ws *ws;         /* after a websocket upgrade: owns conn_poll */
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

enum aio_when_full {
    AIO_FULL_REJECT, /* 503 / AIO_EBUSY */
    AIO_FULL_WAIT,   /* suspend until the queue has room */
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

/* ---- options (parsed in the master, before fork) -------------------- */

struct aio_options {
    long cores;              /* `aio = N` */
    size_t stack_size;       /* `aio-stack-size` */
    char **views;            /* `aio-views`, in order */
    size_t nviews;
    long executor_threads;   /* `aio-executor-threads` */
    long executor_queue;     /* `aio-executor-queue` */
    enum aio_when_full when_full; /* `aio-executor-when-full` */
    long max_tasks;          /* `aio-max-tasks` */
    int websocket_bytes;     /* `aio-websocket-bytes` */
    int ignore_websocket_closed; /* `aio-ignore-websocket-closed` */
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

/* ---- loop.c: the engine, cores and their coroutines ------------------ */

void aio_loop_run(void);
/* Runs a task's coroutine until it suspends or ends (then cleans up). */
void aio_task_run(struct aio_task *task);
/* The request head is complete: start the core's request. */
void aio_core_start(struct aio_core *core);
/* Puts a core back in uWSGI's unused stack and hands it to a waiting
 * connection, if any. */
void aio_core_release(struct aio_core *core);
/* Watches the client fd for UV_* events (0: stop); the watcher is created
 * on first use. */
int aio_conn_watch(struct aio_core *core, int events);
/* Forgets the client fd (must run before the fd is closed). */
void aio_conn_unwatch(struct aio_core *core);
void aio_listeners_start(void);
void aio_listeners_stop(void);
void aio_free_handle(uv_handle_t *handle);
/* The task whose coroutine is running on this thread, or NULL. */
struct aio_task *aio_running_task(void);
/* Ask the worker to stop gracefully. */
void aio_engine_request_stop(int exit_code);
/* Wakes the loop's stop check (something it waits for just ended). */
void aio_engine_check_stop(void);

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

/* ---- suspend.c: suspending coroutines, uWSGI's wait hooks ------------ */

/* Suspends the running task (see struct aio_wait). Returns AIO_OK (a pure
 * sleep ended, a join or room came), > 0 (ready events; task->ready_fd),
 * the job's result, AIO_ETIMEDOUT, AIO_ECANCELLED or AIO_EBUSY/AIO_EINVAL/
 * AIO_ERROR. */
int aio_task_wait(struct aio_task *task, const struct aio_wait *wait);
/* Resumes a WAITING task with `result`. */
void aio_task_wake(struct aio_task *task, int result);
/* Client fd events for a core whose task waits. */
void aio_task_conn_event(struct aio_task *task, int status, int events);
/* Marks the task cancelled and wakes it if what it waits for allows.
 * `why` (NULL: quietly) goes into the "request cancelled" log line. */
void aio_task_cancel(struct aio_task *task, const char *why);
/* Resumes a WAITING task with `result` once the current callback is over:
 * for wakers that must not run the task's coroutine from where they are. */
void aio_task_wake_soon(struct aio_task *task, int result);
void aio_install_wait_hooks(void);
/* Initialises the wait machinery (timer) of a task. */
void aio_task_init(struct aio_task *task);

/* ---- task.c: aio_spawn() --------------------------------------------- */

/* Starts tasks spawned before the loop ran (from aio_main). */
void aio_tasks_start_pending(void);
/* Cancels every spawned task (graceful stop). */
void aio_tasks_cancel_all(void);
/* A spawned task's coroutine ended: report, wake its joiner, recycle. */
void aio_spawned_task_finished(struct aio_task *task);
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

/* Runs a websocket view for `req` (a GET to its route). Returns 0 when the
 * connection was upgraded and served (nothing more to send), or the HTTP
 * status to answer a bad handshake with (headers already added to req). */
int aio_websocket_session(struct aio_request *req, const struct aio_view *view,
                          struct aio_task *task);
/* Client fd events of an upgraded connection. */
void aio_ws_conn_event(struct aio_ws *ws, int status, int events);
/* Graceful stop: close every websocket with 1001. */
void aio_websockets_going_away(void);

/* ---- mapper.c ------------------------------------------------------- */

/* Runs the view the way its mapper says; returns the view's status. */
int aio_mapper_run(struct aio_request *req, const struct aio_view *view);

/* ---- handler.c ------------------------------------------------------ */

/* uWSGI's request hook for our modifier: serves one request. */
int aio_handle_request(struct wsgi_request *wsgi_req);
/* After-request hook: the uWSGI request log line. */
void aio_after_request(struct wsgi_request *wsgi_req);

/* ---- plugin.c ------------------------------------------------------- */

void aio_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs the view modules' aio_main() in this worker; on a configuration
 * error it reports once and stops the whole instance (never returns). */
void aio_worker_construct_app(void);

#endif
