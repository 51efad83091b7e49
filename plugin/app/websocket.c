/* websocket.c - websocket views: the session of an upgraded request, the
 * view's API (aio_ws_recv, aio_ws_send ...), topics, and the delivery of a
 * broadcast to this worker's websockets (app/broadcast.c sends it further).
 *
 * The handshake goes through the connection's host (uWSGI's
 * uwsgi_websocket_handshake in the server, nothing on a test pair); then a
 * websocket endpoint (engine/wsconn.c) owns the connection and moves the
 * frames, and this file keeps what the view sees: the inbox of complete
 * messages, the send policy, and the view's coroutine. That coroutine is
 * resumed only from the loop's top level (aio__task_wake_soon), never from
 * inside the endpoint's callbacks, so a view that returns cannot pull the
 * connection from under them. */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/utf8.h"
#include "engine/wsconn.h"
#include "proto/http.h"
#include "proto/pubsub.h"
#include "proto/wsframe.h"

/* The view's own sends wait while more than this is unwritten. */
#define HIGH_WATER (256u * 1024u)
/* A connection that lets more than this pile up (others' sends: broadcast)
 * is dropped instead of eating the worker's memory. */
#define HARD_LIMIT (16u * 1024u * 1024u)
/* How long to wait for the peer's close frame, and for the last bytes. */
#define CLOSE_TIMEOUT_MS 2000

struct aio_ws {
    struct aio_wsconn c;  /* the endpoint (first: the hooks get it) */
    struct aio_list node; /* in aio__app.websockets */
    uint64_t id;
    struct aio_request *req;
    /* The coroutine the view runs in: the request's task; for a detached
     * session the turn's running its callbacks, NULL between turns. */
    struct aio_task *owner;
    const struct aio_view *view;
    int detached;         /* the connection left the request's core */
    struct aio_list turn_node; /* in aio__app.ws_turn_queue while it waits for a turn */
    int bytes;            /* deliver everything as AIO_MSG_BINARY */
    int owner_waits;
    struct aio_list inbox;
    size_t inbox_bytes;
    void *data;
    char *topics[AIO_WS_MAX_TOPICS]; /* aio_ws_subscribe(), malloc'ed */
    int ntopics;
};

#define ws_of(conn) aio__container_of(conn, struct aio_ws, c)

static size_t max_message(void)
{
    return aio__app.opts.engine.ws_max_message;
}

static int is_owner(const struct aio_ws *ws)
{
    return ws->owner && aio__running_task() == ws->owner;
}

static int is_open(const struct aio_ws *ws)
{
    return ws->c.state == AIO_WSCONN_OPEN && !ws->c.gone;
}

static void schedule_turn(struct aio_ws *ws);

/* Something the view may wait for happened: a message, a close, room to
 * send. A detached session between turns gets a turn for it. */
static void notify_owner(struct aio_ws *ws)
{
    if (ws->owner_waits)
        aio__task_wake_soon(ws->owner, AIO_OK);
    else if (ws->detached && !ws->owner)
        schedule_turn(ws);
}

static void log_failure(struct aio_ws *ws, int code, const char *why)
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

/* ---- what the endpoint tells the session ------------------------------------- */

static int on_message(struct aio_wsconn *c, int opcode, char *data, size_t len)
{
    struct aio_ws *ws = ws_of(c);
    int type = opcode == AIO_WS_OP_TEXT && !ws->bytes ? AIO_MSG_TEXT : AIO_MSG_BINARY;
    struct aio_msg *msg = aio__msg_new(type, data, len);
    if (!msg)
        return AIO_ENOMEM;
    aio__list_append(&ws->inbox, &msg->node);
    ws->inbox_bytes += msg->len;
    aio__wsconn_set_paused(c, ws->inbox_bytes > max_message());
    notify_owner(ws);
    return AIO_OK;
}

static void on_changed(struct aio_wsconn *c)
{
    notify_owner(ws_of(c));
}

/* The connection is unusable (EOF, reset, write error, no pong...). */
static void on_gone(struct aio_wsconn *c)
{
    struct aio_ws *ws = ws_of(c);
    notify_owner(ws);
    if (!ws->owner)
        return; /* a turn waits for a coroutine: it ends the session */
    /* A view suspended elsewhere (aio_sleep...) learns it at once: its
     * request is cancelled, quietly (a closed websocket is no incident). */
    ws->owner->cancelled = 1;
    if (!ws->owner_waits)
        aio__task_wake_soon(ws->owner, AIO_ECANCELLED);
}

