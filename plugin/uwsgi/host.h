/* host.h - the uWSGI host: the only part of uwsgi-aio that includes
 * uwsgi.h. It puts the engine in a uWSGI worker (worker.c), owns the
 * async cores and their state machine (core.c), accepts and parks
 * connections (accept.c), closes error responses gently (linger.c), turns
 * uWSGI's parsed request into a framework request and back into bytes
 * (handler.c), and makes uWSGI's own blocking calls suspend (waithooks.c).
 * Its state is struct aio__host. */
#ifndef AIO_UWSGI_HOST_H
#define AIO_UWSGI_HOST_H

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include "app/app.h"
#include "engine/engine.h"
#include "proto/chunked.h"

struct wsgi_request;
struct uwsgi_socket;

/* ---- async cores: one request each ------------------------------------ */

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
    struct aio_list head_node; /* in aio__host.heads while HEAD */
    /* RUNNING, uWSGI's code waiting for the client (its body, room for the
     * response): since when, and its place in aio__host.client_waits */
    uint64_t client_wait_started;
    struct aio_list client_wait_node;
    /* HTTP/1.x (http1.c): the head's buffer (at least buffer-size; more
     * with pipelined requests carried over), what the head asked for */
    size_t head_buf_size;
    int http_minor;
    int expect_continue;
    int wants_keepalive; /* http11-socket and the head asks for it */
    int persist;         /* decided: the connection carries another request */
    int upgraded;        /* a websocket session had the connection: close it plainly */
    /* the request body (body.c) */
    int head_chunked;    /* the head said Transfer-Encoding: chunked */
    int body_chunked, body_expected, body_done;
    uint64_t body_seen;  /* bytes of a chunked body decoded so far */
    uint64_t body_started_ms;
    struct aio_chunked chunked;
    char *chunk_in;      /* raw bytes of a chunked body, decoded from chunk_in_pos */
    size_t chunk_in_len, chunk_in_pos;
    int stream_chunked;  /* a streamed response: its body is chunked */
    int stream_body;     /* ... and has one (not HEAD, not 204/304) */
    uint64_t conn_requests; /* requests served on this connection before this one */
};

struct aio_host_stats {
    uint64_t requests; /* request heads completed */
    uint64_t evicted;  /* slow heads dropped to free a core */
    uint64_t evicted_reported;
    uint64_t rejected; /* malformed or oversized request heads */
    uint64_t responses[5]; /* by status class: 1xx ... 5xx */
};

/* In memory shared by the master and every worker (allocated pre-fork). */
struct aio_host_shared {
    volatile int startup_failed; /* a worker could not construct the app */
    volatile int served;         /* a worker has constructed it and accepts */
};

struct aio__host {
    int selected; /* `aio = N` chose this loop engine */
    size_t head_size; /* the longest HTTP request head: the configured buffer-size */
    struct aio_host_shared *shared;
    struct aio_core *cores;
    int ncores;
    struct aio_list heads;   /* cores in the HEAD state, oldest first */
    struct aio_list client_waits; /* cores waiting for their client, oldest first */
    struct aio_list pending; /* connections accepted without a core, oldest first */
    int npending;
    struct aio_list idle;    /* kept-alive connections between requests, oldest first */
    int nidle;
    int max_pending;
    char *peek_buf;            /* uwsgi.buffer_size bytes, to look at pending heads */
    struct aio_list lingering; /* sockets closing after an error response */
    uv_poll_t *listeners;
    int nlisteners;
    int listening;
    int accept_error_logged;
    uv_idle_t admit;           /* hands free cores out, resumes accepting */
    uv_poll_t signal_polls[2];
    int nsignal_polls;
    uv_timer_t tick;
    uv_async_t wakeup;
    volatile sig_atomic_t stop_signals;
    int exit_code;
    struct aio_host_stats stats;
};

extern struct aio__host aio__host;

/* ---- core.c: the async-core state machine ------------------------------ */

/* Sets up the cores (their coroutines, tasks and connections). */
int aio__cores_init(void);
void aio__cores_close(void);
void aio__cores_free(void);
/* What a connection brings to the core that takes it. */
struct aio_conn_handoff {
    uint64_t accepted;      /* loop time its head's deadline counts from */
    struct aio_conn *watch; /* whose watcher of its fd it takes over, or NULL */
    /* bytes of its next request read already, taken over as the head's
     * buffer: malloc()ed with room for max(carry_len, buffer-size) bytes */
    char *carry;
    size_t carry_len;
    uint64_t requests;      /* requests served on it before */
};
/* FREE -> HEAD: the connection is accepted into `wsgi_req` (or its next
 * request has begun to arrive after a kept-alive response): read its
 * head. */
void aio__core_begin(struct wsgi_request *wsgi_req, struct aio_conn_handoff *from);
/* Frees a core for a complete request that waits: drops the oldest core
 * still reading its head, or else the one that has waited longest for its
 * client to send more of its body or to read more of its response (a
 * trickled upload, a reader that does not read), if that has lasted over
 * `min_age_ms`. 1 when one was dropped. */
int aio__core_evict_slowest(uint64_t min_age_ms);
/* uWSGI's code in `core`'s coroutine waits for its client (waithooks.c). */
void aio__core_client_wait_begin(struct aio_core *core);
void aio__core_client_wait_end(struct aio_core *core);
/* Cores not FREE. */
int aio__cores_busy(void);
/* Worker stopping for good: cancels every request that still waits. */
void aio__cores_cancel_waiting(void);
/* The task's core, or NULL (a spawned task). */
struct aio_core *aio__core_of_task(struct aio_task *task);

