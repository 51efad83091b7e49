/* engine.h - the loop engine: one libuv loop per worker, coroutines that
 * run on it as tasks, the client connections they serve, and the executor
 * threads they hand blocking calls to.
 *
 * The engine knows nothing of HTTP, views or uWSGI. What a task does when
 * it runs or ends, and how bytes move on a connection, are the host's
 * (struct aio_task_ops, struct aio_conn_ops). Its state is struct
 * aio__engine, and nothing else is the engine's. */
#ifndef AIO_ENGINE_ENGINE_H
#define AIO_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include <uwsgi-aio/aio_common.h>

#include "base/list.h"
#include "base/log.h"
#include "engine/coro.h"

struct aio_request; /* what a task serves: the framework's, opaque here */
struct aio_task;
struct aio_job;

/* ---- client connections ------------------------------------------------- */

enum aio_io_status {
    AIO_IO_DONE = 0,    /* everything was written */
    AIO_IO_AGAIN = 1,   /* the socket is full: wait until it is writable */
    AIO_IO_FAILED = -1, /* the connection is unusable */
};

struct aio_conn;

/* How bytes move on a connection, and who gets its events: uWSGI's
 * protocol I/O in the server, a socketpair in the test harness. A
 * websocket takes a connection over by putting its own ops in front
 * (keeping the host's for the bytes). */
struct aio_conn_ops {
    /* Events on the fd (status < 0: libuv's error). */
    void (*event)(struct aio_conn *conn, int status, int events);
    /* Sends the websocket handshake's answer (101). AIO_OK, or < 0 when the
     * peer is gone. */
    int (*upgrade)(struct aio_conn *conn, struct aio_request *req);
    /* read(2)'s contract; bytes already buffered by the host come first. */
    ssize_t (*read)(struct aio_conn *conn, char *buf, size_t len);
    /* Writes data[*pos..len) as far as the socket takes it, advancing *pos. */
    enum aio_io_status (*write)(struct aio_conn *conn, const char *data, size_t len,
                                size_t *pos);
    /* A streamed response, from the request's coroutine: the first call
     * sends the head (the request's status and headers; the framing of the
     * body is the host's: chunked, or until the connection closes), each
     * call then data[0..len) whole (suspending while the peer is slow) and,
     * with `end`, the end of the body. AIO_OK, AIO_ECANCELLED (the peer is
     * gone), AIO_ETIMEDOUT or AIO_ERROR. NULL: the host buffers the body. */
    int (*stream)(struct aio_conn *conn, struct aio_request *req, const char *data, size_t len,
                  int end);
    /* The next bytes of the request's body, decoded (chunked), from the
     * request's coroutine, suspending until some arrive: > 0 bytes, 0 at
     * its end, or AIO_ECANCELLED (the peer is gone), AIO_ETIMEDOUT (too
     * slow), AIO_EFULL (over the host's limit), AIO_EINVAL (malformed). */
    ssize_t (*read_body)(struct aio_conn *conn, char *buf, size_t len);
    /* Takes the connection away from the host's request slot, for a
     * session that outlives its request (an idle websocket holds no async
     * core): returns a connection of its own on the same fd, with the
     * watcher, that the caller closes with aio__fdconn_close(); the host
     * ends its request without closing the fd, and leaves the request
     * (req->detached) to the session. NULL when it cannot (bytes it still
     * holds, TLS): the session keeps the slot. NULL op: never. */
    struct aio_conn *(*detach)(struct aio_conn *conn);
};

/* A client connection, as the engine watches it. */
struct aio_conn {
    int fd;
    uv_poll_t *poll; /* created on first need */
    int events;      /* UV_* events watched now */
    const struct aio_conn_ops *ops;
    void *data; /* state of whoever put its ops in front (a websocket) */
};

/* A connection that is only its fd (fdconn.c): read(2), send(2). */
ssize_t aio__fd_read(struct aio_conn *conn, char *buf, size_t len);
enum aio_io_status aio__fd_write(struct aio_conn *conn, const char *data, size_t len,
                                 size_t *pos);
