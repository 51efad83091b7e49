/* waithooks.c - uWSGI's wait hooks: when uWSGI's own code (reading a
 * request body, writing a response, a plugin's uwsgi.suspend()) would block
 * on an fd or sleep inside a request's coroutine, the coroutine suspends
 * instead (engine/task.c) and the loop goes on. Outside a coroutine the hooks
 * block, as uWSGI's defaults do. */
#include <uwsgi.h>

#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

static int hook_result(struct aio_task *task, int rc)
{
    if (rc > 0)
        return 1;
    if (rc == AIO_ETIMEDOUT) {
        task->timed_out = 1;
        return 0;
    }
    return -1;
}

static int hook_timeout_ms(int timeout_s)
{
    return timeout_s > 0 ? timeout_s * 1000 : -1;
}

static int is_client_fd(const struct aio_task *task, int fd)
{
    return task->conn && fd == task->conn->fd;
}

static int hook_wait_fd(int fd, int timeout_s, int events)
{
    struct aio_task *task = aio__running_task();
    if (!task) /* not in a coroutine: a plain blocking poll */
        return events == AIO_READ ? uwsgi_simple_wait_read_hook(fd, timeout_s)
                                  : uwsgi_simple_wait_write_hook(fd, timeout_s);
    /* a core waiting on its client may be evicted for a complete request */
    struct aio_core *core = is_client_fd(task, fd) ? aio__core_of_task(task) : NULL;
    if (core)
        aio__core_client_wait_begin(core);
    int rc = aio__task_wait_fd(task, fd, events, hook_timeout_ms(timeout_s));
    if (core)
        aio__core_client_wait_end(core);
    return hook_result(task, rc);
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
    struct aio_task *task = aio__running_task();
    if (!task)
        return uwsgi_simple_wait_read2_hook(fd0, fd1, timeout_s, fd);
    if (!is_client_fd(task, fd0) && !is_client_fd(task, fd1)) {
        aio__log("waiting on two fds needs one of them to be the client connection");
        return -1;
    }
    struct aio_wait wait = {.client_events = AIO_READ,
                            .fd = is_client_fd(task, fd0) ? fd1 : fd0,
                            .fd_events = AIO_READ,
                            .timeout_ms = hook_timeout_ms(timeout_s)};
    int rc = hook_result(task, aio__task_wait(task, &wait));
    if (rc > 0)
        *fd = task->ready_fd;
    return rc;
}

static int hook_wait_milliseconds(int ms)
{
    struct aio_task *task = aio__running_task();
    if (!task)
        return uwsgi_simple_wait_milliseconds_hook(ms);
    struct aio_wait wait = {.fd = -1, .timeout_ms = ms > 0 ? ms : 0};
    return aio__task_wait(task, &wait) == AIO_OK ? 0 : -1;
}

/* uWSGI's "give the other cores a turn" (e.g. uwsgi.suspend()). */
static void hook_schedule_to_main(struct wsgi_request *wsgi_req)
{
    struct aio_task *task = aio__running_task();
    struct aio_core *core = aio__core_of_task(task);
    if (!core || core->wsgi_req != wsgi_req)
        return;
    struct aio_wait turn = {.fd = -1, .timeout_ms = 0};
    aio__task_wait(task, &turn);
}

void aio__install_wait_hooks(void)
{
    uwsgi.wait_read_hook = hook_wait_read;
    uwsgi.wait_write_hook = hook_wait_write;
    uwsgi.wait_read2_hook = hook_wait_read2;
    uwsgi.wait_milliseconds_hook = hook_wait_milliseconds;
    uwsgi.schedule_to_main = hook_schedule_to_main;
}
