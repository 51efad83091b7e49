/* websocket.c - upgraded connections (SPEC §8).
 *
 * The handshake and the bytes go through the connection's host: in the
 * server, uWSGI's handshake (uwsgi_websocket_handshake) and the request's
 * protocol I/O (proto_read_body/proto_write), as for any response (loop.c);
 * in libaio_testing, a socketpair. The framing is ours (wsframe.c), because
 * uWSGI's parser can be crashed by one client frame and shares its
 * reassembly buffer between connections.
 *
 * The loop, not the view, reads the connection: whenever it is readable,
 * frames are parsed, pings answered, closes echoed and protocol errors
 * answered with their close code, whatever the view is doing; complete
 * messages wait in the connection's inbox for aio_ws_recv(). Frames to send
 * go to an output buffer written as fast as the client takes it, so any
 * task may send to any connection without interleaving bytes. The view's
 * coroutine is resumed only from the loop's top level (aio__task_wake_soon),
 * never from inside these callbacks, so a view that returns cannot pull the
 * connection from under them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http.h"
#include "app/app.h"
#include "base/utf8.h"
#include "proto/wsframe.h"

#define READ_CHUNK 16384
/* The view's own sends wait while more than this is unwritten. */
#define HIGH_WATER (256u * 1024u)
/* A connection that lets more than this pile up (others' sends: broadcast)
 * is dropped instead of eating the worker's memory. */
#define HARD_LIMIT (16u * 1024u * 1024u)
/* How long to wait for the peer's close frame, and for the last bytes. */
#define CLOSE_TIMEOUT_MS 2000

enum ws_state {
    WS_OPEN,
    WS_CLOSING, /* our close frame is out, the peer's is awaited */
    WS_CLOSED,  /* both closes exchanged, or the connection is gone */
};

struct aio_ws {
    struct aio_list node; /* in aio__app.websockets */
    uint64_t id;
    struct aio_conn *conn; /* taken from the task for the session */
    const struct aio_conn_ops *host_ops; /* the connection's own: its bytes */
    struct aio_request *req;
    struct aio_task *owner;
    const struct aio_view *view;
    int bytes;            /* deliver everything as AIO_MSG_BINARY */
    enum ws_state state;
    int close_code;       /* how it ended; 0 while open */
    int got_close;        /* the peer's close frame (or EOF) arrived: stop reading */
    int gone;             /* the connection failed: nothing more can be written */
    int owner_waits;
    struct aio_ws_parser parser;
    struct aio_list inbox;
    size_t inbox_bytes;
    struct aio_buf out;   /* `written` bytes of it are out */
    size_t written;
    uv_timer_t timer;     /* idle pings */
    uint64_t last_seen;
    uint64_t ping_sent;   /* when the unanswered ping went out, 0: none */
    void *data;
};

static size_t max_message(void)
{
    return aio__app.opts.engine.ws_max_message;
}

static int is_owner(const struct aio_ws *ws)
{
    return aio__running_task() == ws->owner;
}

static void notify_owner(struct aio_ws *ws)
{
    if (ws->owner_waits)
        aio__task_wake_soon(ws->owner, AIO_OK);
}

static size_t unwritten(const struct aio_ws *ws)
{
    return ws->out.len - ws->written;
}

/* What the connection's watcher should wait for now. */
static void update_watch(struct aio_ws *ws)
{
    int events = 0;
    if (!ws->gone) {
        if (!ws->got_close && ws->inbox_bytes <= max_message())
            events |= UV_READABLE | UV_DISCONNECT;
        if (unwritten(ws))
            events |= UV_WRITABLE;
    }
    aio__conn_watch(ws->conn, events);
}