/* A connection of its own on `fd` (malloc'ed; no events until someone
 * puts its ops in front), or NULL. */
struct aio_conn *aio__fdconn_new(int fd);
/* Stops watching, closes the fd, frees. */
void aio__fdconn_close(struct aio_conn *conn);

/* Watches the connection for UV_* events (0: stop); the watcher is created
 * on first use. */
int aio__conn_watch(struct aio_conn *conn, int events);
/* Forgets the connection's fd (must run before the fd is closed). */
void aio__conn_unwatch(struct aio_conn *conn);
/* Hands `from`'s watcher, as it is (started or not), to `to`, which has
 * the same fd and none: a connection changing owners (parked, served,
 * kept alive) keeps one watcher, and epoll is not told anything. */
void aio__conn_move_watch(struct aio_conn *from, struct aio_conn *to);

/* ---- tasks: a coroutine and what it waits for ----------------------------- */

enum aio_task_state {
    AIO_TASK_IDLE,    /* not started, or finished */
    AIO_TASK_ACTIVE,  /* its coroutine runs (or is about to) */
    AIO_TASK_WAITING, /* its coroutine is suspended in aio__task_wait() */
};

/* What a host does with its tasks. */
struct aio_task_ops {
    void (*resuming)(struct aio_task *task); /* may be NULL */
    void (*finished)(struct aio_task *task);
    /* The task was just cancelled for `why` (never NULL); may be NULL. */
    void (*cancelled)(struct aio_task *task, const char *why);
};

/* What a suspended coroutine waits for. */
struct aio_wait {
    int client_events;       /* AIO_READ/AIO_WRITE on the client connection */
    int fd;                  /* another fd to watch, or -1 */
    int fd_events;           /* AIO_READ/AIO_WRITE on `fd` */
    int timeout_ms;          /* < 0: none */
    struct aio_job *job;     /* an executor job: only its end wakes the task */
    struct aio_task *joined; /* a spawned task to join */
    int executor_room;       /* room in the executor's queue */
    /* Only aio__task_wake() resumes it (or the timeout, as AIO_ETIMEDOUT,
     * the deadline, a cancellation): a task parked while something the
     * loop drives on its behalf (a database connection, transfers) works. */
    int until_woken;
};

/* A coroutine of the loop: an async core's, serving a request, or one
 * started with aio_spawn(). */
struct aio_task {
    struct aio_coro coro;
    enum aio_task_state state;
    uv_timer_t timer;       /* the timeout of a wait (and a core's head deadline) */
    uv_poll_t *wait_poll;   /* watcher of struct aio_wait.fd */
    struct aio_wait wait;   /* valid while WAITING */
    int wait_result;        /* set by whoever wakes the task */
    int soon_result;        /* the result of a pending aio__task_wake_soon() */
    int ready_fd;           /* the fd that became ready */
    uint64_t run_started_ns; /* this run began (0: not measured, or reported) */
    unsigned cancelled : 1; /* client gone / worker stopping: waits now fail */
    unsigned timed_out : 1; /* a uWSGI read/write timed out */
    unsigned deadline_passed : 1; /* past deadline_ms: waits now fail */
    uint64_t deadline_ms;   /* the loop's clock (aio__loop_ms); 0: none */
    const struct aio_task_ops *ops;
    /* Its client connection, or NULL (a spawned task; or a websocket owns
     * the connection now). */
    struct aio_conn *conn;
    struct aio_request *req;    /* its request, or a spawned task's context */
    struct aio_list node;       /* spawned: in the framework's task list */
    struct aio_list queue_node; /* in a start queue, wake_soon or room_waiters */
    /* spawned tasks only */
    char name[64];
    int (*fn)(struct aio_request *ctx, void *arg);
    void *arg;
    int result;
    int finished;
    int detached;            /* nobody will join it: free it when it ends */
    int borrowed_req;        /* its req is its starter's: not freed with it */
    struct aio_task *joiner; /* the task suspended in aio_join() on it */
};

