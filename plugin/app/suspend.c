/* suspend.c - the suspension API of views and tasks (aio_sleep,
 * aio_wait_fd, aio_run_in_executor ...): checks that the caller is the
 * request's own coroutine, then waits through the engine (engine/task.c). */
#include <limits.h>
#include <math.h>

#include "app/app.h"

struct aio_task *aio__scope_check(const aio_request *req)
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

/* A wait's timeout is an int of milliseconds (engine/engine.h). */
_Static_assert(AIO_SLEEP_MAX_MS <= INT_MAX, "AIO_SLEEP_MAX_MS must fit a wait's timeout");

int aio_sleep_ms(aio_request *req, int64_t ms)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (ms < 0 || ms > AIO_SLEEP_MAX_MS)
        return AIO_EINVAL;
    struct aio_wait wait = {.fd = -1, .timeout_ms = (int)ms};
    return aio__task_wait(task, &wait);
}

int aio_sleep(aio_request *req, double seconds)
{
    if (!aio__scope_check(req))
        return AIO_ESCOPE; /* the scope error first, as aio_sleep_ms() says it */
    if (!(seconds >= 0.0) || seconds > AIO_SLEEP_MAX_MS / 1000.0) /* also rejects NaN */
        return AIO_EINVAL;
    /* rounded up: a sleep lasts at least the time asked */
    return aio_sleep_ms(req, (int64_t)ceil(seconds * 1000.0));
}

int aio_wait_fd(aio_request *req, int fd, int events, int timeout_ms)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (fd < 0 || !events || (events & ~(AIO_READ | AIO_WRITE)))
        return AIO_EINVAL;
    return aio__task_wait_fd(task, fd, events, timeout_ms);
}

int aio_run_in_executor(aio_request *req, aio_blocking_fn fn, void *arg, int *result)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!fn)
        return AIO_EINVAL;
    int ignored;
    return aio__executor_call(task, fn, arg, result ? result : &ignored);
}
