/* engine.c - the loop engine's state and what it is whoever hosts it: the
 * libuv loop, running a task's coroutine, watching a client connection.
 *
 * uWSGI hosts it in the plugin (loop.c: cores, listeners, signals) and the
 * test harness in libaio_testing (testing.c): both resume coroutines,
 * suspend them and wake them through this same code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "internal.h"

/* The plugin's only mutable global state. */
struct aio_engine aio_engine;

void aio_free_handle(uv_handle_t *handle)
{
    free(handle);
}

void aio_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    aio_host_log(line);
}

uint64_t aio_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* ---- client connections ------------------------------------------------ */

static void on_conn_event(uv_poll_t *poll, int status, int events)
{
    struct aio_conn *conn = poll->data;
    if (status < 0)
        conn->events = 0; /* libuv stopped the watcher */
    if (conn->ws)
        aio_ws_conn_event(conn->ws, status, events);
    else
        conn->ops->event(conn, status, events);
}

int aio_conn_watch(struct aio_conn *conn, int events)
{
    if (conn->events == events)
        return AIO_OK;
    if (!conn->poll) {
        if (!events)
            return AIO_OK;
        uv_poll_t *poll = malloc(sizeof(*poll));
        if (!poll)
            return AIO_ENOMEM;
        int rc = uv_poll_init(&aio_engine.loop, poll, conn->fd);
        if (rc) {
            aio_log("cannot watch client fd %d: %s", conn->fd, uv_strerror(rc));
            free(poll);
            return AIO_ERROR;
        }
        poll->data = conn;
        conn->poll = poll;
    }
    int rc = events ? uv_poll_start(conn->poll, events, on_conn_event) : uv_poll_stop(conn->poll);
    if (rc) {
        aio_log("cannot watch client fd %d: %s", conn->fd, uv_strerror(rc));
        return AIO_ERROR;
    }
    conn->events = events;
    return AIO_OK;
}

/* epoll forgets the fd at once (uv_close stops the watcher synchronously):
 * the fd may be closed right after and its number reused by the next
 * connection without stale events. */
void aio_conn_unwatch(struct aio_conn *conn)
{
    if (conn->poll) {
        uv_close((uv_handle_t *)conn->poll, aio_free_handle);
        conn->poll = NULL;
    }
    conn->events = 0;
}

/* ---- tasks ----------------------------------------------------------------- */

void aio_task_run(struct aio_task *task)
{
    aio_engine.current = task;
    if (task->ops->resuming)
        task->ops->resuming(task);
    task->state = AIO_TASK_ACTIVE;
    aio_coro_resume(&task->coro);
    aio_engine.current = NULL;
    if (!aio_coro_finished(&task->coro))
        return;
    task->state = AIO_TASK_IDLE;
    task->ops->finished(task);
}

struct aio_request *aio_task_new_request(struct aio_task *task, uint64_t started_us)
{
    struct aio_request *req = aio_request_new();
    if (!req)
        return NULL;
    req->task = task;
    req->registry = &aio_engine.registry;
    req->started_us = started_us;
    task->req = req;
    return req;
}

struct aio_task *aio_running_task(void)
{
    if (!aio_engine.running || !pthread_equal(pthread_self(), aio_engine.loop_thread))
        return NULL;
    return aio_engine.current;
}

void aio_engine_check_stop(void)
{
    if (aio_engine.stopping && aio_engine.busy == 0 && aio_engine.npending == 0 &&
        aio_engine.ntasks == 0 && !aio_executor_busy())
        uv_stop(&aio_engine.loop);
}

/* ---- the loop ---------------------------------------------------------------- */

int aio_engine_open(void)
{
    if (uv_loop_init(&aio_engine.loop)) {
        aio_log("cannot create the libuv loop");
        return AIO_ERROR;
    }
    aio_engine.loop_thread = pthread_self();
    aio_list_init(&aio_engine.heads);
    aio_list_init(&aio_engine.pending);
    aio_list_init(&aio_engine.lingering);
    aio_list_init(&aio_engine.tasks);
    aio_list_init(&aio_engine.starting);
    aio_list_init(&aio_engine.spare_tasks);
    aio_list_init(&aio_engine.wake_soon);
    aio_list_init(&aio_engine.websockets);
    uv_check_init(&aio_engine.loop, &aio_engine.wake_check);
    uv_timer_init(&aio_engine.loop, &aio_engine.start_tasks);
    aio_executor_init();
    aio_engine.loop_ready = 1; /* aio_main() may spawn tasks: they start with the loop */
    return AIO_OK;
}

void aio_engine_close(void)
{
    aio_executor_stop();
    aio_tasks_free_all();
    uv_close((uv_handle_t *)&aio_engine.start_tasks, NULL);
    uv_close((uv_handle_t *)&aio_engine.wake_check, NULL);
    /* A stop asked outside uv_run() would end the first run at once. */
    uv_run(&aio_engine.loop, UV_RUN_NOWAIT);
    uv_run(&aio_engine.loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    if (uv_loop_close(&aio_engine.loop))
        aio_log("the libuv loop still has open handles at exit");
    free(aio_engine.ws_read_buf);
    aio_engine.ws_read_buf = NULL;
    aio_engine.loop_ready = 0;
}