/* The connection is unusable (EOF, reset, write error, no pong...). */
static void connection_gone(struct aio_ws *ws, int code)
{
    if (ws->gone)
        return;
    ws->gone = 1;
    ws->got_close = 1;
    ws->state = WS_CLOSED;
    if (!ws->close_code)
        ws->close_code = code;
    aio__buf_reset(&ws->out);
    ws->written = 0;
    notify_owner(ws);
    /* A view suspended elsewhere (aio_sleep...) learns it at once: its
     * request is cancelled, quietly (a closed websocket is no incident). */
    ws->owner->cancelled = 1;
    if (!ws->owner_waits)
        aio__task_wake_soon(ws->owner, AIO_ECANCELLED);
}

/* ---- writing ---------------------------------------------------------------- */

static void flush(struct aio_ws *ws)
{
    while (!ws->gone && unwritten(ws)) {
        size_t before = ws->written;
        enum aio_io_status rc =
            ws->host_ops->write(ws->conn, ws->out.data, ws->out.len, &ws->written);
        if (rc == AIO_IO_DONE) {
            aio__buf_reset(&ws->out);
            ws->written = 0;
        } else if (rc == AIO_IO_AGAIN) {
            if (ws->written == before)
                break; /* the socket is full: wait until it is writable */
        } else {
            connection_gone(ws, AIO_WS_ABNORMAL);
        }
    }
    if (!unwritten(ws))
        notify_owner(ws); /* a sender may wait for the buffer to drain */
    update_watch(ws);
}

static int queue_frame(struct aio_ws *ws, int opcode, const void *data, size_t len)
{
    uint8_t header[14];
    size_t n = aio__ws_frame_header(header, 1, opcode, len, NULL);
    if (aio__buf_reserve(&ws->out, n + len) != AIO_OK)
        return AIO_ENOMEM;
    aio__buf_append(&ws->out, header, n);
    aio__buf_append(&ws->out, data, len);
    flush(ws);
    return AIO_OK;
}

static void queue_close(struct aio_ws *ws, int code, const char *reason)
{
    uint8_t payload[125];
    queue_frame(ws, AIO_WS_OP_CLOSE, payload, aio__ws_close_payload(payload, code, reason));
    ws->state = ws->got_close ? WS_CLOSED : WS_CLOSING;
    if (!ws->close_code)
        ws->close_code = code;
    notify_owner(ws);
}

/* ---- reading ---------------------------------------------------------------- */

static void log_protocol_error(struct aio_ws *ws, int code, const char *why)
{
    aio__log("websocket %s from %s: %s, closing with %d", ws->req->path, ws->req->remote_addr,
            why, code);
}

struct aio_msg *aio__msg_new(int type, char *data, size_t len)
{
    struct aio_msg *msg = malloc(sizeof(*msg));
    if (!msg) {
        free(data);
        return NULL;
    }
    aio__list_init(&msg->node);
    msg->type = type;
    msg->data = data;
    msg->len = len;
    return msg;
}

static void deliver(struct aio_ws *ws, struct aio_ws_event *ev)
{
    int type = ev->opcode == AIO_WS_OP_TEXT && !ws->bytes ? AIO_MSG_TEXT : AIO_MSG_BINARY;
    struct aio_msg *msg = aio__msg_new(type, ev->data, ev->len);
    if (!msg) {
        queue_close(ws, AIO_WS_INTERNAL_ERROR, "out of memory");
        ws->got_close = 1;
        return;
    }
    aio__list_append(&ws->inbox, &msg->node);
    ws->inbox_bytes += msg->len;
    notify_owner(ws);
}

static void handle_event(struct aio_ws *ws, struct aio_ws_event *ev)
{
    switch (ev->kind) {
    case AIO_WS_EV_MESSAGE:
        deliver(ws, ev);
        break;
    case AIO_WS_EV_PING:
        if (ws->state == WS_OPEN)
            queue_frame(ws, AIO_WS_OP_PONG, ev->data, ev->len);
        break;
    case AIO_WS_EV_PONG:
        ws->ping_sent = 0;
        break;
    case AIO_WS_EV_CLOSE:
        ws->got_close = 1;
        if (ws->state == WS_OPEN) /* echo the peer's code (none: an empty close) */
            queue_close(ws, ev->code, "");
        ws->state = WS_CLOSED;
        ws->close_code = ev->code;
        notify_owner(ws);
        break;
    case AIO_WS_EV_ERROR:
        log_protocol_error(ws, ev->code, ev->reason);
        ws->got_close = 1; /* after a protocol error nothing more is read */
        if (ws->state == WS_OPEN)
            queue_close(ws, ev->code, ev->reason);
        ws->state = WS_CLOSED;
        ws->close_code = ev->code;
        notify_owner(ws);
        break;
    case AIO_WS_EV_NONE:
        break;
    }
}

