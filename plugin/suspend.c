/* suspend.c - the suspension primitives views call (SPEC §3). Each checks
 * it runs inside the coroutine of the request it is given, then suspends
 * that coroutine through the loop engine. */
#include <uwsgi.h>

#include <math.h>

#include "internal.h"

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
