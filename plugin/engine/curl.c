/* curl.c - libcurl's multi-socket API on the loop (see curl.h). */
#include "engine/curl.h"

#include <stdlib.h>

/* Idle connections a worker keeps for reuse, at most. */
#define AIO_CURL_KEPT_CONNECTIONS 256

/* A transfer under way, on its task's stack. */
struct transfer {
    struct aio_task *task;
    CURLcode result;
    int done;
};

static struct {
    CURLM *multi;
    uv_timer_t *timer; /* curl's single timer */
    int running;       /* transfers added and not done */
} C;

static void check_done(void);

/* ---- sockets ------------------------------------------------------------------------ */

static void on_socket_event(struct aio_conn *io, int status, int events)
{
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    /* io may be freed in there (curl removing the socket): not used after */
    curl_multi_socket_action(C.multi, io->fd, flags, &running);
    check_done();
}

static const struct aio_conn_ops curl_socket_ops = {
    .event = on_socket_event,
};

/* curl's CURLMOPT_SOCKETFUNCTION: what to watch on `s` now. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct aio_conn *io = socketp;
    (void)easy;
    (void)userp;
    if (what == CURL_POLL_REMOVE) {
        if (io) {
            curl_multi_assign(C.multi, s, NULL);
            aio__conn_unwatch(io); /* before curl closes the fd */
            free(io);
        }
        return 0;
    }
    if (!io) {
        if (!(io = calloc(1, sizeof(*io))))
            return -1; /* curl fails the transfers on this socket */
        io->fd = s;
        io->ops = &curl_socket_ops;
        curl_multi_assign(C.multi, s, io);
    }
    int events = ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
                 ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    return aio__conn_watch(io, events) == AIO_OK ? 0 : -1;
}

/* ---- curl's timer ------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *timer)
{
    (void)timer;
    int running;
    curl_multi_socket_action(C.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

/* curl's CURLMOPT_TIMERFUNCTION: call it back in timeout_ms (-1: never).
 * Never from in here: curl asks for its callback from the loop. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(C.timer);
    else
        uv_timer_start(C.timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- transfers ---------------------------------------------------------------------- */

/* Wakes the tasks whose transfers ended. The connections go back to the
 * multi handle's cache. */
static void check_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(C.multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct transfer *transfer = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
        CURLcode result = msg->data.result; /* msg is invalid once removed */
        curl_multi_remove_handle(C.multi, msg->easy_handle);
        C.running--;
        if (!transfer)
            continue;
        transfer->done = 1;
        transfer->result = result;
        /* not from within curl's loop of messages: from the loop's top */
        aio__task_wake_soon(transfer->task, AIO_OK);
    }
}

static int open_multi(void)
{
    if (C.multi)
        return AIO_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return AIO_ERROR;
    C.timer = malloc(sizeof(*C.timer));
    if (!C.timer)
        return AIO_ENOMEM;
    C.multi = curl_multi_init();
    if (!C.multi) {
        free(C.timer);
        C.timer = NULL;
        return AIO_ENOMEM;
    }
    uv_timer_init(&aio__engine.loop, C.timer);
    /* curl keeps 4 idle connections per transfer under way by default: as
     * transfers end, the cache shrinks and closes connections that the
     * next ones would have reused. */
    curl_multi_setopt(C.multi, CURLMOPT_MAXCONNECTS, (long)AIO_CURL_KEPT_CONNECTIONS);
    curl_multi_setopt(C.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(C.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    return AIO_OK;
}

int aio__curl_run(struct aio_task *task, CURL *easy, int timeout_ms, CURLcode *result)
{
    int rc = open_multi();
    if (rc != AIO_OK)
        return rc;
    struct transfer transfer = {.task = task};
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)&transfer);
    if (curl_multi_add_handle(C.multi, easy) != CURLM_OK)
        return AIO_ERROR;
    C.running++;
    rc = aio__task_park(task, timeout_ms);
    if (!transfer.done) {
        /* Stopped waiting: the transfer ends here, its connection closed
         * (curl does not keep one in the middle of an answer). */
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        curl_multi_remove_handle(C.multi, easy);
        C.running--;
        return rc == AIO_OK ? AIO_ERROR : rc;
    }
    *result = transfer.result;
    return AIO_OK;
}

int aio__curl_running(void)
{
    return C.running;
}

void aio__curl_close(void)
{
    if (!C.multi)
        return;
    curl_multi_cleanup(C.multi); /* removes (and unwatches) its sockets */
    C.multi = NULL;
    uv_close((uv_handle_t *)C.timer, aio__free_handle);
    C.timer = NULL;
    C.running = 0;
}