static void read_frames(struct aio_ws *ws)
{
    while (!ws->got_close && ws->inbox_bytes <= max_message()) {
        ssize_t n = ws->host_ops->read(ws->conn, aio__app.ws_read_buf, READ_CHUNK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) { /* the peer went away without a close frame */
            connection_gone(ws, AIO_WS_ABNORMAL);
            break;
        }
        ws->last_seen = aio__loop_ms();
        ws->ping_sent = 0; /* whatever arrives shows the peer is alive */
        if (aio__ws_parser_feed(&ws->parser, aio__app.ws_read_buf, (size_t)n) != AIO_OK) {
            queue_close(ws, AIO_WS_INTERNAL_ERROR, "out of memory");
            ws->got_close = 1;
            break;
        }
        struct aio_ws_event ev;
        do {
            aio__ws_parser_next(&ws->parser, &ev);
            handle_event(ws, &ev);
        } while (ev.kind != AIO_WS_EV_NONE && !ws->got_close);
    }
}

/* Client fd events of an upgraded connection: its ops are ours now. */
static void on_conn_event(struct aio_conn *conn, int status, int events)
{
    struct aio_ws *ws = conn->data;
    if (status < 0) {
        connection_gone(ws, AIO_WS_ABNORMAL);
    } else {
        if (events & UV_WRITABLE)
            flush(ws);
        if (events & (UV_READABLE | UV_DISCONNECT))
            read_frames(ws);
    }
    update_watch(ws);
}

static const struct aio_conn_ops ws_conn_ops = {.event = on_conn_event};

/* The session takes the connection over: its events come here, its bytes
 * still move through the host's ops, and the task no longer watches it. */
static void take_connection(struct aio_ws *ws, struct aio_task *task)
{
    ws->conn = task->conn;
    ws->host_ops = ws->conn->ops;
    ws->conn->ops = &ws_conn_ops;
    ws->conn->data = ws;
    task->conn = NULL;
}

static void give_connection_back(struct aio_ws *ws)
{
    aio__conn_watch(ws->conn, 0);
    ws->conn->ops = ws->host_ops;
    ws->conn->data = NULL;
    ws->owner->conn = ws->conn;
}

/* ---- idle pings ----------------------------------------------------------- */

static void on_ping_timer(uv_timer_t *timer)
{
    struct aio_ws *ws = timer->data;
    if (ws->state != WS_OPEN || ws->gone)
        return;
    uint64_t now = aio__loop_ms();
    uint64_t freq = (uint64_t)aio__app.opts.engine.ws_ping_freq * 1000;
    uint64_t tolerance = (uint64_t)aio__app.opts.engine.ws_pong_tolerance * 1000;
    if (ws->ping_sent) {
        if (now - ws->ping_sent >= tolerance) {
            log_protocol_error(ws, AIO_WS_ABNORMAL, "no pong to a ping (websockets-pong-tolerance)");
            connection_gone(ws, AIO_WS_ABNORMAL);
            return;
        }
        uv_timer_start(timer, on_ping_timer, tolerance - (now - ws->ping_sent), 0);
    } else if (now - ws->last_seen >= freq) {
        queue_frame(ws, AIO_WS_OP_PING, "aio", 3);
        ws->ping_sent = now ? now : 1;
        uv_timer_start(timer, on_ping_timer, tolerance, 0);
    } else {
        uv_timer_start(timer, on_ping_timer, freq - (now - ws->last_seen), 0);
    }
}

/* ---- the view's side -------------------------------------------------------- */

