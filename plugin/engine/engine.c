/* engine.c - the loop engine's state: the libuv loop, the clocks, live
 * work and stopping, and watching client connections.
 *
 * A host drives it: uWSGI in the plugin (uwsgi/), the test harness in
 * libaio_testing (testing/). Both open it, run its loop, and resume,
 * suspend and wake coroutines through the same code (task.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "engine/engine.h"

struct aio__engine aio__engine;

#define E aio__engine

void aio__free_handle(uv_handle_t *handle)
{
    free(handle);
}

uint64_t aio__loop_ms(void)
{
    return uv_now(&E.loop);
}

uint64_t aio__wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

uint64_t aio__monotonic_ns(void)
{
    return uv_hrtime();
}

int aio__on_loop_thread(void)
{
    return E.open && pthread_equal(pthread_self(), E.loop_thread);
}

/* ---- live work and stopping ------------------------------------------------ */

void aio__engine_live(int delta)
{
    E.live += delta;
    if (delta < 0)
        aio__engine_check_stop();
}

void aio__engine_begin_stop(void)
{
    E.stopping = 1;
}

void aio__engine_check_stop(void)
{
    if (E.stopping && E.live == 0 && (!E.host_idle || E.host_idle()))
        uv_stop(&E.loop);
}

/* ---- client connections ------------------------------------------------ */

static void on_conn_event(uv_poll_t *poll, int status, int events)
{
    struct aio_conn *conn = poll->data;
    if (status < 0)
        conn->events = 0; /* libuv stopped the watcher */
    conn->ops->event(conn, status, events);
}

int aio__conn_watch(struct aio_conn *conn, int events)
{
    if (conn->events == events)
        return AIO_OK;
    if (!conn->poll) {
        if (!events)
            return AIO_OK;
        uv_poll_t *poll = malloc(sizeof(*poll));
        if (!poll)
            return AIO_ENOMEM;
        int rc = uv_poll_init(&E.loop, poll, conn->fd);
        if (rc) {
            aio__log("cannot watch client fd %d: %s", conn->fd, uv_strerror(rc));
            free(poll);
            return AIO_ERROR;
        }
        poll->data = conn;
        conn->poll = poll;
    }
    int rc = events ? uv_poll_start(conn->poll, events, on_conn_event) : uv_poll_stop(conn->poll);
    if (rc) {
        aio__log("cannot watch client fd %d: %s", conn->fd, uv_strerror(rc));
        return AIO_ERROR;
    }
    conn->events = events;
    return AIO_OK;
}

/* epoll forgets the fd at once (uv_close stops the watcher synchronously):
 * the fd may be closed right after and its number reused by the next
 * connection without stale events. */
void aio__conn_unwatch(struct aio_conn *conn)
{
    if (conn->poll) {
        uv_close((uv_handle_t *)conn->poll, aio__free_handle);
        conn->poll = NULL;
    }
    conn->events = 0;
}

void aio__conn_move_watch(struct aio_conn *from, struct aio_conn *to)
{
    to->poll = from->poll;
    to->events = from->events;
    if (to->poll)
        to->poll->data = to;
    from->poll = NULL;
    from->events = 0;
}

/* ---- opening and closing ------------------------------------------------------ */

void aio__engine_configure(const struct aio_engine_config *config)
{
    E.config = *config;
}

/* Starts from nothing every time: the test harness opens and closes the
 * engine again and again. */
int aio__engine_open(void)
{
    memset(&E, 0, sizeof(E));
    if (uv_loop_init(&E.loop)) {
        aio__log("cannot create the libuv loop");
        return AIO_ERROR;
    }
    E.loop_thread = pthread_self();
    aio__list_init(&E.wsconns);
    aio__task_queues_init();
    aio__executor_init();
    E.open = 1; /* tasks may be spawned: they start with the loop */
    return AIO_OK;
}

void aio__engine_close(void)
{
    aio__executor_stop();
    aio__task_queues_close();
    /* A stop asked outside uv_run() would end the first run at once. */
    uv_run(&E.loop, UV_RUN_NOWAIT);
    uv_run(&E.loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    if (uv_loop_close(&E.loop))
        aio__log("the libuv loop still has open handles at exit");
    E.open = 0;
}
