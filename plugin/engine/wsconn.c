/* wsconn.c - a websocket endpoint on a connection (wsconn.h). The framing
 * is ours (proto/wsframe.c), because uWSGI's parser can be crashed by one
 * client frame and shares its reassembly buffer between connections. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wsconn.h"

#define READ_CHUNK 16384

/* One loop thread reads every connection, one at a time, and the parser
 * copies what it is fed: one scratch buffer serves them all. */
static char read_buf[READ_CHUNK];

static void changed(struct aio_wsconn *c)
{
    if (c->hooks->changed)
        c->hooks->changed(c);
}

/* What the connection's watcher should wait for now. */
static void update_watch(struct aio_wsconn *c)
{
    int events = 0;
    if (!c->gone) {
        if (!c->got_close && !c->paused && !c->backlogged)
            events |= UV_READABLE | UV_DISCONNECT;
        if (aio__wsconn_unwritten(c))
            events |= UV_WRITABLE;
    }
    aio__conn_watch(c->conn, events);
}

size_t aio__wsconn_unwritten(const struct aio_wsconn *c)
{
    return c->out.len - c->written;
}

/* Keeps aio__engine.ws_unwritten the sum of every open endpoint's. */
static void account(struct aio_wsconn *c)
{
    size_t now = c->gone ? 0 : aio__wsconn_unwritten(c);
    aio__engine.ws_unwritten = aio__engine.ws_unwritten - c->counted + now;
    c->counted = now;
}

void aio__wsconn_drop(struct aio_wsconn *c, int code)
{
    if (c->gone)
        return;
    c->gone = 1;
    c->got_close = 1;
    c->state = AIO_WSCONN_CLOSED;
    if (!c->close_code)
        c->close_code = code;
    aio__buf_reset(&c->out);
    c->written = 0;
    account(c);
    if (c->hooks->gone)
        c->hooks->gone(c);
}

static void failed(struct aio_wsconn *c, int code, const char *why)
{
    if (c->hooks->failed)
        c->hooks->failed(c, code, why);
}

/* ---- writing ---------------------------------------------------------------- */

/* A peer that does not read what we write must not make us hold without
 * bound what it makes us write (a pong for every ping): past max_backlog
 * it is not read any more, as nginx and h2o stop reading a peer whose
 * writes are backed up; it gets pong_tolerance_ms to catch up. */
static void on_backlog_deadline(uv_timer_t *timer)
{
    struct aio_wsconn *c = timer->data;
    if (!c->backlogged || c->gone)
        return;
    failed(c, AIO_WS_POLICY, "does not read what is sent to it");
    aio__wsconn_drop(c, AIO_WS_POLICY);
}

static void check_backlog(struct aio_wsconn *c)
{
    size_t unwritten = aio__wsconn_unwritten(c);
    if (!c->max_backlog || c->gone)
        return;
    if (!c->backlogged && unwritten > c->max_backlog) {
        c->backlogged = 1;
        uint64_t grace = c->pong_tolerance_ms ? c->pong_tolerance_ms : 3000;
        uv_timer_start(&c->deadline, on_backlog_deadline, grace, 0);
    } else if (c->backlogged && unwritten <= c->max_backlog / 2) {
        c->backlogged = 0;
        uv_timer_stop(&c->deadline);
    }
}

/* One peer's backlog is bounded above; all of them together are bounded
 * too (config.ws_worker_backlog), or a room of many slow members could
 * hold members x max_backlog. Past the bound, the endpoint holding the most
 * is dropped - the slowest consumer - then the next, until a quarter of
 * the bound is free again, so that one shedding buys room for a while. */
static struct aio_wsconn *most_backlogged(void)
{
    struct aio_wsconn *most = NULL;
    for (struct aio_list *n = aio__list_first(&aio__engine.wsconns); n;
         n = aio__list_next(&aio__engine.wsconns, n)) {
        struct aio_wsconn *c = aio__list_entry(n, struct aio_wsconn, node);
        if (!c->gone && (!most || aio__wsconn_unwritten(c) > aio__wsconn_unwritten(most)))
            most = c;
    }
    return most;
}