/* Suspends the connection's coroutine until something about it changes
 * (or timeout_ms, < 0: none). */
static int owner_wait(struct aio_ws *ws, int timeout_ms)
{
    struct aio_wait wait = {.fd = -1, .timeout_ms = timeout_ms};
    ws->owner_waits = 1;
    int rc = aio__task_wait(ws->owner, &wait);
    ws->owner_waits = 0;
    return rc;
}

aio_msg *aio_ws_recv(aio_ws *ws)
{
    if (!ws || !is_owner(ws))
        return NULL;
    for (;;) {
        struct aio_list *node = aio__list_first(&ws->inbox);
        if (node) {
            aio__list_remove(node);
            struct aio_msg *msg = aio__list_entry(node, struct aio_msg, node);
            ws->inbox_bytes -= msg->len;
            update_watch(ws); /* reading may have paused for a full inbox */
            return msg;
        }
        if (ws->state != WS_OPEN || ws->owner->cancelled)
            return NULL;
        if (owner_wait(ws, -1) == AIO_ECANCELLED)
            return NULL;
    }
}

int aio_msg_type(const aio_msg *msg)
{
    return msg->type;
}

const char *aio_msg_data(const aio_msg *msg, size_t *len)
{
    if (len)
        *len = msg->len;
    return msg->data;
}

void aio_msg_free(aio_msg *msg)
{
    if (msg) {
        free(msg->data);
        free(msg);
    }
}

/* A message any sender may send: AIO_OK, AIO_ESCOPE or AIO_EINVAL. */
static int check_message(int type, const void *data, size_t len)
{
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if ((type != AIO_MSG_TEXT && type != AIO_MSG_BINARY) || (!data && len) ||
        (type == AIO_MSG_TEXT && !aio__utf8_valid(data, len)))
        return AIO_EINVAL;
    return AIO_OK;
}

static int queue_message(struct aio_ws *ws, int type, const void *data, size_t len)
{
    return queue_frame(ws, type == AIO_MSG_TEXT ? AIO_WS_OP_TEXT : AIO_WS_OP_BINARY, data, len);
}

/* Drops a connection that lets what others send it pile up (it would eat
 * the worker's memory); 1 when it did. */
static int drop_if_backlogged(struct aio_ws *ws)
{
    if (unwritten(ws) <= HARD_LIMIT)
        return 0;
    log_protocol_error(ws, AIO_WS_ABNORMAL, "too slow to read what is sent to it");
    connection_gone(ws, AIO_WS_ABNORMAL);
    return 1;
}

static int send_message(struct aio_ws *ws, int type, const void *data, size_t len)
{
    int rc = check_message(type, data, len);
    if (rc == AIO_OK && !ws)
        rc = AIO_EINVAL;
    if (rc != AIO_OK)
        return rc;
    if (ws->state != WS_OPEN || ws->gone)
        return AIO_ECLOSED;
    if ((rc = queue_message(ws, type, data, len)) != AIO_OK)
        return rc;
    if (is_owner(ws)) {
        while (unwritten(ws) > HIGH_WATER && !ws->gone)
            if (owner_wait(ws, -1) == AIO_ECANCELLED)
                break;
    } else {
        drop_if_backlogged(ws);
    }
    return ws->gone ? AIO_ECLOSED : AIO_OK;
}

int aio_ws_send(aio_ws *ws, const aio_msg *msg)
{
    return msg ? send_message(ws, msg->type, msg->data, msg->len) : AIO_EINVAL;
}

int aio_ws_send_text(aio_ws *ws, const char *text)
{
    return text ? send_message(ws, AIO_MSG_TEXT, text, strlen(text)) : AIO_EINVAL;
}

int aio_ws_send_binary(aio_ws *ws, const void *data, size_t len)
{
    return send_message(ws, AIO_MSG_BINARY, data, len);
}

