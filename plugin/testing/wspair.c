/* wspair.c - libaio_testing's websocket test pairs: a socketpair where the
 * client connection would be. The server's end goes through the framework's
 * websocket session like a real connection; the client's end is the same
 * websocket endpoint (engine/wsconn.c) in its client role (testing.h). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/wsframe.h"
#include "testing/testing.h"

/* Sec-WebSocket-Key of the handshake request (RFC 6455's example). */
#define HANDSHAKE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* ---- the websocket test pair: both ends ----------------------------------------- */

#define ws_of_conn(c) aio__container_of(c, aio_testing_ws, conn)
#define ws_of_client(c) aio__container_of(c, aio_testing_ws, client)

/* The client's end: only bytes (its endpoint takes the events). */
static const struct aio_conn_ops peer_conn_ops = {.read = aio__fd_read, .write = aio__fd_write};

static int client_message(struct aio_wsconn *c, int opcode, char *data, size_t len)
{
    aio_msg *msg = aio__msg_new(opcode == AIO_WS_OP_TEXT ? AIO_MSG_TEXT : AIO_MSG_BINARY, data, len);
    if (msg)
        aio__list_append(&ws_of_client(c)->inbox, &msg->node);
    else
        aio__log("websocket test client: out of memory, a message is lost");
    return AIO_OK;
}

static void client_failed(struct aio_wsconn *c, int code, const char *why)
{
    (void)c;
    aio__log("websocket test client: the server broke the protocol: %s (%d)", why, code);
}

static void client_released(struct aio_wsconn *c)
{
    free(ws_of_client(c));
}

static const struct aio_wsconn_hooks client_hooks = {
    .message = client_message,
    .failed = client_failed,
    .released = client_released,
};

/* The server's close (or the end of the connection), 0 while none. */
static int client_close_code(const aio_testing_ws *ws)
{
    return ws->upgraded && ws->client.got_close ? ws->client.close_code : 0;
}

static int client_is_open(const aio_testing_ws *ws)
{
    return ws->upgraded && ws->client.state == AIO_WSCONN_OPEN && !ws->client.got_close &&
           !ws->client.gone;
}

static void server_event(struct aio_conn *conn, int status, int events)
{
    struct aio_task *task = &ws_of_conn(conn)->run->task;
    if (task->state == AIO_TASK_WAITING)
        aio__task_conn_event(task, status, events);
    else
        aio__conn_watch(conn, 0);
}

/* The handshake was checked by the framework; nothing goes over the pair:
 * the client's end starts in the open state. */
static int server_upgrade(struct aio_conn *conn, struct aio_request *req)
{
    (void)req;
    aio_testing_ws *ws = ws_of_conn(conn);
    ws->upgraded = 1;
    static const struct aio_wsconn_limits test_client = {0}; /* no limits, no pings */
    aio__wsconn_open(&ws->client, AIO_WS_CLIENT, &ws->peer, &test_client, &client_hooks, ws);
    return AIO_OK;
}

static const struct aio_conn_ops pair_conn_ops = {
    .event = server_event,
    .upgrade = server_upgrade,
    .read = aio__fd_read,
    .write = aio__fd_write,
};

/* ---- the websocket test pair: the test's API ------------------------------------- */

static int pair_open(aio_testing_ws *ws)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return AIO_ERROR;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    ws->conn.fd = fds[0];
    ws->conn.ops = &pair_conn_ops;
    ws->peer.fd = fds[1];
    ws->peer.ops = &peer_conn_ops;
    return AIO_OK;
}

static int handshake_headers(aio_request *req, va_list ap)
{
    int rc = aio_testing_set_header(req, "Upgrade", "websocket");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Connection", "Upgrade");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Sec-WebSocket-Version", "13");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Sec-WebSocket-Key", HANDSHAKE_KEY);
    const char *name;
    while (rc == AIO_OK && (name = va_arg(ap, const char *)) != NULL)
        rc = aio_testing_set_header(req, name, va_arg(ap, const char *));
    return rc;
}

static int upgraded_or_done(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return ws->upgraded || ws->run->done;
}

/* Drops the connection if open, waits for the session to end, frees. */
void aio__testing_ws_free(aio_testing_ws *ws)
{
    aio_testing *t = ws->t;
    if (!ws->run->done) {
        shutdown(ws->peer.fd, SHUT_RDWR); /* the server sees the connection drop */
        aio__testing_turn_until(t, aio__testing_run_done, ws->run, t->timeout_ms);
    }
    aio__testing_run_free(t, ws->run); /* cancels it first if still running */
    aio__conn_unwatch(&ws->conn);
    close(ws->conn.fd);
    struct aio_list *node;
    while ((node = aio__list_first(&ws->inbox)) != NULL) {
        aio__list_remove(node);
        aio_msg_free(aio__list_entry(node, aio_msg, node));
    }
    aio__list_remove(&ws->node);
    int upgraded = ws->upgraded;
    if (upgraded)
        aio__wsconn_release(&ws->client); /* frees ws once its timer has closed */
    aio__conn_unwatch(&ws->peer);
    close(ws->peer.fd);
    if (!upgraded)
        free(ws);
}

