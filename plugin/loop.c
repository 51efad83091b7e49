/* loop.c - the libuv loop engine (SPEC §3).
 *
 * One libuv loop per worker drives everything: it accepts on uWSGI's
 * sockets (accept.c), feeds request heads to uWSGI's protocol parsers
 * without blocking, runs each request in its async core's coroutine, and
 * wakes suspended coroutines when their fd, timer or client disconnect
 * fires (suspend.c).
 *
 * Life of a core:
 *   FREE -> HEAD (connection accepted, head arriving; accept.c)
 *        -> RUNNING (its task's coroutine runs uWSGI's request hook:
 *                    handler.c; the task suspends and resumes: suspend.c)
 *        -> FREE (request closed, core back in uWSGI's unused stack)
 * Tasks started with aio_spawn() (task.c) are coroutines without a core.
 *
 * The client fd is only registered with epoll when needed: a request whose
 * head arrives with the connection and whose view never suspends costs no
 * epoll_ctl call at all.
 */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>

#include "internal.h"

extern struct uwsgi_server uwsgi;

#define TICK_MS 250

/* ---- the client connection ------------------------------------------- */

#define core_of_conn(c) aio_container_of(c, struct aio_core, conn)

static void on_conn_event(struct aio_conn *conn, int status, int events)
{
    struct aio_core *core = core_of_conn(conn);
    if (core->state == AIO_CORE_HEAD)
        aio_head_feed(core); /* the parser's read reports EOF and errors itself */
    else if (core->task.state == AIO_TASK_WAITING)
        aio_task_conn_event(&core->task, status, events);
    else
        aio_conn_watch(conn, 0);
}

/* The websocket layer's way to the connection: uWSGI's handshake and the
 * socket's protocol I/O (which hands out bytes read past the head first). */
static int conn_upgrade(struct aio_conn *conn, struct aio_request *req)
{
    (void)req;
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    return uwsgi_websocket_handshake(w, NULL, 0, NULL, 0, NULL, 0) ? AIO_ERROR : AIO_OK;
}

static ssize_t conn_read(struct aio_conn *conn, char *buf, size_t len)
{
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    return w->socket->proto_read_body(w, buf, len);
}

static enum aio_io_status conn_write(struct aio_conn *conn, const char *data, size_t len,
                                     size_t *pos)
{
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    w->write_pos = *pos;
    int rc = w->socket->proto_write(w, (char *)data, len);
    *pos = w->write_pos;
    w->write_pos = 0;
    return rc == UWSGI_OK ? AIO_IO_DONE : rc == UWSGI_AGAIN ? AIO_IO_AGAIN : AIO_IO_FAILED;
}

static const struct aio_conn_ops core_conn_ops = {
    .event = on_conn_event,
    .upgrade = conn_upgrade,
    .read = conn_read,
    .write = conn_write,
};

/* ---- listeners ------------------------------------------------------------ */

void aio_listeners_start(void)
{
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_poll_start(&aio_engine.listeners[i], UV_READABLE, aio_on_listener);
    aio_engine.listening = 1;
}

void aio_listeners_stop(void)
{
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_poll_stop(&aio_engine.listeners[i]);
    aio_engine.listening = 0;
}

/* ---- cores, tasks and their coroutines ----------------------------------- */

static void on_dispatch(uv_timer_t *timer)
{
    (void)timer;
    aio_pending_dispatch();
    aio_engine_check_stop();
}

void aio_core_release(struct aio_core *core)
{
    core->state = AIO_CORE_FREE;
    core->task.state = AIO_TASK_IDLE;
    core->task.cancelled = 0;
    core->task.timed_out = 0;
    core->task.req = NULL;
    uwsgi.async_queue_unused_ptr++;
    uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = core->wsgi_req;
    aio_engine.busy--;
    if (aio_engine.npending) /* from the loop's top level, not from here */
        uv_timer_start(&aio_engine.dispatch, on_dispatch, 0, 0);
    else if (!aio_engine.listening && !aio_engine.stopping)
        aio_listeners_start();
    aio_engine_check_stop();
}

/* uWSGI's functions find the current request in uwsgi.wsgi_req. */
static void core_task_resuming(struct aio_task *task)
{
    uwsgi.wsgi_req = task->core->wsgi_req;
}

static void core_task_finished(struct aio_task *task)
{
    aio_core_release(task->core);
}

static const struct aio_task_ops core_task_ops = {
    .resuming = core_task_resuming,
    .finished = core_task_finished,
};

/* The body of every request coroutine: uWSGI's internal routing and the
 * request hook of the modifier (normally ours), then uWSGI's request close,
 * exactly as uWSGI's own async engine does it. */
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
            struct aio_wait turn = {.fd = -1, .timeout_ms = 0};
            aio_task_wait(&core->task, &turn);
        }
    }
    aio_conn_unwatch(&core->conn);
    uwsgi.wsgi_req = wsgi_req;
    uwsgi_close_request(wsgi_req);
}

void aio_core_start(struct aio_core *core)
{
    aio_engine.stats.requests++;
    core->state = AIO_CORE_RUNNING;
    aio_coro_prepare(&core->task.coro, core_main, core);
    aio_task_run(&core->task);
}

/* ---- signals, housekeeping and stopping ---------------------------------- */

static void begin_stop(int exit_code)
{
    if (aio_engine.stopping)
        return;
    aio_engine.stopping = 1;
    aio_engine.exit_code = exit_code;
    uwsgi.workers[uwsgi.mywid].manage_next_request = 0;
    aio_listeners_stop();
    aio_log("worker %d (pid %d) stopping gracefully, %d request(s) in flight, %d task(s) "
            "cancelled",
            uwsgi.mywid, (int)getpid(), aio_engine.busy + aio_engine.npending, aio_engine.ntasks);
    aio_tasks_cancel_all();
    aio_websockets_going_away();
    aio_engine_check_stop();
}