/* ---- accept.c: listeners and the parking lot ---------------------------- */

int aio__listeners_init(void);
void aio__listeners_start(void);
void aio__listeners_stop(void);
void aio__listeners_close(void);
void aio__listeners_free(void);
/* Hands free cores to parked connections and resumes accepting when there
 * is room again: soon, from the loop's top level. */
void aio__admit_soon(void);
/* Periodic: re-examines parked heads, expires slow ones. */
void aio__accept_tick(void);
void aio__pending_close_all(void);
/* The status line and body of an error answered without a request. */
void aio__send_error(int fd, int status);
/* A kept-alive connection after its response: parked without a core until
 * its next request arrives (or at once, with `carry_len` bytes of it
 * already read; `carry` is taken over), closed after aio-keepalive-timeout
 * idle seconds. */
void aio__keepalive_park(struct uwsgi_socket *sock, struct aio_conn *conn, const void *addr,
                         socklen_t addr_len, char *carry, size_t carry_len, uint64_t requests);
/* Closes every idle kept-alive connection (the worker stops). */
void aio__keepalive_close_all(void);

/* ---- http1.c: HTTP/1.x heads, keep-alive --------------------------------- */

/* 1 for an http-socket or http11-socket (a plain HTTP client), 0 for the
 * uwsgi protocol. */
int aio__is_plain_http(const struct uwsgi_socket *sock);
/* Reads and parses the head of `core`'s request (plain HTTP) from what it
 * has and what the socket gives now: UWSGI_OK (uWSGI's request is ready),
 * UWSGI_AGAIN (wait for more), -1 (the client hung up) or
 * AIO_HTTP1_INVALID with the status to answer and why. */
#define AIO_HTTP1_INVALID (-100)
int aio__http1_read_head(struct aio_core *core, int *status, const char **why);
/* A connection's first request begins: TCP_NODELAY on an http11-socket. */
void aio__http1_new_connection(struct wsgi_request *w);
/* After the response of `status`: may the connection carry another
 * request? */
int aio__http1_may_persist(struct aio_core *core, int status);
/* Answers "100 Continue" before the body is read, if the head expects it. */
void aio__http1_send_continue(struct aio_core *core);
/* "Sun, 06 Nov 1994 08:49:37 GMT", formatted once per second. */
const char *aio__http_date_now(void);

/* ---- linger.c ------------------------------------------------------------ */

/* Half-closes fd after an error response and closes it once the client
 * has hung up or a short delay passed. */
void aio__linger_close(int fd);
void aio__linger_close_all(void);

/* ---- worker.c: the loop engine in a uWSGI worker -------------------------- */

/* uWSGI's loop function for `loop = aio`: runs the worker to its end. */
void aio__loop_run(void);
/* Ask the worker to stop gracefully. */
void aio__worker_request_stop(int exit_code);

/* ---- plugin.c -------------------------------------------------------------- */

/* Runs the view modules' aio_main() in this worker (with lazy-apps it opens
 * the modules first). On a configuration error it never returns: at
 * start-up it reports once and stops the whole instance; once the instance
 * has served, the worker exits alone and uWSGI respawns it. */
void aio__worker_construct_app(void);

/* ---- handler.c ------------------------------------------------------------- */

/* uWSGI's request hook for our modifier: serves one request. */
int aio__handle_request(struct wsgi_request *wsgi_req);
/* The engine's aio_conn_ops.stream for `core`'s request (see there). */
int aio__respond_stream(struct aio_core *core, struct aio_request *req, const char *data,
                        size_t len, int end);
/* After-request hook: the uWSGI request log line. */
void aio__after_request(struct wsgi_request *wsgi_req);

/* ---- body.c: request bodies ---------------------------------------------------- */

/* Once the head is parsed: what body follows (Content-Length, or chunked). */
void aio__body_begin(struct aio_core *core, int chunked);
/* The engine's aio_conn_ops.read_body for the core's request. */
ssize_t aio__body_read(struct aio_core *core, char *buf, size_t len);
/* Reads and drops what the view left of the body, within a small limit:
 * 1 when the body is through (the connection may carry the next request). */
int aio__body_drain(struct aio_core *core);
/* Raw bytes read past a chunked body's end (the next request's), and
 * their count. */
size_t aio__body_unparsed(const struct aio_core *core, const char **bytes);
/* Frees the request's body buffers. */
void aio__body_end(struct aio_core *core);

/* ---- waithooks.c ------------------------------------------------------------- */

void aio__install_wait_hooks(void);

/* metrics.c: uWSGI's metrics "aio.*" (with enable-metrics). Register in
 * the master before uWSGI lays the metrics out; publish in each worker
 * (its counters, copied to where the master reads them). */
void aio__metrics_register(void);
void aio__metrics_count_response(int status);
void aio__metrics_publish(void);

/* The uWSGI app the requests are logged and counted under (app: N). */
extern int aio__app_id;

/* crash.c: in the worker, on the loop's thread: a fatal signal logs which
 * request was running before the worker dies. AIO_OK or AIO_ERROR. */
int aio__crash_reports_install(void);

#endif
