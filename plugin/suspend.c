/* suspend.c - the suspend engine (SPEC §3): a coroutine waits for fds,
 * timers or its client's disconnect, and the loop resumes it. This is where
 * views suspend (aio_sleep, aio_wait_fd) and where uWSGI's own blocking
 * reads and writes do (its wait hooks point here).
 *
 * While a request waits, its client connection is watched for a hang-up
 * (EPOLLRDHUP): a client that goes away cancels the request at once, its
 * wait returns AIO_ECANCELLED and every later wait fails the same way. */
#include <uwsgi.h>

#include <math.h>

#include "internal.h"

extern struct uwsgi_server uwsgi;

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

static void wake(struct aio_core *core, int result)
{
    if (core->state != AIO_CORE_WAITING)
        return;
    core->wait_result = result;
    aio_core_run(core);
}

void aio_core_cancel(struct aio_core *core, const char *why)
{
    if (!core->cancelled) {
        core->cancelled = 1;
        aio_engine.stats.cancelled++;
        struct wsgi_request *w = core->wsgi_req;
        aio_log("%.*s %.*s: %s after %.3f s, request cancelled", (int)w->method_len, w->method,
                (int)w->uri_len, w->uri, why, (double)(uwsgi_micros() - w->start_of_request) / 1e6);
    }
    aio_conn_watch(core, 0); /* a hang-up stays readable forever */
    wake(core, AIO_ECANCELLED);
}

void aio_core_conn_event(struct aio_core *core, int status, int events)
{
    int ready = (status < 0 ? core->wait.client_events : from_uv_events(events)) &
                core->wait.client_events;
    if (ready) {
        core->ready_fd = core->wsgi_req->fd;
        wake(core, ready);
    } else if (status < 0 || (events & UV_DISCONNECT)) {
        aio_core_cancel(core, "client went away");
    }
}

static void on_wait_fd(uv_poll_t *poll, int status, int events)
{
    struct aio_core *core = poll->data;
    /* On an error the fd is reported ready, as poll(2) does: the caller's
     * next read or write returns the error. */
    int ready = (status < 0 ? core->wait.fd_events : from_uv_events(events)) & core->wait.fd_events;
    if (!ready)
        return;
    core->ready_fd = core->wait.fd;
    wake(core, ready);
}

static void on_wait_timeout(uv_timer_t *timer)
{
    struct aio_core *core = timer->data;
    int is_sleep = core->wait.fd < 0 && !core->wait.client_events;
    wake(core, is_sleep ? AIO_OK : AIO_ETIMEDOUT);
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
        uv_close((uv_handle_t *)poll, aio_free_handle);
        return AIO_ERROR;
    }
    core->wait_poll = poll;
    return AIO_OK;
}

int aio_core_wait(struct aio_core *core, const struct aio_wait *wait)
{
    if (core->cancelled)
        return AIO_ECANCELLED;
    int rc = aio_conn_watch(core, to_uv_events(wait->client_events) | UV_DISCONNECT);
    if (rc == AIO_OK && wait->fd >= 0)
        rc = watch_other_fd(core, wait->fd, wait->fd_events);
    if (rc != AIO_OK)
        return rc;
    if (wait->timeout_ms >= 0) {
        /* The loop's clock is cached and in whole milliseconds: refresh it
         * and round up, so that a wait lasts at least timeout_ms. */
        uv_update_time(&aio_engine.loop);
        uint64_t timeout = (uint64_t)wait->timeout_ms + (wait->timeout_ms > 0);
        uv_timer_start(&core->timer, on_wait_timeout, timeout, 0);
    }
    core->wait = *wait;
    core->wait_result = AIO_ERROR;
    core->ready_fd = -1;
    core->state = AIO_CORE_WAITING;
    aio_coro_yield(&core->coro);
    /* resumed by wake() */
    uv_timer_stop(&core->timer);
    if (core->wait_poll) {
        uv_close((uv_handle_t *)core->wait_poll, aio_free_handle);
        core->wait_poll = NULL;
    }
    /* Keep only the hang-up watch between waits: re-arming it would cost
     * two epoll_ctl calls per wait. */
    if (wait->client_events && !core->cancelled)
        aio_conn_watch(core, UV_DISCONNECT);
    core->wait.fd = -1;
    return core->wait_result;
}

/* ---- the API views call ------------------------------------------------- */

/* The core of `req` if `req` is the request of the running coroutine. */
static struct aio_core *scope_check(aio_request *req)
{
    struct aio_core *core = aio_running_core();
    if (!core || !req || req->core != core)
        return NULL;
    return core;
}

int aio_in_coroutine(void)
{
    return aio_running_core() != NULL;
}

int aio_sleep(aio_request *req, double seconds)
{
    struct aio_core *core = scope_check(req);
    if (!core)
        return AIO_ESCOPE;
    if (!(seconds >= 0.0) || seconds > AIO_SLEEP_MAX) /* also rejects NaN */
        return AIO_EINVAL;
    struct aio_wait wait = {0, -1, 0, (int)ceil(seconds * 1000.0)};
    return aio_core_wait(core, &wait);
}

int aio_wait_fd(aio_request *req, int fd, int events, int timeout_ms)
{
    struct aio_core *core = scope_check(req);
    if (!core)
        return AIO_ESCOPE;
    if (fd < 0 || !events || (events & ~(AIO_READ | AIO_WRITE)))
        return AIO_EINVAL;
    struct aio_wait wait = {0, -1, 0, timeout_ms < 0 ? -1 : timeout_ms};
    if (fd == core->wsgi_req->fd) {
        wait.client_events = events;
    } else {
        wait.fd = fd;
        wait.fd_events = events;
    }
    return aio_core_wait(core, &wait);
}

/* ---- uWSGI's wait hooks: uWSGI's own reads and writes suspend too ------ */

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
    if (!core) /* not in a coroutine: a plain blocking poll */
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

void aio_install_wait_hooks(void)
{
    uwsgi.wait_read_hook = hook_wait_read;
    uwsgi.wait_write_hook = hook_wait_write;
    uwsgi.wait_read2_hook = hook_wait_read2;
    uwsgi.wait_milliseconds_hook = hook_wait_milliseconds;
    uwsgi.schedule_to_main = hook_schedule_to_main;
}