int aio_ws_broadcast(const char *route, int type, const void *data, size_t len)
{
    int rc = check_message(type, data, len);
    if (rc != AIO_OK)
        return rc;
    int sent = 0;
    for (struct aio_list *n = aio__list_first(&aio__app.websockets); n;
         n = aio__list_next(&aio__app.websockets, n)) {
        struct aio_ws *ws = aio__list_entry(n, struct aio_ws, node);
        if (route && strcmp(ws->view->route->name, route) != 0)
            continue;
        /* the connection's own coroutine never waits here: this is not it */
        if (ws->state == WS_OPEN && !ws->gone && queue_message(ws, type, data, len) == AIO_OK &&
            !drop_if_backlogged(ws))
            sent++;
    }
    return sent;
}

/* Waits (as the owner) until the peer's close arrived and our bytes are
 * out, or CLOSE_TIMEOUT_MS passed. */
static void finish_closing(struct aio_ws *ws)
{
    uint64_t deadline = aio__loop_ms() + CLOSE_TIMEOUT_MS;
    while (!ws->gone && (!ws->got_close || unwritten(ws)) && !ws->owner->cancelled) {
        uint64_t now = aio__loop_ms();
        if (now >= deadline)
            break;
        owner_wait(ws, (int)(deadline - now));
    }
    ws->state = WS_CLOSED;
}

int aio_ws_close(aio_ws *ws, int code, const char *reason)
{
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if (!ws || !aio__ws_close_code_valid(code) || (reason && strlen(reason) > 123) ||
        (reason && !aio__utf8_valid(reason, strlen(reason))))
        return AIO_EINVAL;
    if (ws->state == WS_OPEN && !ws->gone)
        queue_close(ws, code, reason ? reason : "");
    if (is_owner(ws))
        finish_closing(ws);
    return AIO_OK;
}

int aio_ws_is_open(const aio_ws *ws)
{
    return ws && ws->state == WS_OPEN && !ws->gone;
}

int aio_ws_close_code(const aio_ws *ws)
{
    return ws ? ws->close_code : 0;
}

aio_request *aio_ws_request(aio_ws *ws)
{
    return ws ? ws->req : NULL;
}

void aio_ws_set_data(aio_ws *ws, void *data)
{
    if (ws)
        ws->data = data;
}

void *aio_ws_data(const aio_ws *ws)
{
    return ws ? ws->data : NULL;
}

uint64_t aio_ws_id(const aio_ws *ws)
{
    return ws ? ws->id : 0;
}

aio_ws *aio_ws_find(uint64_t id)
{
    if (!aio__on_loop_thread())
        return NULL;
    for (struct aio_list *n = aio__list_first(&aio__app.websockets); n;
         n = aio__list_next(&aio__app.websockets, n)) {
        struct aio_ws *ws = aio__list_entry(n, struct aio_ws, node);
        if (ws->id == id && aio_ws_is_open(ws))
            return ws;
    }
    return NULL;
}

int aio_ws_ignore_closed(int status)
{
    return status == AIO_ECLOSED ? AIO_OK : status;
}

void aio__websockets_going_away(void)
{
    for (struct aio_list *n = aio__list_first(&aio__app.websockets); n;
         n = aio__list_next(&aio__app.websockets, n)) {
        struct aio_ws *ws = aio__list_entry(n, struct aio_ws, node);
        if (ws->state == WS_OPEN && !ws->gone)
            queue_close(ws, AIO_WS_GOING_AWAY, "server going away");
    }
}

/* ---- the session -------------------------------------------------------- */