static void shed_if_over(void)
{
    size_t bound = aio__engine.config.ws_worker_backlog;
    if (!bound || aio__engine.ws_unwritten <= bound)
        return;
    while (aio__engine.ws_unwritten > bound / 4 * 3) {
        struct aio_wsconn *c = most_backlogged();
        if (!c)
            break;
        failed(c, AIO_WS_TRY_AGAIN_LATER,
               "reads too slowly for the worker's websocket send queue (aio-websocket-worker-queue)");
        aio__wsconn_drop(c, AIO_WS_TRY_AGAIN_LATER); /* accounts for it */
    }
}

static void flush(struct aio_wsconn *c)
{
    while (aio__wsconn_unwritten(c) && !c->gone) {
        size_t before = c->written;
        enum aio_io_status rc = c->io->write(c->conn, c->out.data, c->out.len, &c->written);
        if (rc == AIO_IO_DONE) {
            aio__buf_reset(&c->out);
            c->written = 0;
        } else if (rc == AIO_IO_AGAIN) {
            if (c->written == before)
                break; /* the socket is full: wait until it is writable */
        } else {
            aio__wsconn_drop(c, AIO_WS_ABNORMAL);
        }
    }
    if (!aio__wsconn_unwritten(c))
        changed(c); /* a sender may wait for the buffer to drain */
    check_backlog(c);
    update_watch(c);
    account(c);
    shed_if_over();
}

int aio__wsconn_send(struct aio_wsconn *c, int opcode, const void *data, size_t len)
{
    uint8_t mask[4];
    if (c->role == AIO_WS_CLIENT) { /* RFC 6455 §5.3: a key that varies */
        c->mask_seed = c->mask_seed * 1103515245u + 12345u;
        memcpy(mask, &c->mask_seed, sizeof(mask));
    }
    int rc = aio__ws_frame_append(&c->out, opcode, data, len,
                                 c->role == AIO_WS_CLIENT ? mask : NULL);
    if (rc == AIO_OK)
        flush(c);
    return rc;
}

void aio__wsconn_close(struct aio_wsconn *c, int code, const char *reason)
{
    uint8_t payload[125];
    aio__wsconn_send(c, AIO_WS_OP_CLOSE, payload, aio__ws_close_payload(payload, code, reason));
    c->state = c->got_close ? AIO_WSCONN_CLOSED : AIO_WSCONN_CLOSING;
    if (!c->close_code)
        c->close_code = code;
    changed(c);
}

/* ---- reading ---------------------------------------------------------------- */

static void out_of_memory(struct aio_wsconn *c)
{
    aio__wsconn_close(c, AIO_WS_INTERNAL_ERROR, "out of memory");
    c->got_close = 1;
}

/* The peer's close, or a protocol error (answered with its code). */
static void closed_by(struct aio_wsconn *c, int code, const char *reason)
{
    c->got_close = 1; /* nothing more is read */
    if (c->state == AIO_WSCONN_OPEN) /* echo the peer's code, or answer the error */
        aio__wsconn_close(c, code, reason);
    c->state = AIO_WSCONN_CLOSED;
    c->close_code = code;
    changed(c);
}

static void handle_event(struct aio_wsconn *c, struct aio_ws_event *ev)
{
    switch (ev->kind) {
    case AIO_WS_EV_MESSAGE:
        if (c->hooks->message(c, ev->opcode, ev->data, ev->len) != AIO_OK)
            out_of_memory(c);
        break;
    case AIO_WS_EV_PING:
        if (c->state == AIO_WSCONN_OPEN)
            aio__wsconn_send(c, AIO_WS_OP_PONG, ev->data, ev->len);
        break;
    case AIO_WS_EV_PONG:
        c->ping_sent = 0;
        break;
    case AIO_WS_EV_CLOSE:
        closed_by(c, ev->code, "");
        break;
    case AIO_WS_EV_ERROR:
        failed(c, ev->code, ev->reason);
        closed_by(c, ev->code, ev->reason);
        break;
    case AIO_WS_EV_NONE:
        break;
    }
}