static void on_failed(struct aio_wsconn *c, int code, const char *why)
{
    log_failure(ws_of(c), code, why);
}

static void forget_topics(struct aio_ws *ws)
{
    for (int i = 0; i < ws->ntopics; i++)
        free(ws->topics[i]);
    ws->ntopics = 0;
}

static void on_released(struct aio_wsconn *c)
{
    struct aio_ws *ws = ws_of(c);
    forget_topics(ws);
    if (ws->detached) { /* the session had taken the request and its socket */
        aio__request_free(ws->req);
        aio__engine_live(-1);
    }
    free(ws);
}

static const struct aio_wsconn_hooks session_hooks = {
    .message = on_message,
    .changed = on_changed,
    .gone = on_gone,
    .failed = on_failed,
    .released = on_released,
};

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

/* Reading another connection's messages would race with its view for them:
 * a misuse this call cannot report through its NULL (the end of the
 * stream), so it stops here, loudly. */
static void recv_misused(const struct aio_ws *ws)
{
    aio__log("aio_ws_recv() %s: only the connection's own coroutine may read it; aborting",
             ws ? "called outside the connection's coroutine" : "called with NULL");
    abort();
}

/* The next message, or NULL when none is queued (without waiting). */
static aio_msg *inbox_take(struct aio_ws *ws)
{
    struct aio_list *node = aio__list_first(&ws->inbox);
    if (!node)
        return NULL;
    aio__list_remove(node);
    struct aio_msg *msg = aio__list_entry(node, struct aio_msg, node);
    ws->inbox_bytes -= msg->len;
    /* reading may have paused for a full inbox */
    aio__wsconn_set_paused(&ws->c, ws->inbox_bytes > max_message());
    return msg;
}