aio_testing_ws *aio_testing_ws_connect(aio_testing *t, const char *target, int *status, ...)
{
    int ignored;
    status = status ? status : &ignored;
    *status = AIO_EINVAL;
    if (!t || aio_in_coroutine())
        return NULL;
    aio_request *req = aio_testing_request(t, "GET", target);
    if (!req)
        return NULL;
    va_list ap;
    va_start(ap, status);
    int rc = handshake_headers(req, ap);
    va_end(ap);
    aio_testing_ws *ws = rc == AIO_OK ? calloc(1, sizeof(*ws)) : NULL;
    if (!ws || pair_open(ws) != AIO_OK) {
        free(ws);
        aio_testing_request_free(req);
        *status = rc == AIO_OK ? AIO_ENOMEM : rc;
        aio__testing_fail(t, *status, "cannot open a websocket test pair: %s", aio_strerror(*status));
        return NULL;
    }
    ws->t = t;
    ws->run = run_of(req);
    ws->run->task.conn = &ws->conn;
    ws->run->pair = ws;
    aio__list_init(&ws->inbox);
    aio__list_append(&t->sockets, &ws->node);
    aio__testing_run_start(t, ws->run, RUN_SERVE);
    rc = aio__testing_turn_until(t, upgraded_or_done, ws, t->timeout_ms);
    if (ws->upgraded) {
        *status = 101;
        return ws;
    }
    *status = rc == AIO_OK ? ws->run->result : AIO_ETIMEDOUT;
    aio__testing_fail(t, *status, "the websocket upgrade of %s was refused: %d", target, *status);
    aio__testing_ws_free(ws);
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT);
    return NULL;
}

int aio_testing_ws_send_text(aio_testing_ws *ws, const char *text)
{
    if (!ws || !text)
        return AIO_EINVAL;
    if (!client_is_open(ws))
        return AIO_ECLOSED;
    return aio__wsconn_send(&ws->client, AIO_WS_OP_TEXT, text, strlen(text));
}

int aio_testing_ws_send_binary(aio_testing_ws *ws, const void *data, size_t len)
{
    if (!ws || (!data && len))
        return AIO_EINVAL;
    if (!client_is_open(ws))
        return AIO_ECLOSED;
    return aio__wsconn_send(&ws->client, AIO_WS_OP_BINARY, data, len);
}

static int message_or_closed(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return !aio__list_empty(&ws->inbox) || client_close_code(ws);
}

aio_msg *aio_testing_ws_recv(aio_testing_ws *ws, int timeout_ms)
{
    if (!ws || aio_in_coroutine())
        return NULL;
    aio__testing_turn_until(ws->t, message_or_closed, ws, timeout_ms);
    struct aio_list *node = aio__list_first(&ws->inbox);
    if (!node)
        return NULL;
    aio__list_remove(node);
    return aio__list_entry(node, aio_msg, node);
}

/* The view's session ended and the client has read all it was sent. */
static int session_over(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return ws->run->done && client_close_code(ws);
}

int aio_testing_ws_close(aio_testing_ws *ws, int code, const char *reason)
{
    if (!ws || !aio__ws_close_code_valid(code) || (reason && strlen(reason) > 123))
        return AIO_EINVAL;
    if (aio_in_coroutine())
        return AIO_ESCOPE;
    if (client_is_open(ws))
        aio__wsconn_close(&ws->client, code, reason);
    if (aio__testing_turn_until(ws->t, session_over, ws, ws->t->timeout_ms) != AIO_OK)
        return aio__testing_fail(ws->t, AIO_ETIMEDOUT, "the websocket session did not end within %d ms",
                    ws->t->timeout_ms);
    return client_close_code(ws);
}

int aio_testing_ws_close_code(const aio_testing_ws *ws)
{
    return ws ? client_close_code(ws) : 0;
}

aio_request *aio_testing_ws_request(aio_testing_ws *ws)
{
    return ws ? ws->run->task.req : NULL;
}

void aio_testing_ws_free(aio_testing_ws *ws)
{
    if (!ws || aio_in_coroutine())
        return;
    aio__testing_ws_free(ws);
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT); /* the close callbacks free it */
}