/* 1 when the comma-separated header value lists `token` (any case). */
static int header_has_token(const char *value, const char *token)
{
    size_t len = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == len && strncasecmp(p, token, len) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* RFC 6455 §4.2.1: a base64 encoding of 16 bytes. */
static int valid_key(const char *key)
{
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return 0;
    for (int i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

/* 0, or the HTTP status refusing the upgrade (426 for a plain GET or an
 * unsupported version, 400 for a bad key). */
static int check_handshake(struct aio_request *req)
{
    const char *upgrade = aio_header(req, "Upgrade");
    const char *connection = aio_header(req, "Connection");
    const char *version = aio_header(req, "Sec-WebSocket-Version");
    if (!upgrade || !header_has_token(upgrade, "websocket") || !connection ||
        !header_has_token(connection, "upgrade"))
        return 426; /* a plain GET to a websocket route */
    if (!version || strcmp(version, "13") != 0)
        return 426;
    if (!valid_key(aio_header(req, "Sec-WebSocket-Key")))
        return 400;
    return 0;
}

static void free_ws(uv_handle_t *timer)
{
    free(timer->data);
}

static void session_end(struct aio_ws *ws, int status)
{
    struct aio_request *req = ws->req;
    int quiet = status >= 0 || (status == AIO_ECLOSED && aio__app.opts.ignore_websocket_closed);
    if (!quiet) {
        aio__log("websocket view of route '%s' failed on %s: %s", aio_route_name(req), req->path,
                req->failure ? req->failure : aio_strerror(status));
        if (ws->state == WS_OPEN && !ws->gone)
            queue_close(ws, AIO_WS_INTERNAL_ERROR, "internal error");
    } else if (ws->state == WS_OPEN && !ws->gone) {
        queue_close(ws, AIO_WS_NORMAL, "");
    }
    finish_closing(ws);
    if (ws->view->ws_callbacks.on_close)
        ws->view->ws_callbacks.on_close(ws, ws->close_code);
    uv_timer_stop(&ws->timer);
    aio__list_remove(&ws->node);
    struct aio_list *node;
    while ((node = aio__list_first(&ws->inbox)) != NULL) {
        aio__list_remove(node);
        aio_msg_free(aio__list_entry(node, struct aio_msg, node));
    }
    aio__ws_parser_free(&ws->parser);
    aio__buf_free(&ws->out);
    give_connection_back(ws);
    uv_close((uv_handle_t *)&ws->timer, free_ws);
}

static int run_callbacks(struct aio_ws *ws)
{
    const struct aio_ws_callbacks *cb = &ws->view->ws_callbacks;
    int rc = cb->on_open ? cb->on_open(ws) : AIO_OK;
    aio_msg *msg;
    while (rc >= 0 && (msg = aio_ws_recv(ws)) != NULL) {
        rc = cb->on_message(ws, msg);
        aio_msg_free(msg);
    }
    return rc;
}

int aio__websocket_session(struct aio_request *req, const struct aio_view *view)
{
    struct aio_task *task = req->task;
    int status = check_handshake(req);
    if (status)
        return status;
    if (!task->conn)
        return 500; /* no connection to upgrade (a request without a client) */
    if (!aio__app.ws_read_buf && !(aio__app.ws_read_buf = malloc(READ_CHUNK)))
        return 503;
    struct aio_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return 503;
    if (task->conn->ops->upgrade(task->conn, req) != AIO_OK) {
        free(ws); /* the client is gone: nothing to answer */
        req->upgraded = 1;
        return 0;
    }
    req->upgraded = 1;
    ws->id = ++aio__app.next_ws_id;
    ws->req = req;
    ws->owner = task;
    ws->view = view;
    ws->bytes = (view->flags & AIO_WS_BYTES) || aio__app.opts.websocket_bytes;
    ws->last_seen = aio__loop_ms();
    aio__list_init(&ws->inbox);
    aio__ws_parser_init(&ws->parser, AIO_WS_SERVER, max_message());
    uv_timer_init(&aio__engine.loop, &ws->timer);
    ws->timer.data = ws;
    if (aio__app.opts.engine.ws_ping_freq > 0)
        uv_timer_start(&ws->timer, on_ping_timer, (uint64_t)aio__app.opts.engine.ws_ping_freq * 1000,
                       0);
    aio__list_append(&aio__app.websockets, &ws->node);
    take_connection(ws, task);
    /* Frames the client sent right behind its handshake are read now. */
    read_frames(ws);
    update_watch(ws);
    status = view->ws_fn ? view->ws_fn(ws) : run_callbacks(ws);
    session_end(ws, status);
    return 0;
}