aio_msg *aio_ws_recv(aio_ws *ws)
{
    if (!ws || !is_owner(ws))
        recv_misused(ws);
    for (;;) {
        aio_msg *msg = inbox_take(ws);
        if (msg)
            return msg;
        if (ws->c.state != AIO_WSCONN_OPEN || ws->owner->cancelled)
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
    int opcode = type == AIO_MSG_TEXT ? AIO_WS_OP_TEXT : AIO_WS_OP_BINARY;
    return aio__wsconn_send(&ws->c, opcode, data, len);
}

/* Drops a connection that lets what others send it pile up (it would eat
 * the worker's memory); 1 when it did. */
static int drop_if_backlogged(struct aio_ws *ws)
{
    if (aio__wsconn_unwritten(&ws->c) <= HARD_LIMIT)
        return 0;
    log_failure(ws, AIO_WS_ABNORMAL, "too slow to read what is sent to it");
    aio__wsconn_drop(&ws->c, AIO_WS_ABNORMAL);
    return 1;
}

static int send_message(struct aio_ws *ws, int type, const void *data, size_t len)
{
    int rc = check_message(type, data, len);
    if (rc == AIO_OK && !ws)
        rc = AIO_EINVAL;
    if (rc != AIO_OK)
        return rc;
    if (!is_open(ws))
        return AIO_ECLOSED;
    if ((rc = queue_message(ws, type, data, len)) != AIO_OK)
        return rc;
    if (is_owner(ws)) {
        while (aio__wsconn_unwritten(&ws->c) > HIGH_WATER && !ws->c.gone)
            if (owner_wait(ws, -1) == AIO_ECANCELLED)
                break;
    } else {
        drop_if_backlogged(ws);
    }
    return ws->c.gone ? AIO_ECLOSED : AIO_OK;
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

/* `s` (NUL-terminated) is name[0..len), which is not NUL-terminated when it
 * comes out of an envelope. */
static int same_name(const char *s, const char *name, size_t len)
{
    return strlen(s) == len && memcmp(s, name, len) == 0;
}

static int topic_index(const struct aio_ws *ws, const char *topic, size_t len)
{
    for (int i = 0; i < ws->ntopics; i++)
        if (same_name(ws->topics[i], topic, len))
            return i;
    return -1;
}

static int topic_valid(const char *topic)
{
    size_t len = topic ? strlen(topic) : 0;
    return len > 0 && len <= AIO_PUBSUB_NAME_MAX && aio__utf8_valid(topic, len);
}

int aio_ws_subscribe(aio_ws *ws, const char *topic)
{
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if (!ws || !topic_valid(topic))
        return AIO_EINVAL;
    if (!is_open(ws))
        return AIO_ECLOSED;
    if (topic_index(ws, topic, strlen(topic)) >= 0)
        return AIO_OK;
    if (ws->ntopics == AIO_WS_MAX_TOPICS)
        return AIO_EFULL;
    if (!(ws->topics[ws->ntopics] = strdup(topic)))
        return AIO_ENOMEM;
    ws->ntopics++;
    return AIO_OK;
}

int aio_ws_unsubscribe(aio_ws *ws, const char *topic)
{
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if (!ws || !topic_valid(topic))
        return AIO_EINVAL;
    int i = topic_index(ws, topic, strlen(topic));
    if (i < 0)
        return AIO_ENOTFOUND;
    free(ws->topics[i]);
    ws->topics[i] = ws->topics[--ws->ntopics];
    return AIO_OK;
}

static int wants(const struct aio_ws *ws, int target, const char *name, size_t name_len)
{
    switch (target) {
    case AIO_PUBSUB_ALL:
        return 1;
    case AIO_PUBSUB_ROUTE:
        return same_name(ws->view->route->name, name, name_len);
    case AIO_PUBSUB_TOPIC:
        return topic_index(ws, name, name_len) >= 0;
    default:
        return 0;
    }
}

int aio__ws_deliver(int target, const char *name, size_t name_len, int type, const void *data,
                    size_t len)
{
    int rc = check_message(type, data, len);
    if (rc != AIO_OK)
        return rc;
    int sent = 0;
    for (struct aio_list *n = aio__list_first(&aio__app.websockets); n;
         n = aio__list_next(&aio__app.websockets, n)) {
        struct aio_ws *ws = aio__list_entry(n, struct aio_ws, node);
        if (!wants(ws, target, name, name_len))
            continue;
        /* the connection's own coroutine never waits here: this is not it */
        if (is_open(ws) && queue_message(ws, type, data, len) == AIO_OK && !drop_if_backlogged(ws))
            sent++;
    }
    return sent;
}

/* Waits (as the owner) until the peer's close arrived and our bytes are
 * out, or CLOSE_TIMEOUT_MS passed. */
static void finish_closing(struct aio_ws *ws)
{
    uint64_t deadline = aio__loop_ms() + CLOSE_TIMEOUT_MS;
    while (!ws->c.gone && (!ws->c.got_close || aio__wsconn_unwritten(&ws->c)) &&
           !ws->owner->cancelled) {
        uint64_t now = aio__loop_ms();
        if (now >= deadline)
            break;
        owner_wait(ws, (int)(deadline - now));
    }
    ws->c.state = AIO_WSCONN_CLOSED;
}

int aio_ws_close(aio_ws *ws, int code, const char *reason)
{
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if (!ws || !aio__ws_close_code_valid(code) || (reason && strlen(reason) > 123) ||
        (reason && !aio__utf8_valid(reason, strlen(reason))))
        return AIO_EINVAL;
    if (is_open(ws))
        aio__wsconn_close(&ws->c, code, reason ? reason : "");
    if (is_owner(ws))
        finish_closing(ws);
    return AIO_OK;
}

int aio_ws_is_open(const aio_ws *ws)
{
    return ws && is_open(ws);
}

int aio_ws_close_code(const aio_ws *ws)
{
    return ws ? ws->c.close_code : 0;
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
        if (is_open(ws))
            aio__wsconn_close(&ws->c, AIO_WS_GOING_AWAY, "server going away");
    }
}

/* ---- the session -------------------------------------------------------- */

/* 0, or the HTTP status refusing the upgrade (426 for a plain GET or an
 * unsupported version, 400 for a bad key). */
static int check_handshake(struct aio_request *req)
{
    const char *upgrade = aio_header(req, "Upgrade");
    const char *connection = aio_header(req, "Connection");
    const char *version = aio_header(req, "Sec-WebSocket-Version");
    if (!upgrade || !aio__http_has_token(upgrade, "websocket") || !connection ||
        !aio__http_has_token(connection, "upgrade"))
        return 426; /* a plain GET to a websocket route */
    if (!version || strcmp(version, "13") != 0)
        return 426;
    if (!aio__ws_key_valid(aio_header(req, "Sec-WebSocket-Key")))
        return 400;
    return 0;
}

static void session_end(struct aio_ws *ws, int status)
{
    struct aio_request *req = ws->req;
    int quiet = status >= 0 || (status == AIO_ECLOSED && aio__app.opts.ignore_websocket_closed) ||
                (status == AIO_ECANCELLED && ws->owner->cancelled); /* stopping, or gone */
    if (!quiet) {
        aio__log("websocket view of route '%s' failed on %s: %s", aio_route_name(req), req->path,
                 req->failure ? req->failure : aio_strerror(status));
        if (is_open(ws))
            aio__wsconn_close(&ws->c, AIO_WS_INTERNAL_ERROR, "internal error");
    } else if (is_open(ws)) {
        aio__wsconn_close(&ws->c, AIO_WS_NORMAL, "");
    }
    finish_closing(ws);
    if (ws->view->ws_callbacks.on_close)
        ws->view->ws_callbacks.on_close(ws, ws->c.close_code);
    aio__list_remove(&ws->node);
    aio__app.nwebsockets--;
    struct aio_list *node;
    while ((node = aio__list_first(&ws->inbox)) != NULL) {
        aio__list_remove(node);
        aio_msg_free(aio__list_entry(node, struct aio_msg, node));
    }
    struct aio_conn *conn = ws->c.conn;
    if (ws->detached) {
        aio__app.ws_detached--;
        aio__wsconn_release(&ws->c); /* frees ws (and the request) once its timers closed */
        aio__fdconn_close(conn);
    } else {
        ws->owner->conn = conn;      /* the task has its connection back */
        aio__wsconn_release(&ws->c); /* frees ws once its timer has closed */
    }
}

static int deliver(struct aio_ws *ws, aio_msg *msg)
{
    int rc = ws->view->ws_callbacks.on_message(ws, msg);
    aio_msg_free(msg);
    return rc;
}

/* A callbacks session that keeps its request's task: every message as it
 * comes, until the end. */
static int run_callbacks(struct aio_ws *ws)
{
    int rc = AIO_OK;
    aio_msg *msg;
    while (rc >= 0 && (msg = aio_ws_recv(ws)) != NULL)
        rc = deliver(ws, msg);
    return rc;
}

/* ---- detached sessions: callbacks in turns ------------------------------------ */

/* At most this many detached sessions run callbacks at once (0: no bound);
 * the others wait their turn, their messages queued. */
static long turns_limit(void)
{
    return aio__app.opts.websocket_callbacks;
}

static int session_turn(struct aio_request *req, void *arg);

static void start_turn(struct aio_ws *ws)
{
    ws->owner = aio__spawn_for(ws->req, "websocket", session_turn, ws);
    if (ws->owner) {
        aio__app.ws_turns++;
        return;
    }
    /* out of memory: the next turn that ends tries again */
    log_failure(ws, AIO_WS_INTERNAL_ERROR, "no coroutine for its callbacks (out of memory)");
    aio__list_append(&aio__app.ws_turn_queue, &ws->turn_node);
}

static void schedule_turn(struct aio_ws *ws)
{
    if (ws->owner || !aio__list_empty(&ws->turn_node)) /* a lone node is empty: not queued */
        return;
    if (turns_limit() > 0 && aio__app.ws_turns >= turns_limit()) {
        aio__list_append(&aio__app.ws_turn_queue, &ws->turn_node);
        return;
    }
    start_turn(ws);
}

/* A turn ended: the longest waiting session takes its place. */
static void turn_over(void)
{
    aio__app.ws_turns--;
    struct aio_list *node = aio__list_first(&aio__app.ws_turn_queue);
    if (!node)
        return;
    aio__list_remove(node);
    start_turn(aio__list_entry(node, struct aio_ws, turn_node));
}

/* A detached session's turn, in a pooled coroutine: every message queued,
 * then back to idle; or the end of the session, when it is over. */
static int session_turn(struct aio_request *req, void *arg)
{
    (void)req;
    struct aio_ws *ws = arg;
    int rc = AIO_OK;
    aio_msg *msg;
    while (rc >= 0 && !ws->owner->cancelled && (msg = inbox_take(ws)) != NULL)
        rc = deliver(ws, msg);
    if (rc < 0 || !is_open(ws))
        session_end(ws, rc); /* reports rc; ws is freed soon after, not touched again */
    else
        ws->owner = NULL;
    turn_over();
    return AIO_OK;
}

/* The session goes on without the core (the host detaches the socket from
 * it) and takes the request; 1 when it did. */
static int detach(struct aio_ws *ws)
{
    struct aio_task *task = ws->owner;
    struct aio_conn *own = ws->c.io->detach ? ws->c.io->detach(ws->c.conn) : NULL;
    if (!own)
        return 0;
    struct aio_conn *conn = ws->c.conn;
    aio__wsconn_move(&ws->c, own);
    task->conn = conn; /* the core ends its request there (the fd is not its now) */
    ws->req->detached = 1;
    ws->req->task = NULL;
    task->req = NULL;
    ws->owner = NULL;
    ws->detached = 1;
    aio__app.ws_detached++;
    aio__engine_live(+1); /* until the session is released */
    if (!aio__list_empty(&ws->inbox) || !is_open(ws))
        schedule_turn(ws);
    return 1;
}

void aio__websocket_continue(struct aio_request *req)
{
    struct aio_ws *ws = req->ws;
    req->ws = NULL;
    if (!detach(ws))
        session_end(ws, run_callbacks(ws));
}

/* ---- opening --------------------------------------------------------------- */

/* A session that holds its async core for as long as it lasts (a view
 * function's; a callbacks view's on a host that cannot detach it): past
 * aio-websocket-cores of them, the rest of the cores stay for plain
 * requests, which long-lived sessions could otherwise starve. */
static int websocket_cores_full(const struct aio_view *view, const struct aio_conn *conn)
{
    long limit = aio__app.opts.websocket_cores;
    int holds_core = view->ws_fn || !conn->ops->detach;
    long holding = aio__app.nwebsockets - aio__app.ws_detached;
    return holds_core && limit > 0 && holding >= limit;
}

int aio__websocket_session(struct aio_request *req, const struct aio_view *view)
{
    struct aio_task *task = req->task;
    int status = check_handshake(req);
    if (status)
        return status;
    if (!task->conn)
        return 500; /* no connection to upgrade (a request without a client) */
    if (websocket_cores_full(view, task->conn)) {
        aio__log("websocket %s from %s refused (503): %ld sessions hold the cores "
                 "aio-websocket-cores allows them", req->path, req->remote_addr,
                 aio__app.opts.websocket_cores);
        return 503;
    }
    struct aio_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return 503;
    req->upgraded = 1;
    if (task->conn->ops->upgrade(task->conn, req) != AIO_OK) {
        free(ws); /* the client is gone: nothing to answer */
        return 0;
    }
    ws->id = ++aio__app.next_ws_id;
    ws->req = req;
    ws->owner = task;
    ws->view = view;
    ws->bytes = (view->flags & AIO_WS_BYTES) || aio__app.opts.websocket_bytes;
    aio__list_init(&ws->inbox);
    aio__list_init(&ws->turn_node);
    aio__list_append(&aio__app.websockets, &ws->node);
    aio__app.nwebsockets++;
    /* The endpoint takes the connection from the task: its events are the
     * endpoint's now, and the task's waits no longer watch it. */
    struct aio_conn *conn = task->conn;
    task->conn = NULL;
    const struct aio_engine_config *cfg = &aio__app.opts.engine;
    struct aio_wsconn_limits limits = {
        .max_message = max_message(),
        .max_backlog = HARD_LIMIT,
        .ping_freq_ms = (uint64_t)cfg->ws_ping_freq * 1000,
        .pong_tolerance_ms = (uint64_t)cfg->ws_pong_tolerance * 1000,
    };
    aio__wsconn_open(&ws->c, AIO_WS_SERVER, conn, &limits, &session_hooks, ws);
    if (view->ws_fn) {
        session_end(ws, view->ws_fn(ws));
        return 0;
    }
    const struct aio_ws_callbacks *cb = &view->ws_callbacks;
    status = cb->on_open ? cb->on_open(ws) : AIO_OK;
    if (status < 0)
        session_end(ws, status);
    else
        req->ws = ws; /* the session goes on once the dispatch is over */
    return 0;
}
