#include "engine/redis.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uwsgi-aio/aio_common.h>

#include "base/log.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000

/* A command in flight: who gets its reply. */
struct pending {
    struct aio_redis_conn *conn;
    redisCallbackFn *fn;
    void *privdata;
};

static void on_timer(uv_timer_t *timer);

static void arm(struct aio_redis_conn *conn, int ms)
{
    uv_timer_start(&conn->timer, on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---- the loop adapter: hiredis asks for read/write interest ------------- */

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct aio_redis_conn *conn = poll->data;
    if (status < 0) {
        conn->events = 0; /* libuv stopped the watcher: let hiredis find the error */
        events = UV_READABLE | UV_WRITABLE;
    }
    if (conn->ac && (events & UV_READABLE))
        redisAsyncHandleRead(conn->ac);
    if (conn->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(conn->ac);
}

static void watch(struct aio_redis_conn *conn, int events)
{
    if (!conn->poll || events == conn->events)
        return;
    conn->events = events;
    if (events)
        uv_poll_start(conn->poll, events, on_poll);
    else
        uv_poll_stop(conn->poll);
}

static void ev_add_read(void *data)
{
    struct aio_redis_conn *conn = data;
    watch(conn, conn->events | UV_READABLE);
}

static void ev_del_read(void *data)
{
    struct aio_redis_conn *conn = data;
    watch(conn, conn->events & ~UV_READABLE);
}

static void ev_add_write(void *data)
{
    struct aio_redis_conn *conn = data;
    watch(conn, conn->events | UV_WRITABLE);
}

static void ev_del_write(void *data)
{
    struct aio_redis_conn *conn = data;
    watch(conn, conn->events & ~UV_WRITABLE);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

/* hiredis frees the context: its fd is about to be closed. */
static void ev_cleanup(void *data)
{
    struct aio_redis_conn *conn = data;
    if (conn->poll)
        uv_close((uv_handle_t *)conn->poll, free_handle);
    conn->poll = NULL;
    conn->events = 0;
}

static int attach(struct aio_redis_conn *conn, redisAsyncContext *ac)
{
    uv_poll_t *poll = malloc(sizeof(*poll));
    if (!poll || uv_poll_init(conn->timer.loop, poll, ac->c.fd) != 0) {
        free(poll);
        return AIO_ERROR;
    }
    poll->data = conn;
    conn->poll = poll;
    conn->events = 0;
    ac->ev.data = conn;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return AIO_OK;
}

/* ---- states ---------------------------------------------------------- */

static void log_state(const struct aio_redis_conn *conn, const char *what)
{
    aio__log("redis %s:%d (%s): %s", conn->url.host, conn->url.port, conn->role, what);
}

/* The connection is gone (hiredis frees the context, or never made it):
 * retry later. Runs inside hiredis's callbacks too: it only sets state. */
static void lost(struct aio_redis_conn *conn, const char *why)
{
    conn->ac = NULL;
    conn->pending = 0;
    if (conn->state == AIO_REDIS_CLOSED)
        return;
    int was_up = conn->state == AIO_REDIS_UP;
    conn->state = AIO_REDIS_DOWN;
    if (!conn->reported_down) {
        char line[320];
        snprintf(line, sizeof(line), "%s; retrying every %d s at most", why,
                 BACKOFF_MAX_MS / 1000);
        log_state(conn, line);
        conn->reported_down = 1;
    }
    arm(conn, conn->backoff_ms);
    conn->backoff_ms = conn->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                             : conn->backoff_ms * 2;
    if (was_up && conn->on_down)
        conn->on_down(conn);
}

/* Frees the context from outside hiredis's callbacks (a timer). */
static void drop(struct aio_redis_conn *conn, const char *why)
{
    redisAsyncContext *ac = conn->ac;
    if (!ac)
        return;
    int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    conn->dropping = why;
    redisAsyncFree(ac); /* pending callbacks get NULL; then on_disconnect if connected */
    conn->dropping = NULL;
    if (!connected || conn->ac)
        lost(conn, why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct aio_redis_conn *conn = ac->data;
    lost(conn, conn->dropping ? conn->dropping
                              : status == REDIS_OK ? "connection closed" : ac->errstr);
}

/* ---- commands ----------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending *p = privdata;
    struct aio_redis_conn *conn = p->conn;
    if (p->fn)
        p->fn(ac, reply, p->privdata);
    free(p);
    if (!reply)
        return; /* the connection is being dropped */
    if (conn->pending)
        conn->pending--;
    if (conn->state != AIO_REDIS_UP)
        return;
    if (conn->pending)
        arm(conn, conn->timeout_ms); /* the next reply has its own deadline */
    else
        uv_timer_stop(&conn->timer);
}

int aio__redis_send(struct aio_redis_conn *conn, redisCallbackFn *fn, void *privdata,
                    const char *cmd, size_t len)
{
    if (conn->state != AIO_REDIS_UP || !conn->ac)
        return AIO_EUNAVAILABLE;
    struct pending *p = malloc(sizeof(*p));
    if (!p)
        return AIO_ENOMEM;
    *p = (struct pending){conn, fn, privdata};
    if (redisAsyncFormattedCommand(conn->ac, on_reply, p, cmd, len) != REDIS_OK) {
        free(p);
        return AIO_EUNAVAILABLE;
    }
    if (conn->pending++ == 0)
        arm(conn, conn->timeout_ms);
    return AIO_OK;
}

static int send_command(struct aio_redis_conn *conn, redisCallbackFn *fn, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return AIO_ENOMEM;
    int rc = aio__redis_send(conn, fn, conn, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

int aio__redis_subscribe(struct aio_redis_conn *conn, redisCallbackFn *fn, void *privdata,
                         const char *channel)
{
    if (conn->state != AIO_REDIS_UP || !conn->ac)
        return AIO_EUNAVAILABLE;
    if (redisAsyncCommand(conn->ac, fn, privdata, "SUBSCRIBE %s", channel) != REDIS_OK)
        return AIO_EUNAVAILABLE;
    return AIO_OK;
}

/* ---- connecting ------------------------------------------------------------ */

/* AUTH or SELECT answered: an error drops the connection (from a timer:
 * this runs inside hiredis). */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct aio_redis_conn *conn = privdata;
    const redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ERROR)
        return;
    if (!conn->reported_down) {
        char line[320];
        snprintf(line, sizeof(line), "refused the connection's set-up: %.200s", reply->str);
        log_state(conn, line);
        conn->reported_down = 1;
    }
    conn->state = AIO_REDIS_CONNECTING; /* not usable: the timer drops it */
    arm(conn, 0);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct aio_redis_conn *conn = cac->data;
    redisAsyncContext *ac = conn->ac;
    if (status != REDIS_OK) {
        lost(conn, cac->errstr); /* hiredis frees the context after this */
        return;
    }
    redisEnableKeepAlive(&ac->c);
    uv_timer_stop(&conn->timer);
    conn->state = AIO_REDIS_UP;
    conn->timed_out = 0;
    conn->backoff_ms = BACKOFF_FIRST_MS;
    /* sent before anything else on the connection, so what follows runs
     * authenticated and in the right database (or not at all) */
    if (conn->url.password[0] && conn->url.user[0])
        send_command(conn, on_setup_reply, "AUTH %s %s", conn->url.user, conn->url.password);
    else if (conn->url.password[0])
        send_command(conn, on_setup_reply, "AUTH %s", conn->url.password);
    if (conn->url.db)
        send_command(conn, on_setup_reply, "SELECT %ld", conn->url.db);
    log_state(conn, conn->reported_down ? "connected again" : "connected");
    conn->reported_down = 0;
    if (conn->on_up)
        conn->on_up(conn);
}

static void connect_now(struct aio_redis_conn *conn)
{
    conn->state = AIO_REDIS_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(conn->address, conn->url.port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        lost(conn, why);
        return;
    }
    ac->data = conn;
    if (attach(conn, ac) != AIO_OK) {
        redisAsyncFree(ac);
        lost(conn, "cannot watch the socket");
        return;
    }
    conn->ac = ac;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* waits for writability */
    arm(conn, conn->timeout_ms);
}

static void on_timer(uv_timer_t *timer)
{
    struct aio_redis_conn *conn = timer->data;
    switch (conn->state) {
    case AIO_REDIS_DOWN:
        connect_now(conn);
        break;
    case AIO_REDIS_CONNECTING:
        drop(conn, conn->ac && (conn->ac->c.flags & REDIS_CONNECTED) ? "set-up refused"
                                                                     : "connect timed out");
        break;
    case AIO_REDIS_UP:
        conn->timed_out = 1;
        drop(conn, "no reply within the timeout");
        break;
    case AIO_REDIS_CLOSED:
        break;
    }
}

/* The host as a numeric address: hiredis resolves names on every connect,
 * which would block the loop. */
static void resolve(struct aio_redis_conn *conn)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    snprintf(conn->address, sizeof(conn->address), "%s", conn->url.host);
    if (getaddrinfo(conn->url.host, NULL, &hints, &res) != 0 || !res) {
        log_state(conn, "cannot resolve the host name now; trying it as it is");
        return;
    }
    char host[64];
    if (getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), NULL, 0,
                    NI_NUMERICHOST) == 0)
        snprintf(conn->address, sizeof(conn->address), "%s", host);
    freeaddrinfo(res);
}

int aio__redis_open(struct aio_redis_conn *conn, uv_loop_t *loop)
{
    if (uv_timer_init(loop, &conn->timer) != 0)
        return AIO_ERROR;
    conn->timer.data = conn;
    conn->backoff_ms = BACKOFF_FIRST_MS;
    conn->state = AIO_REDIS_DOWN;
    if (conn->timeout_ms <= 0)
        conn->timeout_ms = 2000;
    resolve(conn);
    connect_now(conn);
    return AIO_OK;
}

void aio__redis_close(struct aio_redis_conn *conn)
{
    if (conn->state == AIO_REDIS_CLOSED || !conn->timer.loop)
        return;
    conn->state = AIO_REDIS_CLOSED;
    uv_timer_stop(&conn->timer);
    if (conn->ac)
        redisAsyncFree(conn->ac); /* pending callbacks get NULL replies */
    conn->ac = NULL;
    uv_close((uv_handle_t *)&conn->timer, NULL);
}