/* SIGHUP: first a graceful stop; a second one cancels what still waits. */
static void on_sighup(int signum)
{
    (void)signum;
    aio_engine.stop_signals++;
    uv_async_send(&aio_engine.wakeup); /* async-signal-safe */
}

static void cancel_all_waiting(void)
{
    for (int i = 0; i < aio_engine.ncores; i++)
        if (aio_engine.cores[i].task.state == AIO_TASK_WAITING)
            aio_task_cancel(&aio_engine.cores[i].task, "worker stopping");
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
    /* the master asks this way for max-worker-lifetime and the like */
    if (!uwsgi.workers[uwsgi.mywid].manage_next_request)
        begin_stop(0);
    aio_accept_tick();
    aio_engine_check_stop();
}

static void on_signal_socket(uv_poll_t *poll, int status, int events)
{
    (void)events;
    uv_os_fd_t fd;
    if (status == 0 && uv_fileno((uv_handle_t *)poll, &fd) == 0)
        uwsgi_receive_signal(fd, "worker", uwsgi.mywid);
}

/* ---- set-up and tear-down --------------------------------------------- */

static int init_cores(void)
{
    aio_engine.ncores = uwsgi.async;
    aio_engine.max_pending = aio_engine.ncores > 64 ? aio_engine.ncores : 64;
    aio_engine.cores = calloc((size_t)aio_engine.ncores, sizeof(*aio_engine.cores));
    aio_engine.peek_buf = malloc(uwsgi.buffer_size);
    if (!aio_engine.cores || !aio_engine.peek_buf)
        return AIO_ENOMEM;
    for (int i = 0; i < aio_engine.ncores; i++) {
        struct aio_core *core = &aio_engine.cores[i];
        core->id = i;
        core->wsgi_req = &uwsgi.workers[uwsgi.mywid].cores[i].req;
        core->task.core = core;
        core->task.ops = &core_task_ops;
        core->task.conn = &core->conn;
        core->conn.fd = -1;
        core->conn.ops = &core_conn_ops;
        aio_task_init(&core->task);
        if (aio_coro_init(&core->task.coro, aio_engine.opts.stack_size) != AIO_OK) {
            aio_log("cannot allocate the stack of async core %d (%zu bytes): %s; lower 'aio' "
                    "or 'aio-stack-size', or raise vm.max_map_count",
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

static void close_host_handles(void)
{
    aio_pending_close_all();
    aio_linger_close_all();
    for (int i = 0; i < aio_engine.ncores; i++)
        uv_close((uv_handle_t *)&aio_engine.cores[i].task.timer, NULL);
    for (int i = 0; i < aio_engine.nlisteners; i++)
        uv_close((uv_handle_t *)&aio_engine.listeners[i], NULL);
    for (int i = 0; i < aio_engine.nsignal_polls; i++)
        uv_close((uv_handle_t *)&aio_engine.signal_polls[i], NULL);
    uv_close((uv_handle_t *)&aio_engine.tick, NULL);
    uv_close((uv_handle_t *)&aio_engine.dispatch, NULL);
    uv_close((uv_handle_t *)&aio_engine.wakeup, NULL);
}

static void teardown(void)
{
    close_host_handles();
    aio_engine_close();
    for (int i = 0; i < aio_engine.ncores; i++)
        aio_coro_destroy(&aio_engine.cores[i].task.coro);
    free(aio_engine.cores);
    free(aio_engine.listeners);
    free(aio_engine.peek_buf);
    aio_registry_free(&aio_engine.registry);
    aio_engine.cores = NULL;
    aio_engine.listeners = NULL;
    aio_engine.peek_buf = NULL;
}

/* uWSGI's websocket options, for the websocket layer. */
static void copy_websocket_options(void)
{
    struct aio_options *o = &aio_engine.opts;
    o->ws_max_message = (size_t)uwsgi.websockets_max_size * 1024;
    o->ws_ping_freq = uwsgi.websockets_ping_freq;
    o->ws_pong_tolerance = uwsgi.websockets_pong_tolerance;
    aio_options_defaults(o);
}

void aio_loop_run(void)
{
    if (aio_engine_open() != AIO_OK)
        exit(1);
    copy_websocket_options();
    aio_worker_construct_app(); /* exits on configuration errors */
    if (init_cores() != AIO_OK || init_listeners() != AIO_OK)
        exit(1);
    init_signal_sockets();
    uv_timer_init(&aio_engine.loop, &aio_engine.tick);
    uv_timer_start(&aio_engine.tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(&aio_engine.loop, &aio_engine.dispatch);
    uv_async_init(&aio_engine.loop, &aio_engine.wakeup, on_wakeup);
    aio_install_wait_hooks();
    uwsgi_unix_signal(SIGHUP, on_sighup);
    aio_engine.running = 1;
    aio_tasks_start_pending();
    aio_listeners_start();

    uv_run(&aio_engine.loop, UV_RUN_DEFAULT);

    aio_engine.running = 0;
    aio_log("worker %d (pid %d) done: %llu request(s), %llu cancelled, %llu slow "
            "connection(s) dropped, %llu rejected, %llu task(s) spawned, %llu executor job(s)",
            uwsgi.mywid, (int)getpid(), (unsigned long long)aio_engine.stats.requests,
            (unsigned long long)aio_engine.stats.cancelled,
            (unsigned long long)aio_engine.stats.evicted,
            (unsigned long long)aio_engine.stats.rejected,
            (unsigned long long)aio_engine.stats.spawned, (unsigned long long)aio_engine.stats.jobs);
    teardown();
    exit(aio_engine.exit_code);
}
