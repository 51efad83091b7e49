/* internal.h - what the uWSGI-facing parts of the plugin share: the loop
 * engine's struct (the plugin's only mutable global state), async cores,
 * and the entry points between loop, suspend engine, mapper and handler. */
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

/* ---- async cores ---------------------------------------------------- */

enum aio_core_state {
    AIO_CORE_FREE,    /* in uWSGI's unused-core stack */
    AIO_CORE_HEAD,    /* connection accepted, request head not complete */
    AIO_CORE_ACTIVE,  /* its coroutine runs (or is about to) */
    AIO_CORE_WAITING, /* its coroutine is suspended in aio_core_wait() */
};

/* What a suspended coroutine waits for. */
struct aio_wait {
    int client_events; /* AIO_READ/AIO_WRITE on the client connection */
    int fd;            /* another fd to watch, or -1 */
    int fd_events;     /* AIO_READ/AIO_WRITE on `fd` */
    int timeout_ms;    /* < 0: none */
};

struct aio_core {
    int id;
    enum aio_core_state state;
    struct wsgi_request *wsgi_req;
    struct aio_coro coro;
    uv_timer_t timer;       /* head deadline, or the timeout of a wait */
    uv_poll_t *conn_poll;   /* client fd watcher, created on first need */
    int conn_events;        /* UV_* events conn_poll watches now */
    uv_poll_t *wait_poll;   /* watcher of struct aio_wait.fd */
    struct aio_wait wait;   /* valid while WAITING */
    int wait_result;        /* set by whoever wakes the core */
    int ready_fd;           /* the fd that became ready */
    unsigned cancelled : 1; /* the client went away: every wait now fails */
    unsigned timed_out : 1; /* a uWSGI read/write timed out */
    uint64_t head_started;  /* loop time (ms) when the head phase began */
    struct aio_list head_node; /* in aio_engine.heads while HEAD */
    struct aio_request *req; /* the aio request being served, if any */
};

/* ---- options (parsed in the master, before fork) -------------------- */

struct aio_options {
    long cores;        /* `aio = N` */
    size_t stack_size; /* `aio-stack-size` */
    char **views;      /* `aio-views`, in order */
    size_t nviews;
};

/* ---- the engine ----------------------------------------------------- */

struct aio_stats {
    uint64_t requests;  /* request heads completed */
    uint64_t cancelled; /* requests whose client went away */
    uint64_t evicted;   /* slow heads dropped to free a core */
    uint64_t evicted_reported;
    uint64_t rejected;  /* malformed or oversized request heads */
};

struct aio_engine {
    struct aio_options opts;
    int selected; /* `aio = N` chose this loop engine */
    struct aio_registry registry;
    volatile int *startup_failed; /* shared with the master (pre-fork) */

    /* worker-side state */
    int running;
    pthread_t loop_thread;
    uv_loop_t loop;
    struct aio_core *cores;
    int ncores;
    int busy;                  /* cores not FREE */
    struct aio_core *current;  /* core whose coroutine runs, or NULL */
    struct aio_list heads;   /* cores in the HEAD state, oldest first */
    struct aio_list pending; /* connections accepted without a core, oldest first */
    int npending;
    int max_pending;
    char *peek_buf; /* uwsgi.buffer_size bytes, to look at pending heads */
    struct aio_list lingering; /* sockets closing after an error response */
    uv_timer_t dispatch; /* hands freed cores to pending connections */
    uv_poll_t *listeners;
    int nlisteners;
    int listening;
    int accept_error_logged;
    uv_poll_t signal_polls[2];
    int nsignal_polls;
    uv_timer_t tick;
    uv_async_t wakeup;
    volatile sig_atomic_t stop_signals;
    int stopping;
    int exit_code;
    struct aio_stats stats;
};

extern struct aio_engine aio_engine;

/* ---- loop.c: the engine, cores and their coroutines ------------------ */

void aio_loop_run(void);
/* Runs a core's coroutine until it suspends or ends (then frees the core). */
void aio_core_run(struct aio_core *core);
/* The request head is complete: start the request's coroutine. */
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
/* The core whose coroutine is running on this thread, or NULL. */
struct aio_core *aio_running_core(void);
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
int aio_pending_count(void);
void aio_pending_close_all(void);
/* Half-closes fd after an error response and closes it once the client
 * has hung up or a short delay passed (see accept.c). */
void aio_linger_close(int fd);
void aio_linger_close_all(void);

/* ---- suspend.c: suspending coroutines, uWSGI's wait hooks ------------ */

/* Suspends the running core's coroutine (see struct aio_wait). Returns
 * AIO_OK (timeout of a pure sleep), > 0 (ready events; core->ready_fd),
 * AIO_ETIMEDOUT, AIO_ECANCELLED or AIO_EBUSY/AIO_EINVAL/AIO_ERROR. */
int aio_core_wait(struct aio_core *core, const struct aio_wait *wait);
/* Client fd events for a WAITING core. */
void aio_core_conn_event(struct aio_core *core, int status, int events);
/* Marks the request cancelled and wakes it if it waits. */
void aio_core_cancel(struct aio_core *core, const char *why);
void aio_install_wait_hooks(void);

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
