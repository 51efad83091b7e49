/* worker.c - the loop engine in a uWSGI worker: `loop = aio` (set by the
 * `aio = N` option) makes uWSGI call aio__loop_run() in each worker, which
 * opens the engine and the framework, runs the view modules' aio_main(),
 * and turns one libuv loop until the worker stops.
 *
 * The loop accepts on uWSGI's sockets (accept.c), runs each request in its
 * async core's coroutine (core.c) and wakes suspended coroutines when their
 * fd, timer or client disconnect fires (engine/task.c). Stopping is
 * graceful: no new connections, spawned tasks cancelled, websockets told
 * 1001, and the loop ends once the engine has no live work left and no
 * connection is parked. */
#include <uwsgi.h>

#include <string.h>

#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

#define TICK_MS 250

#define H aio__host

struct aio__host aio__host;

/* ---- stopping ----------------------------------------------------------- */

static void begin_stop(int exit_code)
{
    if (aio__engine.stopping)
        return;
    aio__engine_begin_stop(); /* the one "stopping" flag: the engine's */
    H.exit_code = exit_code;
    uwsgi.workers[uwsgi.mywid].manage_next_request = 0;
    aio__listeners_stop();
    aio__keepalive_close_all(); /* between requests: nothing is lost */
    aio__log("worker %d (pid %d) stopping gracefully, %d request(s) in flight, %d task(s) "
             "cancelled",
             uwsgi.mywid, (int)getpid(), aio__cores_busy() + H.npending, aio__app.ntasks);
    aio__app_begin_stop();
    aio__engine_check_stop();
}

/* The engine's question before it stops: is anything still parked? */
static int host_idle(void)
{
    return H.npending == 0;
}

/* SIGHUP: first a graceful stop; a second one cancels what still waits. */
static void on_sighup(int signum)
{
    (void)signum;
    H.stop_signals++;
    uv_async_send(&H.wakeup); /* async-signal-safe */
}

static void on_wakeup(uv_async_t *async)
{
    (void)async;
    if (H.stop_signals >= 1)
        begin_stop(UWSGI_RELOAD_CODE);
    if (H.stop_signals >= 2)
        aio__cores_cancel_waiting();
}

void aio__worker_request_stop(int exit_code)
{
    if (aio__engine.running)
        begin_stop(exit_code);
}

static void on_tick(uv_timer_t *timer)
{
    (void)timer;
    /* the master asks this way for max-worker-lifetime and the like */
    if (!uwsgi.workers[uwsgi.mywid].manage_next_request)
        begin_stop(0);
    aio__accept_tick();
    aio__metrics_publish();
    aio__engine_check_stop();
}

static void on_signal_socket(uv_poll_t *poll, int status, int events)
{
    (void)events;
    uv_os_fd_t fd;
    if (status == 0 && uv_fileno((uv_handle_t *)poll, &fd) == 0)
        uwsgi_receive_signal(fd, "worker", uwsgi.mywid);
}

/* ---- set-up and tear-down --------------------------------------------- */

static void init_signal_sockets(void)
{
    if (uwsgi.signal_socket < 0)
        return;
    int fds[2] = {uwsgi.signal_socket, uwsgi.my_signal_socket};
    for (int i = 0; i < 2; i++) {
        uv_poll_t *poll = &H.signal_polls[H.nsignal_polls];
        if (uv_poll_init(&aio__engine.loop, poll, fds[i]) == 0) {
            uv_poll_start(poll, UV_READABLE, on_signal_socket);
            H.nsignal_polls++;
        }
    }
}

/* uWSGI's websocket options, for the websocket sessions. */
static void copy_websocket_options(void)
{
    struct aio_options *o = &aio__app.opts;
    o->engine.ws_max_message = (size_t)uwsgi.websockets_max_size * 1024;
    o->engine.ws_ping_freq = uwsgi.websockets_ping_freq;
    o->engine.ws_pong_tolerance = uwsgi.websockets_pong_tolerance;
    aio__options_defaults(o);
}

static void open_worker(void)
{
    copy_websocket_options();
    if (aio__engine_open() != AIO_OK)
        exit(1);
    aio__engine_configure(aio__app_engine_config());
    aio__engine.host_idle = host_idle;
    aio__app_open();
    aio__worker_construct_app(); /* exits on configuration errors */
    aio__list_init(&H.heads);
    aio__list_init(&H.client_waits);
    aio__list_init(&H.pending);
    aio__list_init(&H.idle);
    aio__list_init(&H.lingering);
    if (aio__cores_init() != AIO_OK || aio__listeners_init() != AIO_OK)
        exit(1);
    init_signal_sockets();
    uv_timer_init(&aio__engine.loop, &H.tick);
    uv_timer_start(&H.tick, on_tick, TICK_MS, TICK_MS);
    uv_async_init(&aio__engine.loop, &H.wakeup, on_wakeup);
    aio__install_wait_hooks();
    uwsgi_unix_signal(SIGHUP, on_sighup);
    if (aio__crash_reports_install() != AIO_OK)
        aio__log("cannot install the crash report handler: crashes will not name their request");
}

static void close_worker(void)
{
    aio__listeners_close();
    aio__linger_close_all();
    aio__cores_close();
    for (int i = 0; i < H.nsignal_polls; i++)
        uv_close((uv_handle_t *)&H.signal_polls[i], NULL);
    uv_close((uv_handle_t *)&H.tick, NULL);
    uv_close((uv_handle_t *)&H.wakeup, NULL);
    aio__app_close();
    aio__engine_close();
    aio__cores_free();
    aio__listeners_free();
    aio__app_free();
}

static void log_summary(void)
{
    aio__log("worker %d (pid %d) done: %llu request(s), %llu cancelled, %llu slow "
             "connection(s) dropped, %llu rejected, %llu task(s) spawned, %llu executor job(s)",
             uwsgi.mywid, (int)getpid(), (unsigned long long)H.stats.requests,
             (unsigned long long)aio__app.cancelled, (unsigned long long)H.stats.evicted,
             (unsigned long long)H.stats.rejected, (unsigned long long)aio__app.spawned,
             (unsigned long long)aio__engine.jobs);
}

/* uWSGI marks a worker "accepting" just before it calls the loop engine,
 * that is before aio_main() has run, and a chain reload curses the next
 * worker as soon as the one it respawned is accepting: with an aio_main()
 * that takes a while (connecting to a database, loading data) every worker
 * would be down at once. The mark is taken back here and given once the
 * listeners are watched. (The master could still read it in the few
 * instructions between uWSGI's mark and the first line here. The mark stays
 * while the worker stops: the chain reads a cursed worker that is no longer
 * accepting as one to skip, and would curse the next one at once.) */
void aio__loop_run(void)
{
    uwsgi.workers[uwsgi.mywid].accepting = 0;
    open_worker();
    aio__engine.running = 1;
    aio__tasks_start_pending();
    aio__listeners_start();
    uwsgi.workers[uwsgi.mywid].accepting = 1;
    aio__host.shared->served = 1;

    uv_run(&aio__engine.loop, UV_RUN_DEFAULT);

    aio__engine.running = 0;
    log_summary();
    close_worker();
    exit(H.exit_code);
}
