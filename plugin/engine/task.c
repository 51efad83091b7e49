/* task.c - tasks: a coroutine on the loop, run, suspended, woken and
 * cancelled here. A task waits for fds, timers, an executor job, another
 * task or its client's disconnect, and the loop resumes it. Views and
 * spawned tasks suspend through the framework's API (aio_sleep, aio_wait_fd,
 * aio_join ...), and uWSGI's own blocking reads and writes through its wait
 * hooks; all of them end up in aio__task_wait().
 *
 * While a request waits, its client connection is watched for a hang-up
 * (EPOLLRDHUP): a client that goes away cancels the request at once, its
 * wait returns AIO_ECANCELLED and every later wait fails the same way. An
 * executor job is the exception: the thread may still use the request, so
 * the task only resumes when the job has returned. */
#include <stdlib.h>

#include "engine/engine.h"

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

void aio__task_init(struct aio_task *task)
{
    uv_timer_init(&aio__engine.loop, &task->timer);
    task->timer.data = task;
    task->wait.fd = -1;
    aio__list_init(&task->node);
    aio__list_init(&task->queue_node);
}

void aio__task_check_stall(struct aio_task *task)
{
    uint64_t started = task->run_started_ns;
    if (!started)
        return;
    task->run_started_ns = 0; /* one report per run */
    uint64_t held = aio__monotonic_ns() - started;
    if (held < (uint64_t)aio__engine.config.stall_ms * 1000000u)
        return;
    aio__engine.stalls++;
    if (aio__engine.config.on_stall)
        aio__engine.config.on_stall(task, held);
}

void aio__task_run(struct aio_task *task)
{
    aio__engine.current = task;
    if (task->ops->resuming)
        task->ops->resuming(task);
    task->state = AIO_TASK_ACTIVE;
    task->run_started_ns = aio__engine.config.stall_ms ? aio__monotonic_ns() : 0;
    aio__coro_resume(&task->coro);
    aio__task_check_stall(task); /* unless a wait or the request's end did */
    aio__engine.current = NULL;
    if (!aio__coro_finished(&task->coro))
        return;
    task->state = AIO_TASK_IDLE;
    task->ops->finished(task);
}

struct aio_task *aio__running_task(void)
{
    return aio__on_loop_thread() ? aio__engine.current : NULL;
}

void aio__task_wake(struct aio_task *task, int result)
{
    if (task->state != AIO_TASK_WAITING)
        return;
    task->wait_result = result;
    aio__task_run(task);
}

void aio__task_cancel(struct aio_task *task, const char *why)
{
    if (!task->cancelled) {
        task->cancelled = 1;
        if (why && task->ops->cancelled)
            task->ops->cancelled(task, why);
    }
    if (task->conn)
        aio__conn_watch(task->conn, 0); /* a hang-up stays readable forever */
    if (task->state == AIO_TASK_WAITING && !task->wait.job)
        aio__task_wake(task, AIO_ECANCELLED);
}

static void on_wake_check(uv_check_t *check)
{
    struct aio_list *node;
    while ((node = aio__list_first(&aio__engine.wake_soon)) != NULL) {
        aio__list_remove(node);
        struct aio_task *task = aio__list_entry(node, struct aio_task, queue_node);
        aio__task_wake(task, task->soon_result);
    }
    uv_check_stop(check);
    uv_idle_stop(&aio__engine.wake_idle);
}

static void on_wake_idle(uv_idle_t *idle)
{
    (void)idle; /* only there to keep the loop from blocking before its check */
}

void aio__task_wake_soon(struct aio_task *task, int result)
{
    if (task->state != AIO_TASK_WAITING || task->wait.job)
        return; /* not waiting, or a job's end only may resume it */
    if (!aio__list_empty(&task->queue_node)) { /* already queued (a lone node is empty) */
        if (result == AIO_ECANCELLED)
            task->soon_result = result; /* cancellation wins */
        return;
    }
    task->soon_result = result;
    aio__list_append(&aio__engine.wake_soon, &task->queue_node);
    uv_check_start(&aio__engine.wake_check, on_wake_check);
    /* Checks run after the loop polls, and from a timer's callback (or a
     * thread pool's) the poll would block until the next event: an active
     * idle handle makes it return at once. */
    uv_idle_start(&aio__engine.wake_idle, on_wake_idle);
}

void aio__task_conn_event(struct aio_task *task, int status, int events)
{
    int ready = (status < 0 ? task->wait.client_events : from_uv_events(events)) &
                task->wait.client_events;
    if (ready) {
        task->ready_fd = task->conn->fd;
        aio__task_wake(task, ready);
    } else if (status < 0 || (events & UV_DISCONNECT)) {
        aio__task_cancel(task, "client went away");
    }
}

static void on_wait_fd(uv_poll_t *poll, int status, int events)
{
    struct aio_task *task = poll->data;
    /* On an error the fd is reported ready, as poll(2) does: the caller's
     * next read or write returns the error. */
    int ready = (status < 0 ? task->wait.fd_events : from_uv_events(events)) & task->wait.fd_events;
    if (!ready)
        return;
    task->ready_fd = task->wait.fd;
    aio__task_wake(task, ready);
}

void aio__task_set_deadline(struct aio_task *task, uint64_t at_ms)
{
    task->deadline_passed = 0;
    task->deadline_ms = at_ms;
}

/* Past its deadline by the loop's clock as it is: 1, and it stays so. */
static int past_deadline(struct aio_task *task)
{
    if (!task->deadline_ms)
        return 0;
    if (!task->deadline_passed && uv_now(&aio__engine.loop) >= task->deadline_ms)
        task->deadline_passed = 1;
    return task->deadline_passed;
}