/* The task has run since it was last resumed without suspending: past
 * config.stall_ms this counts a stall and calls config.on_stall, once a
 * run. aio__task_run() and aio__task_wait() call it; so does whoever is
 * about to free what the task serves, so that it can still be named. */
void aio__task_check_stall(struct aio_task *task);
/* From now on every wait of the task ends by `at_ms` (aio__loop_ms()'s
 * clock; 0: no deadline) at the latest: past it, waits return AIO_ETIMEDOUT
 * at once, as they return AIO_ECANCELLED once cancelled, and
 * deadline_passed is set. An executor job is still waited for to its end. */
void aio__task_set_deadline(struct aio_task *task, uint64_t at_ms);
/* 1 once the task's deadline has passed (checked against the clock now). */
int aio__task_past_deadline(struct aio_task *task);
/* Initialises the wait machinery (timer) of a task. */
void aio__task_init(struct aio_task *task);
/* Runs a task's coroutine until it suspends or ends (then its ops'
 * finished() cleans up). */
void aio__task_run(struct aio_task *task);
/* Suspends the running task (see struct aio_wait). Returns AIO_OK (a pure
 * sleep ended, a join or room came), > 0 (ready events; task->ready_fd),
 * the job's result, AIO_ETIMEDOUT, AIO_ECANCELLED or AIO_EBUSY/AIO_EINVAL/
 * AIO_ERROR. */
int aio__task_wait(struct aio_task *task, const struct aio_wait *wait);
/* Waits for `fd` (the task's client connection or any other) to be ready
 * for `events` (AIO_READ/AIO_WRITE), timeout_ms < 0: no timeout. Returns as
 * aio__task_wait(). */
int aio__task_wait_fd(struct aio_task *task, int fd, int events, int timeout_ms);
/* Parks the task until aio__task_wake() resumes it (its result is
 * returned), or AIO_ETIMEDOUT after timeout_ms (< 0: none) or past its
 * deadline, or AIO_ECANCELLED. Whoever is to wake it must hold the task
 * (and forget it once this returns, whatever ended the wait). */
int aio__task_park(struct aio_task *task, int timeout_ms);
/* Resumes a WAITING task with `result`. */
void aio__task_wake(struct aio_task *task, int result);
/* Resumes a WAITING task with `result` once the current callback is over:
 * for wakers that must not run the task's coroutine from where they are. */
void aio__task_wake_soon(struct aio_task *task, int result);
/* Client connection events for a task that waits. */
void aio__task_conn_event(struct aio_task *task, int status, int events);
/* Marks the task cancelled and wakes it if what it waits for allows.
 * `why` (NULL: quietly) goes to the ops' cancelled() hook. */
void aio__task_cancel(struct aio_task *task, const char *why);
/* The task whose coroutine is running on this thread, or NULL. */
struct aio_task *aio__running_task(void);

/* ---- the executor: blocking calls in threads --------------------------------- */

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
    AIO_FULL_REJECT, /* AIO_EFULL at once */
    AIO_FULL_WAIT,   /* suspend until the queue has room */
};

struct aio_executor {
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct aio_list queue; /* jobs no thread has taken yet */
    int queued;
    int running;           /* jobs a thread is running */
    struct aio_list done;  /* jobs that returned, for the loop */
    int stopping;
    uv_async_t notify;     /* threads -> loop: jobs are done */
    struct aio_list room_waiters; /* tasks waiting for room in the queue */
};

/* Runs fn(arg) in an executor thread, suspending `task` until it returns.
 * Returns AIO_OK (*result holds fn's return value), AIO_EFULL (the queue
 * is full and the configuration says reject), AIO_ECANCELLED (the task was
 * cancelled before fn started) or AIO_ERROR (no thread could start). */
