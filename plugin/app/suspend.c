/* suspend.c - the suspension API of views and tasks (aio_sleep,
 * aio_wait_fd, aio_run_in_executor ...): checks that the caller is the
 * request's own coroutine, then waits through the engine (engine/task.c). */
#include <math.h>

#include "app/app.h"

/* The task of `req` if `req` belongs to the running coroutine. */
static struct aio_task *scope_check(const aio_request *req)
{
    struct aio_task *task = aio__running_task();
    if (!task || !req || req->task != task)
        return NULL;
    return task;
}

int aio_in_coroutine(void)
{
    return aio__running_task() != NULL;
}

int aio_is_cancelled(const aio_request *req)
{
    return req && req->task && req->task->cancelled;
}

int aio_sleep(aio_request *req, double seconds)
{
    struct aio_task *task = scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!(seconds >= 0.0) || seconds > AIO_SLEEP_MAX) /* also rejects NaN */
        return AIO_EINVAL;
    struct aio_wait wait = {.fd = -1, .timeout_ms = (int)ceil(seconds * 1000.0)};
    return aio__task_wait(task, &wait);
}

int aio_wait_fd(aio_request *req, int fd, int events, int timeout_ms)
{
    struct aio_task *task = scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (fd < 0 || !events || (events & ~(AIO_READ | AIO_WRITE)))
        return AIO_EINVAL;
    return aio__task_wait_fd(task, fd, events, timeout_ms);
}

int aio_run_in_executor(aio_request *req, aio_blocking_fn fn, void *arg)
{
    struct aio_task *task = scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!fn)
        return AIO_EINVAL;
    int result = AIO_ERROR;
    int rc = aio__executor_call(task, fn, arg, &result);
    return rc == AIO_OK ? result : rc;
}
