/* loop.c - the libuv loop engine (SPEC §3).
 *
 * One libuv loop per worker drives everything: it accepts on uWSGI's
 * sockets, feeds request heads to uWSGI's protocol parsers without
 * blocking, runs each request in its async core's coroutine, and wakes
 * suspended coroutines when their fd, timer or client disconnect fires.
 *
 * Life of a connection:
 *   accept -> HEAD (parser fed on readability, deadline = socket-timeout)
 *          -> ACTIVE (coroutine runs uWSGI's request hook for the modifier)
 *          <-> WAITING (coroutine suspended in aio_core_wait)
 *          -> FREE (request closed, core back in uWSGI's unused stack)
 *
 * The client fd is only registered with epoll when needed: a request whose
 * head arrives with the connection and whose view never suspends costs no
 * epoll_ctl calls at all.
 */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

extern struct uwsgi_server uwsgi;

struct aio_engine aio_engine;

#define ACCEPT_BATCH 64
#define TICK_MS 250
/* When every core is busy, a connection that has not completed its request
 * head after this long may be dropped to serve a new one (slowloris). */
#define EVICT_AFTER_MS 1000

static void on_conn_event(uv_poll_t *poll, int status, int events);
static void core_run(struct aio_core *core);
static void listeners_start(void);

static struct aio_core *core_of(struct wsgi_request *wsgi_req)
{
    return &aio_engine.cores[wsgi_req->async_id];
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

/* ---- the head-phase list (oldest first) ----------------------------- */

static void head_push(struct aio_core *core)
{
    core->head_started = uv_now(&aio_engine.loop);
    core->head_next = NULL;
    core->head_prev = aio_engine.head_last;
    if (aio_engine.head_last)
        aio_engine.head_last->head_next = core;
    else
        aio_engine.head_first = core;
    aio_engine.head_last = core;
}

static void head_remove(struct aio_core *core)
{
    if (core->head_prev)
        core->head_prev->head_next = core->head_next;
    else
        aio_engine.head_first = core->head_next;
    if (core->head_next)
        core->head_next->head_prev = core->head_prev;
    else
        aio_engine.head_last = core->head_prev;
    core->head_prev = core->head_next = NULL;
}

/* ---- watching the client connection ----------------------------------- */

static int conn_watch(struct aio_core *core, int events)
{
    if (core->conn_events == events)
        return AIO_OK;
    if (!core->conn_poll) {
        if (!events)
            return AIO_OK;
        uv_poll_t *poll = malloc(sizeof(*poll));
        if (!poll)
            return AIO_ENOMEM;
        int rc = uv_poll_init(&aio_engine.loop, poll, core->wsgi_req->fd);
        if (rc) {
            aio_log("cannot watch client fd %d: %s", core->wsgi_req->fd, uv_strerror(rc));
            free(poll);
            return AIO_ERROR;
        }
        poll->data = core;
        core->conn_poll = poll;
    }
    int rc = events ? uv_poll_start(core->conn_poll, events, on_conn_event)
                    : uv_poll_stop(core->conn_poll);
    if (rc) {
        aio_log("cannot watch client fd %d: %s", core->wsgi_req->fd, uv_strerror(rc));
        return AIO_ERROR;
    }
    core->conn_events = events;
    return AIO_OK;
}

/* Must run before the client fd is closed: epoll forgets the fd now and a
 * new connection may reuse its number at once. */
static void conn_unwatch(struct aio_core *core)
{
    if (core->conn_poll) {
        uv_close((uv_handle_t *)core->conn_poll, free_handle);
        core->conn_poll = NULL;
    }
    core->conn_events = 0;
}

/* ---- core lifecycle --------------------------------------------------- */

static void stop_if_idle(void)
{
    if (aio_engine.stopping && aio_engine.busy == 0)
        uv_stop(&aio_engine.loop);
}

static void core_release(struct aio_core *core)
{
    core->state = AIO_CORE_FREE;
    core->cancelled = 0;
    core->timed_out = 0;
    core->req = NULL;
    uwsgi.async_queue_unused_ptr++;
    uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = core->wsgi_req;
    aio_engine.busy--;
    if (!aio_engine.listening && !aio_engine.stopping)
        listeners_start();
    stop_if_idle();
}

static int is_plain_http(const struct uwsgi_socket *sock)
{
    return sock->proto_name &&
           (strcmp(sock->proto_name, "http") == 0 || strcmp(sock->proto_name, "http11") == 0);
}

/* Best effort: the connection is about to be closed anyway. */
static void send_error(struct wsgi_request *wsgi_req, int status, const char *reason)
{
    char response[256];
    int n = snprintf(response, sizeof(response),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%d %s\n",
                     status, reason, strlen(reason) + 5, status, reason);
    if (n > 0 && send(wsgi_req->fd, response, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* nothing to do: the client is gone or not reading */
    }
}

/* Ends a connection whose request never reached a view. */
static void head_abort(struct aio_core *core, int status, const char *reason)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    if (core->state == AIO_CORE_HEAD)
        head_remove(core);
    uv_timer_stop(&core->timer);
    conn_unwatch(core);
    if (status && is_plain_http(wsgi_req->socket))
        send_error(wsgi_req, status, reason);
    uwsgi_destroy_request(wsgi_req); /* closes the fd, frees parser buffers */
    uwsgi.workers[uwsgi.mywid].cores[core->id].in_request = 0;
    core_release(core);
}

/* The parser gave up: tell a plain HTTP client why when we can. */
static void head_failed(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    int status = 0;
    const char *reason = NULL;
    if (is_plain_http(wsgi_req->socket) && wsgi_req->proto_parser_buf) {
        if (wsgi_req->proto_parser_pos >= uwsgi.buffer_size) {
            status = 431;
            reason = "Request Header Fields Too Large";
        } else if (memmem(wsgi_req->proto_parser_buf, wsgi_req->proto_parser_pos, "\r\n\r\n", 4)) {
            status = 400; /* complete head, but malformed */
            reason = "Bad Request";
        }
    }
    if (status) {
        aio_engine.stats.rejected++;
        aio_log("rejected a request head from fd %d: %d %s", wsgi_req->fd, status, reason);
    }
    head_abort(core, status, reason);
}

static void core_main(void *arg);

static void head_feed(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    uwsgi.wsgi_req = wsgi_req;
    int status = wsgi_req->socket->proto(wsgi_req);
    if (status == UWSGI_AGAIN) {
        if (conn_watch(core, UV_READABLE) != AIO_OK)
            head_abort(core, 503, "Service Unavailable");
        return;
    }
    if (status < 0) {
        head_failed(core);
        return;
    }
    head_remove(core);
    uv_timer_stop(&core->timer);
    if (conn_watch(core, 0) != AIO_OK) {
        head_abort(core, 503, "Service Unavailable");
        return;
    }
    aio_engine.stats.requests++;
    aio_coro_prepare(&core->coro, core_main, core);
    core_run(core);
}

static void on_head_timeout(uv_timer_t *timer)
{
    struct aio_core *core = timer->data;
    struct wsgi_request *wsgi_req = core->wsgi_req;
    /* A connection that never sent a byte is closed quietly, as browsers
     * open spare connections they may never use. */
    int started = wsgi_req->proto_parser_pos > 0;
    if (started)
        aio_log("request head not complete after %d s (socket-timeout), answering 408",
                uwsgi.socket_timeout);
    head_abort(core, started ? 408 : 0, "Request Timeout");
}

static void core_begin(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    aio_engine.busy++;
    uwsgi.workers[uwsgi.mywid].cores[wsgi_req->async_id].in_request = 1;
    wsgi_req->start_of_request = uwsgi_micros();
    wsgi_req->start_of_request_in_sec = wsgi_req->start_of_request / 1000000;
    core->state = AIO_CORE_HEAD;
    head_push(core);
    uv_timer_start(&core->timer, on_head_timeout, (uint64_t)uwsgi.socket_timeout * 1000, 0);
    /* Optimistic: the head often arrives with the connection. */
    head_feed(core);
}

/* Drops the oldest slow head when the worker is full (see EVICT_AFTER_MS). */
static int evict_slow_head(void)
{
    struct aio_core *oldest = aio_engine.head_first;
    if (!oldest || uv_now(&aio_engine.loop) - oldest->head_started < EVICT_AFTER_MS)
        return 0;
    aio_engine.stats.evicted++;
    head_abort(oldest, 408, "Request Timeout");
    return 1;
}

/* ---- accepting ---------------------------------------------------------- */

static void on_listener(uv_poll_t *poll, int status, int events);

static void listeners_start(void)
{
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_poll_start(&aio_engine.listeners[i], UV_READABLE, on_listener);
    aio_engine.listening = 1;
}

static void listeners_stop(void)
{
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_poll_stop(&aio_engine.listeners[i]);
    aio_engine.listening = 0;
}


static void on_listener(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct uwsgi_socket *sock = poll->data;
    if (status < 0) {
        aio_log("listening socket %s: %s", sock->name, uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !aio_engine.stopping; i++) {
        struct wsgi_request *wsgi_req = find_first_available_wsgi_req();
        if (!wsgi_req) {
            if (evict_slow_head()) {
                i--;
                continue;
            }
            /* New connections wait in the listen backlog until a core frees. */
            uwsgi_async_queue_is_full(uwsgi_now());
            listeners_stop();
            return;
        }
        uwsgi.wsgi_req = wsgi_req;
        wsgi_req_setup(wsgi_req, wsgi_req->async_id, sock);
        if (wsgi_req_simple_accept(wsgi_req, sock->fd)) {
            /* EAGAIN (another worker won the race) or an accept error */
            uwsgi.async_queue_unused_ptr++;
            uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = wsgi_req;
            return;
        }
        core_begin(core_of(wsgi_req));
    }
}

/* ---- running coroutines ------------------------------------------------ */

static void core_run(struct aio_core *core)
{
    aio_engine.current = core;
    uwsgi.wsgi_req = core->wsgi_req;
    core->state = AIO_CORE_ACTIVE;
    aio_coro_resume(&core->coro);
    aio_engine.current = NULL;
    if (aio_coro_finished(&core->coro))
        core_release(core);
}

/* The body of every request coroutine: uWSGI's routing and the request
 * hook of the modifier (normally ours), then uWSGI's request close. */
static void core_main(void *arg)
{
    struct aio_core *core = arg;
    struct wsgi_request *wsgi_req = core->wsgi_req;
#ifdef UWSGI_ROUTING
    if (uwsgi_apply_routes(wsgi_req) != UWSGI_ROUTE_BREAK)
#endif
    {
        for (;;) {
            wsgi_req->async_status = uwsgi.p[wsgi_req->uh->modifier1]->request(wsgi_req);
            if (wsgi_req->async_status <= UWSGI_OK)
                break;
            /* another plugin asked to be called again: yield one turn */
            wsgi_req->switches++;
            struct aio_wait turn = {0, -1, 0, 0};
            aio_core_wait(core, &turn);
        }
    }
    conn_unwatch(core);
    uwsgi.wsgi_req = wsgi_req;
    uwsgi_close_request(wsgi_req);
}

static void core_wake(struct aio_core *core, int result)
{
    if (core->state != AIO_CORE_WAITING)
        return;
    core->wait_result = result;
    core_run(core);
}

static int to_uv_events(int aio_events)
{
    return ((aio_events & AIO_READ) ? UV_READABLE : 0) |
           ((aio_events & AIO_WRITE) ? UV_WRITABLE : 0);
}

static int from_uv_events(int uv_events)
{
    return ((uv_events & UV_READABLE) ? AIO_READ : 0) |
           ((uv_events & UV_WRITABLE) ? AIO_WRITE : 0);
}

static void cancel_core(struct aio_core *core, const char *why)
{
    if (!core->cancelled) {
        core->cancelled = 1;
        aio_engine.stats.cancelled++;
        struct wsgi_request *w = core->wsgi_req;
        aio_log("%.*s %.*s: %s after %.3f s, request cancelled", (int)w->method_len, w->method,
                (int)w->uri_len, w->uri, why,
                (double)(uwsgi_micros() - w->start_of_request) / 1e6);
    }
    if (core->conn_poll)
        conn_watch(core, 0);
    core_wake(core, AIO_ECANCELLED);
}

static void on_conn_event(uv_poll_t *poll, int status, int events)
{
    struct aio_core *core = poll->data;
    if (status < 0)
        core->conn_events = 0; /* libuv stopped the watcher */
    switch (core->state) {
    case AIO_CORE_HEAD:
        head_feed(core); /* the parser's read reports EOF or errors itself */
        return;
    case AIO_CORE_WAITING: {
        int ready = status < 0 ? core->wait.client_events : from_uv_events(events);
        ready &= core->wait.client_events;
        if (ready) {
            core->ready_fd = core->wsgi_req->fd;
            core_wake(core, ready);
        } else if (status < 0 || (events & UV_DISCONNECT)) {
            cancel_core(core, "client went away");
        }
        return;
    }
    default:
        conn_watch(core, 0);
        return;
    }
}

static void on_wait_fd(uv_poll_t *poll, int status, int events)
{
    struct aio_core *core = poll->data;
    /* On an error report the fd ready, as poll(2) does: the caller's next
     * read or write returns the error. */
    int ready = (status < 0 ? core->wait.fd_events : from_uv_events(events)) & core->wait.fd_events;
    if (!ready)
        return;
    core->ready_fd = core->wait.fd;
    core_wake(core, ready);
}

static void on_wait_timeout(uv_timer_t *timer)
{
    struct aio_core *core = timer->data;
    int is_sleep = core->wait.fd < 0 && !core->wait.client_events;
    core_wake(core, is_sleep ? AIO_OK : AIO_ETIMEDOUT);
}

static int watch_other_fd(struct aio_core *core, int fd, int events)
{
    uv_poll_t *poll = malloc(sizeof(*poll));
    if (!poll)
        return AIO_ENOMEM;
    int rc = uv_poll_init(&aio_engine.loop, poll, fd);
    if (rc) {
        free(poll);
        if (rc == UV_EEXIST)
            return AIO_EBUSY; /* libuv allows one watcher per fd */
        aio_log("cannot wait on fd %d: %s", fd, uv_strerror(rc));
        return AIO_EINVAL;
    }
    poll->data = core;
    rc = uv_poll_start(poll, to_uv_events(events), on_wait_fd);
    if (rc) {
        aio_log("cannot wait on fd %d: %s", fd, uv_strerror(rc));
        uv_close((uv_handle_t *)poll, free_handle);
        return AIO_ERROR;
    }
    core->wait_poll = poll;
    return AIO_OK;
}

int aio_core_wait(struct aio_core *core, const struct aio_wait *wait)
{
    if (core->cancelled)
        return AIO_ECANCELLED;
    int rc = conn_watch(core, to_uv_events(wait->client_events) | UV_DISCONNECT);
    if (rc == AIO_OK && wait->fd >= 0)
        rc = watch_other_fd(core, wait->fd, wait->fd_events);
    if (rc != AIO_OK)
        return rc;
    if (wait->timeout_ms >= 0)
        uv_timer_start(&core->timer, on_wait_timeout, (uint64_t)wait->timeout_ms, 0);
    core->wait = *wait;
    core->wait_result = AIO_ERROR;
    core->ready_fd = -1;
    core->state = AIO_CORE_WAITING;
    aio_coro_yield(&core->coro);
    /* resumed by core_wake() */
    uv_timer_stop(&core->timer);
    if (core->wait_poll) {
        uv_close((uv_handle_t *)core->wait_poll, free_handle);
        core->wait_poll = NULL;
    }
    /* Keep only the disconnect watch between waits: re-arming it costs
     * two epoll_ctl calls per wait otherwise. */
    if (wait->client_events && !core->cancelled)
        conn_watch(core, UV_DISCONNECT);
    return core->wait_result;
}

struct aio_core *aio_running_core(void)
{
    if (!aio_engine.running || !pthread_equal(pthread_self(), aio_engine.loop_thread))
        return NULL;
    return aio_engine.current;
}

/* ---- uWSGI's wait hooks: uWSGI's own blocking reads and writes ---------- */

static int hook_result(struct aio_core *core, int rc)
{
    if (rc > 0)
        return 1;
    if (rc == AIO_ETIMEDOUT) {
        core->timed_out = 1;
        return 0;
    }
    return -1;
}

static int hook_timeout_ms(int timeout_s)
{
    return timeout_s > 0 ? timeout_s * 1000 : -1;
}

static int hook_wait_fd(int fd, int timeout_s, int events)
{
    struct aio_core *core = aio_running_core();
    if (!core) /* not in a coroutine: plain blocking poll */
        return events == AIO_READ ? uwsgi_simple_wait_read_hook(fd, timeout_s)
                                  : uwsgi_simple_wait_write_hook(fd, timeout_s);
    struct aio_wait wait = {0, -1, 0, hook_timeout_ms(timeout_s)};
    if (fd == core->wsgi_req->fd) {
        wait.client_events = events;
    } else {
        wait.fd = fd;
        wait.fd_events = events;
    }
    return hook_result(core, aio_core_wait(core, &wait));
}

static int hook_wait_read(int fd, int timeout_s)
{
    return hook_wait_fd(fd, timeout_s, AIO_READ);
}

static int hook_wait_write(int fd, int timeout_s)
{
    return hook_wait_fd(fd, timeout_s, AIO_WRITE);
}

static int hook_wait_read2(int fd0, int fd1, int timeout_s, int *fd)
{
    struct aio_core *core = aio_running_core();
    if (!core)
        return uwsgi_simple_wait_read2_hook(fd0, fd1, timeout_s, fd);
    int client = core->wsgi_req->fd;
    if (fd0 != client && fd1 != client) {
        aio_log("waiting on two fds needs one of them to be the client connection");
        return -1;
    }
    struct aio_wait wait = {AIO_READ, fd0 == client ? fd1 : fd0, AIO_READ,
                            hook_timeout_ms(timeout_s)};
    int rc = hook_result(core, aio_core_wait(core, &wait));
    if (rc > 0)
        *fd = core->ready_fd;
    return rc;
}

static int hook_wait_milliseconds(int ms)
{
    struct aio_core *core = aio_running_core();
    if (!core)
        return uwsgi_simple_wait_milliseconds_hook(ms);
    struct aio_wait wait = {0, -1, 0, ms > 0 ? ms : 0};
    return aio_core_wait(core, &wait) == AIO_OK ? 0 : -1;
}

/* uWSGI's "give the other cores a turn" (e.g. uwsgi.suspend()). */
static void hook_schedule_to_main(struct wsgi_request *wsgi_req)
{
    struct aio_core *core = aio_running_core();
    if (!core || core->wsgi_req != wsgi_req)
        return;
    struct aio_wait turn = {0, -1, 0, 0};
    aio_core_wait(core, &turn);
}

/* ---- signals, housekeeping and stopping -------------------------------- */

static void cancel_all_waiting(void)
{
    for (int i = 0; i < aio_engine.ncores; i++) {
        struct aio_core *core = &aio_engine.cores[i];
        if (core->state == AIO_CORE_WAITING)
            cancel_core(core, "worker stopping");
    }
}

static void begin_stop(int exit_code)
{
    if (aio_engine.stopping)
        return;
    aio_engine.stopping = 1;
    aio_engine.exit_code = exit_code;
    uwsgi.workers[uwsgi.mywid].manage_next_request = 0;
    listeners_stop();
    aio_log("worker %d (pid %d) stopping gracefully, %d request(s) in flight", uwsgi.mywid,
            (int)getpid(), aio_engine.busy);
    stop_if_idle();
}

/* SIGHUP: first a graceful stop, a second one cancels what still waits. */
static void on_sighup(int signum)
{
    (void)signum;
    aio_engine.stop_signals++;
    uv_async_send(&aio_engine.wakeup);
}

static void on_wakeup(uv_async_t *async)
{
    (void)async;
    if (aio_engine.stop_signals >= 1)
        begin_stop(UWSGI_RELOAD_CODE);
    if (aio_engine.stop_signals >= 2)
        cancel_all_waiting();
}

void aio_engine_request_stop(int exit_code)
{
    if (aio_engine.running)
        begin_stop(exit_code);
}

static void on_tick(uv_timer_t *timer)
{
    (void)timer;
    if (!uwsgi.workers[uwsgi.mywid].manage_next_request)
        begin_stop(0);
    uint64_t evicted = aio_engine.stats.evicted - aio_engine.stats.evicted_reported;
    if (evicted) {
        aio_log("worker full: dropped %llu connection(s) still sending their request head "
                "after %d ms",
                (unsigned long long)evicted, EVICT_AFTER_MS);
        aio_engine.stats.evicted_reported = aio_engine.stats.evicted;
    }
    if (!aio_engine.listening && !aio_engine.stopping)
        evict_slow_head(); /* frees a core, which restarts the listeners */
}

static void on_signal_socket(uv_poll_t *poll, int status, int events)
{
    (void)events;
    uv_os_fd_t fd;
    if (status == 0 && uv_fileno((uv_handle_t *)poll, &fd) == 0)
        uwsgi_receive_signal(fd, "worker", uwsgi.mywid);
}

/* ---- set-up and tear-down ------------------------------------------- */

static int init_cores(void)
{
    aio_engine.ncores = uwsgi.async;
    aio_engine.cores = calloc((size_t)aio_engine.ncores, sizeof(*aio_engine.cores));
    if (!aio_engine.cores)
        return AIO_ENOMEM;
    for (int i = 0; i < aio_engine.ncores; i++) {
        struct aio_core *core = &aio_engine.cores[i];
        core->id = i;
        core->wsgi_req = &uwsgi.workers[uwsgi.mywid].cores[i].req;
        core->wait.fd = -1;
        uv_timer_init(&aio_engine.loop, &core->timer);
        core->timer.data = core;
        if (aio_coro_init(&core->coro, aio_engine.opts.stack_size) != AIO_OK) {
            aio_log("cannot allocate the stack of async core %d (%zu bytes): %s; lower `aio` "
                    "or `aio-stack-size`, or raise vm.max_map_count",
                    i, aio_engine.opts.stack_size, strerror(errno));
            return AIO_ENOMEM;
        }
    }
    return AIO_OK;
}

static int init_listeners(void)
{
    int n = 0;
    for (struct uwsgi_socket *s = uwsgi.sockets; s; s = s->next)
        n += s->fd >= 0;
    aio_engine.listeners = calloc(n ? (size_t)n : 1, sizeof(*aio_engine.listeners));
    if (!aio_engine.listeners)
        return AIO_ENOMEM;
    for (struct uwsgi_socket *s = uwsgi.sockets; s; s = s->next) {
        if (s->fd < 0)
            continue;
        uv_poll_t *poll = &aio_engine.listeners[aio_engine.nlisteners];
        int rc = uv_poll_init(&aio_engine.loop, poll, s->fd);
        if (rc) {
            aio_log("cannot watch socket %s: %s", s->name, uv_strerror(rc));
            return AIO_ERROR;
        }
        poll->data = s;
        aio_engine.nlisteners++;
    }
    return AIO_OK;
}

static void init_signal_sockets(void)
{
    if (uwsgi.signal_socket < 0)
        return;
    int fds[2] = {uwsgi.signal_socket, uwsgi.my_signal_socket};
    for (int i = 0; i < 2; i++) {
        uv_poll_t *poll = &aio_engine.signal_polls[aio_engine.nsignal_polls];
        if (uv_poll_init(&aio_engine.loop, poll, fds[i]) == 0) {
            uv_poll_start(poll, UV_READABLE, on_signal_socket);
            aio_engine.nsignal_polls++;
        }
    }
}

static void install_hooks(void)
{
    uwsgi.wait_read_hook = hook_wait_read;
    uwsgi.wait_write_hook = hook_wait_write;
    uwsgi.wait_read2_hook = hook_wait_read2;
    uwsgi.wait_milliseconds_hook = hook_wait_milliseconds;
    uwsgi.schedule_to_main = hook_schedule_to_main;
    uwsgi_unix_signal(SIGHUP, on_sighup);
}

static void close_all_handles(void)
{
    for (int i = 0; i < aio_engine.ncores; i++)
        uv_close((uv_handle_t *)&aio_engine.cores[i].timer, NULL);
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_close((uv_handle_t *)&aio_engine.listeners[i], NULL);
    for (int i = 0; i < aio_engine.nsignal_polls; i++)
        uv_close((uv_handle_t *)&aio_engine.signal_polls[i], NULL);
    uv_close((uv_handle_t *)&aio_engine.tick, NULL);
    uv_close((uv_handle_t *)&aio_engine.wakeup, NULL);
    uv_run(&aio_engine.loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    if (uv_loop_close(&aio_engine.loop))
        aio_log("libuv loop still has open handles at exit");
}

static void teardown(void)
{
    close_all_handles();
    for (int i = 0; i < aio_engine.ncores; i++)
        aio_coro_destroy(&aio_engine.cores[i].coro);
    free(aio_engine.cores);
    free(aio_engine.listeners);
    aio_registry_free(&aio_engine.registry);
    aio_engine.cores = NULL;
    aio_engine.listeners = NULL;
}

void aio_loop_run(void)
{
    if (uv_loop_init(&aio_engine.loop)) {
        aio_log("cannot create the libuv loop");
        exit(1);
    }
    aio_engine.loop_thread = pthread_self();
    aio_worker_construct_app(); /* exits on configuration errors */
    if (init_cores() != AIO_OK || init_listeners() != AIO_OK)
        exit(1);
    init_signal_sockets();
    uv_timer_init(&aio_engine.loop, &aio_engine.tick);
    uv_timer_start(&aio_engine.tick, on_tick, TICK_MS, TICK_MS);
    uv_async_init(&aio_engine.loop, &aio_engine.wakeup, on_wakeup);
    install_hooks();
    aio_engine.running = 1;
    listeners_start();

    uv_run(&aio_engine.loop, UV_RUN_DEFAULT);

    aio_engine.running = 0;
    aio_log("worker %d (pid %d) done: %llu request(s), %llu cancelled, %llu slow head(s) "
            "dropped, %llu rejected",
            uwsgi.mywid, (int)getpid(), (unsigned long long)aio_engine.stats.requests,
            (unsigned long long)aio_engine.stats.cancelled,
            (unsigned long long)aio_engine.stats.evicted,
            (unsigned long long)aio_engine.stats.rejected);
    teardown();
    exit(aio_engine.exit_code);
}