int aio__executor_call(struct aio_task *task, int (*fn)(void *), void *arg, int *result);
/* In an executor thread: the task whose job it runs now, or NULL. */
struct aio_task *aio__executor_running_task(void);
/* Jobs running in a thread and jobs waiting for one, now. */
void aio__executor_counts(int *running, int *queued);

/* ---- the engine's state ------------------------------------------------------ */

/* What the engine is told by whoever configures it. */
struct aio_engine_config {
    size_t stack_size;            /* of every coroutine */
    long executor_threads;
    long executor_queue;          /* jobs waiting for a thread, at most */
    enum aio_when_full when_full; /* what a full queue does */
    size_t ws_max_message;        /* websocket messages, in bytes */
    long ws_ping_freq;            /* s between idle pings (0: none) */
    long ws_pong_tolerance;       /* s a pong may take */
    /* A task that runs this long without suspending held up every other
     * one of the worker: it is counted and handed to on_stall (0: never
     * measured). Two clock reads per resume, so on by default. */
    long stall_ms;
    /* Unwritten websocket bytes of the whole worker, at most: past it the
     * endpoints with the most are dropped (1013) until 3/4 of it is left. */
    size_t ws_worker_backlog;
    void (*on_stall)(struct aio_task *task, uint64_t held_ns); /* may be NULL */
};

struct aio__engine {
    struct aio_engine_config config;
    uv_loop_t loop;
    pthread_t loop_thread;
    int open;     /* the loop exists (tasks may be spawned) */
    int running;  /* the loop runs */
    int stopping; /* a graceful stop is under way: stop once nothing is live */
    /* Requests, tasks and executor jobs under way: the loop stops when a
     * stop is asked and this is 0 (and the host agrees). */
    int live;
    /* The host's say in stopping: 1 when it holds nothing more (parked
     * connections ...). NULL: nothing. */
    int (*host_idle)(void);
    struct aio_task *current;  /* task whose coroutine runs, or NULL */
    struct aio_list wake_soon; /* tasks to resume from the loop's top level */
    uv_check_t wake_check;
    uv_idle_t wake_idle;       /* while tasks wait to wake: the loop must not block */
    struct aio_executor executor;
    uint64_t jobs;             /* executor jobs run */
    uint64_t stalls;           /* task runs longer than config.stall_ms */
    /* websocket endpoints (wsconn.c) */
    struct aio_list wsconns;   /* open ones */
    size_t ws_unwritten;       /* the bytes they have queued, all together */
};

extern struct aio__engine aio__engine;

/* Creates the loop. AIO_OK or AIO_ERROR. */
int aio__engine_open(void);
/* What the configuration says; before the first request or task. */
void aio__engine_configure(const struct aio_engine_config *config);
/* Closes what aio__engine_open() made, once the hosts closed their
 * handles: stops the executor, runs the loop's close callbacks. */
void aio__engine_close(void);
/* One more (+1) or one less (-1) piece of live work. */
void aio__engine_live(int delta);
/* From now on, stop the loop once nothing is live. */
void aio__engine_begin_stop(void);
/* Stops the loop if a graceful stop is under way and nothing is left. */
void aio__engine_check_stop(void);
/* 1 on the loop's thread while the loop exists. */
int aio__on_loop_thread(void);
/* The loop's clock, in ms (cached per loop turn, as libuv's timers see it). */
uint64_t aio__loop_ms(void);
/* Wall-clock microseconds, as uWSGI's start_of_request. */
uint64_t aio__wall_us(void);
/* A monotonic clock in nanoseconds, for measuring durations. */
uint64_t aio__monotonic_ns(void);
/* uv_close() callback for handles that were malloc'ed alone. */
void aio__free_handle(uv_handle_t *handle);

/* Between the engine's own files (engine.c opens and closes the others). */
void aio__executor_init(void);
void aio__executor_stop(void);
void aio__task_queues_init(void);
void aio__task_queues_close(void);

#endif