static void read_frames(struct aio_wsconn *c)
{
    while (!c->got_close && !c->paused && !c->backlogged) {
        ssize_t n = c->io->read(c->conn, read_buf, sizeof(read_buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) { /* the peer went away without a close frame */
            aio__wsconn_drop(c, AIO_WS_ABNORMAL);
            break;
        }
        c->last_seen = aio__loop_ms();
        c->ping_sent = 0; /* whatever arrives shows the peer is alive */
        if (aio__ws_parser_feed(&c->parser, read_buf, (size_t)n) != AIO_OK) {
            out_of_memory(c);
            break;
        }
        struct aio_ws_event ev;
        do {
            aio__ws_parser_next(&c->parser, &ev);
            handle_event(c, &ev);
        } while (ev.kind != AIO_WS_EV_NONE && !c->got_close);
    }
}

static void on_conn_event(struct aio_conn *conn, int status, int events)
{
    struct aio_wsconn *c = conn->data;
    if (status < 0) {
        aio__wsconn_drop(c, AIO_WS_ABNORMAL);
    } else {
        if (events & UV_WRITABLE)
            flush(c);
        if (events & (UV_READABLE | UV_DISCONNECT))
            read_frames(c);
    }
    update_watch(c);
}

static const struct aio_conn_ops wsconn_ops = {.event = on_conn_event};

void aio__wsconn_set_paused(struct aio_wsconn *c, int paused)
{
    if (c->paused == paused)
        return;
    c->paused = paused;
    update_watch(c);
}

void aio__wsconn_move(struct aio_wsconn *c, struct aio_conn *to)
{
    struct aio_conn *from = c->conn;
    from->ops = c->io;
    from->data = NULL;
    c->io = to->ops;
    to->ops = &wsconn_ops;
    to->data = c;
    c->conn = to;
    update_watch(c);
}

/* ---- idle pings ----------------------------------------------------------- */

static void on_ping_timer(uv_timer_t *timer)
{
    struct aio_wsconn *c = timer->data;
    if (c->state != AIO_WSCONN_OPEN || c->gone)
        return;
    uint64_t now = aio__loop_ms();
    if (c->ping_sent) {
        if (now - c->ping_sent >= c->pong_tolerance_ms) {
            failed(c, AIO_WS_ABNORMAL, "no pong to a ping (websockets-pong-tolerance)");
            aio__wsconn_drop(c, AIO_WS_ABNORMAL);
            return;
        }
        uv_timer_start(timer, on_ping_timer, c->pong_tolerance_ms - (now - c->ping_sent), 0);
    } else if (now - c->last_seen >= c->ping_freq_ms) {
        aio__wsconn_send(c, AIO_WS_OP_PING, "aio", 3);
        c->ping_sent = now ? now : 1;
        uv_timer_start(timer, on_ping_timer, c->pong_tolerance_ms, 0);
    } else {
        uv_timer_start(timer, on_ping_timer, c->ping_freq_ms - (now - c->last_seen), 0);
    }
}

/* ---- opening and releasing ---------------------------------------------------- */

void aio__wsconn_open(struct aio_wsconn *c, enum aio_ws_role role, struct aio_conn *conn,
                      const struct aio_wsconn_limits *limits,
                      const struct aio_wsconn_hooks *hooks, void *owner)
{
    c->role = role;
    c->state = AIO_WSCONN_OPEN;
    c->conn = conn;
    c->io = conn->ops;
    c->hooks = hooks;
    c->owner = owner;
    c->mask_seed = 0x5eed1234u;
    c->max_backlog = limits->max_backlog;
    c->ping_freq_ms = limits->ping_freq_ms;
    c->pong_tolerance_ms = limits->pong_tolerance_ms;
    c->last_seen = aio__loop_ms();
    aio__ws_parser_init(&c->parser, role, limits->max_message);
    uv_timer_init(&aio__engine.loop, &c->timer);
    uv_timer_init(&aio__engine.loop, &c->deadline);
    c->timer.data = c->deadline.data = c;
    if (c->ping_freq_ms > 0)
        uv_timer_start(&c->timer, on_ping_timer, c->ping_freq_ms, 0);
    conn->ops = &wsconn_ops;
    conn->data = c;
    c->counted = 0;
    aio__list_append(&aio__engine.wsconns, &c->node);
    read_frames(c);
    update_watch(c);
}

static void on_timer_closed(uv_handle_t *timer)
{
    struct aio_wsconn *c = timer->data;
    if (--c->open_handles == 0 && c->hooks->released)
        c->hooks->released(c);
}

void aio__wsconn_release(struct aio_wsconn *c)
{
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->deadline);
    aio__ws_parser_free(&c->parser);
    aio__buf_free(&c->out);
    c->written = 0;
    c->gone = 1;
    account(c);
    aio__list_remove(&c->node);
    aio__conn_watch(c->conn, 0);
    c->conn->ops = c->io;
    c->conn->data = NULL;
    c->open_handles = 2;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->deadline, on_timer_closed);
}