int aio__task_past_deadline(struct aio_task *task)
{
    if (!task->deadline_ms)
        return 0;
    uv_update_time(&aio__engine.loop);
    return past_deadline(task);
}

static void on_wait_timeout(uv_timer_t *timer)
{
    struct aio_task *task = timer->data;
    if (past_deadline(task)) {
        aio__task_wake(task, AIO_ETIMEDOUT);
        return;
    }
    int is_sleep = task->wait.fd < 0 && !task->wait.client_events && !task->wait.until_woken;
    aio__task_wake(task, is_sleep ? AIO_OK : AIO_ETIMEDOUT);
}

/* The wait's own timeout, shortened to what is left before the deadline;
 * < 0: none. */
static int64_t wait_timeout_ms(const struct aio_task *task, const struct aio_wait *wait)
{
    int64_t timeout = wait->timeout_ms;
    if (task->deadline_ms && !wait->job) {
        int64_t left = (int64_t)(task->deadline_ms - uv_now(&aio__engine.loop));
        if (timeout < 0 || left < timeout)
            timeout = left;
    }
    return timeout;
}

static int watch_other_fd(struct aio_task *task, int fd, int events)
{
    uv_poll_t *poll = malloc(sizeof(*poll));
    if (!poll)
        return AIO_ENOMEM;
    int rc = uv_poll_init(&aio__engine.loop, poll, fd);
    if (rc) {
        free(poll);
        if (rc == UV_EEXIST)
            return AIO_EBUSY; /* libuv allows one watcher per fd */
        aio__log("cannot wait on fd %d: %s", fd, uv_strerror(rc));
        return AIO_EINVAL;
    }
    poll->data = task;
    rc = uv_poll_start(poll, to_uv_events(events), on_wait_fd);
    if (rc) {
        aio__log("cannot wait on fd %d: %s", fd, uv_strerror(rc));
        uv_close((uv_handle_t *)poll, aio__free_handle);
        return AIO_ERROR;
    }
    task->wait_poll = poll;
    return AIO_OK;
}

int aio__task_wait(struct aio_task *task, const struct aio_wait *wait)
{
    /* A submitted job uses memory of this coroutine: wait for it even when
     * cancelled. */
    if (task->cancelled && !wait->job)
        return AIO_ECANCELLED;
    if (!wait->job && aio__task_past_deadline(task))
        return AIO_ETIMEDOUT;
    int rc = AIO_OK;
    if (task->conn && !task->cancelled)
        rc = aio__conn_watch(task->conn, to_uv_events(wait->client_events) | UV_DISCONNECT);
    if (rc == AIO_OK && wait->fd >= 0)
        rc = watch_other_fd(task, wait->fd, wait->fd_events);
    if (rc != AIO_OK)
        return rc;
    int64_t timeout_ms = wait_timeout_ms(task, wait);
    if (timeout_ms >= 0) {
        /* The loop's clock is cached and in whole milliseconds: refresh it
         * and round up, so that a wait lasts at least timeout_ms. */
        uv_update_time(&aio__engine.loop);
        uint64_t timeout = (uint64_t)timeout_ms + (timeout_ms > 0);
        uv_timer_start(&task->timer, on_wait_timeout, timeout, 0);
    }
    task->wait = *wait;
    task->wait_result = AIO_ERROR;
    task->ready_fd = -1;
    task->state = AIO_TASK_WAITING;
    aio__task_check_stall(task); /* while what it serves is there to be named */
    aio__coro_yield(&task->coro);
    /* resumed by aio__task_wake() */
    uv_timer_stop(&task->timer);
    aio__list_remove(&task->queue_node); /* woken otherwise while queued to wake soon */
    if (task->wait_poll) {
        uv_close((uv_handle_t *)task->wait_poll, aio__free_handle);
        task->wait_poll = NULL;
    }
    /* Keep only the hang-up watch between waits: re-arming it would cost
     * two epoll_ctl calls per wait. */
    if (task->conn && wait->client_events && !task->cancelled)
        aio__conn_watch(task->conn, UV_DISCONNECT);
    task->wait = (struct aio_wait){.fd = -1};
    return task->wait_result;
}

int aio__task_wait_fd(struct aio_task *task, int fd, int events, int timeout_ms)
{
    struct aio_wait wait = {.fd = -1, .timeout_ms = timeout_ms < 0 ? -1 : timeout_ms};
    if (task->conn && fd == task->conn->fd) { /* the client: its watcher is the connection's */
        wait.client_events = events;
    } else {
        wait.fd = fd;
        wait.fd_events = events;
    }
    return aio__task_wait(task, &wait);
}

int aio__task_park(struct aio_task *task, int timeout_ms)
{
    struct aio_wait wait = {.fd = -1, .timeout_ms = timeout_ms < 0 ? -1 : timeout_ms,
                            .until_woken = 1};
    return aio__task_wait(task, &wait);
}

/* ---- the wake-soon queue ------------------------------------------------------ */

void aio__task_queues_init(void)
{
    aio__list_init(&aio__engine.wake_soon);
    uv_check_init(&aio__engine.loop, &aio__engine.wake_check);
    uv_idle_init(&aio__engine.loop, &aio__engine.wake_idle);
}

void aio__task_queues_close(void)
{
    uv_close((uv_handle_t *)&aio__engine.wake_check, NULL);
    uv_close((uv_handle_t *)&aio__engine.wake_idle, NULL);
}
