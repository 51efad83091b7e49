/* core.c - the async cores and their whole state machine.
 *
 * An async core is one of uWSGI's `async = N` request slots (a
 * wsgi_request) with a coroutine of ours. Its life:
 *
 *   FREE    -> HEAD     a connection was accepted into it (accept.c calls
 *                       aio__core_begin): uWSGI's protocol parser reads the
 *                       request head as the bytes arrive, within
 *                       socket-timeout
 *   HEAD    -> RUNNING  the head is complete: its task's coroutine runs
 *                       uWSGI's routing and request hook (handler.c), and
 *                       suspends and resumes as the request waits
 *   HEAD    -> FREE     the head failed, timed out, or the core was evicted
 *                       for a complete request waiting in the parking lot
 *   RUNNING -> FREE     the request is closed; the core goes back to
 *                       uWSGI's unused stack and, through aio__admit_soon(),
 *                       to the oldest parked connection
 *
 * A core is live work for the engine from HEAD until it is FREE again.
 * The client fd is only registered with epoll when needed: a request whose
 * head arrives with the connection and whose view never suspends costs no
 * epoll_ctl call at all. */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/http.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

#define core_of_conn(c) aio__container_of(c, struct aio_core, conn)
#define core_of(t) aio__container_of(t, struct aio_core, task)

static void head_feed(struct aio_core *core);

/* ---- the client connection ------------------------------------------- */

static void on_conn_event(struct aio_conn *conn, int status, int events)
{
    struct aio_core *core = core_of_conn(conn);
    if (core->state == AIO_CORE_HEAD)
        head_feed(core); /* the parser's read reports EOF and errors itself */
    else if (core->task.state == AIO_TASK_WAITING)
        aio__task_conn_event(&core->task, status, events);
    else
        aio__conn_watch(conn, 0);
}

/* The websocket session's way to the connection: uWSGI's handshake and the
 * socket's protocol I/O (which hands out bytes read past the head first). */
static int conn_upgrade(struct aio_conn *conn, struct aio_request *req)
{
    (void)req;
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    return uwsgi_websocket_handshake(w, NULL, 0, NULL, 0, NULL, 0) ? AIO_ERROR : AIO_OK;
}

static ssize_t conn_read(struct aio_conn *conn, char *buf, size_t len)
{
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    return w->socket->proto_read_body(w, buf, len);
}

static enum aio_io_status conn_write(struct aio_conn *conn, const char *data, size_t len,
                                     size_t *pos)
{
    struct wsgi_request *w = core_of_conn(conn)->wsgi_req;
    w->write_pos = *pos;
    int rc = w->socket->proto_write(w, (char *)data, len);
    *pos = w->write_pos;
    w->write_pos = 0;
    return rc == UWSGI_OK ? AIO_IO_DONE : rc == UWSGI_AGAIN ? AIO_IO_AGAIN : AIO_IO_FAILED;
}

static ssize_t conn_read_body(struct aio_conn *conn, char *buf, size_t len)
{
    return aio__body_read(core_of_conn(conn), buf, len);
}

static int conn_stream(struct aio_conn *conn, struct aio_request *req, const char *data,
                       size_t len, int end)
{
    return aio__respond_stream(core_of_conn(conn), req, data, len, end);
}

/* The session keeps the socket, not the core: possible when its bytes
 * move with plain read/write (not TLS) and uWSGI holds none of them. */
static struct aio_conn *conn_detach(struct aio_conn *conn)
{
    struct aio_core *core = core_of_conn(conn);
    struct wsgi_request *w = core->wsgi_req;
    if (w->fd_closed || w->proto_parser_remains > 0 ||
        w->socket->proto_read_body != uwsgi_proto_base_read_body ||
        w->socket->proto_write != uwsgi_proto_base_write)
        return NULL;
    struct aio_conn *own = aio__fdconn_new(w->fd);
    if (!own)
        return NULL;
    aio__conn_move_watch(conn, own);
    w->fd_closed = 1; /* uWSGI's close of the request leaves the fd alone */
    return own;
}

static const struct aio_conn_ops core_conn_ops = {
    .detach = conn_detach,
    .event = on_conn_event,
    .upgrade = conn_upgrade,
    .read = conn_read,
    .write = conn_write,
    .stream = conn_stream,
    .read_body = conn_read_body,
};

/* ---- -> FREE ------------------------------------------------------------- */

static void core_release(struct aio_core *core)
{
    core->state = AIO_CORE_FREE;
    core->task.state = AIO_TASK_IDLE;
    core->task.cancelled = 0;
    core->task.timed_out = 0;
    core->task.req = NULL;
    core->task.conn = &core->conn;
    uwsgi.async_queue_unused_ptr++;
    uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = core->wsgi_req;
    aio__admit_soon(); /* to a parked connection, from the loop's top level */
    aio__engine_live(-1);
}

/* ---- the coroutine: RUNNING ---------------------------------------------- */

/* uWSGI's functions find the current request in uwsgi.wsgi_req. */
static void core_task_resuming(struct aio_task *task)
{
    uwsgi.wsgi_req = core_of(task)->wsgi_req;
}

static void core_task_finished(struct aio_task *task)
{
    core_release(core_of(task));
}

static const struct aio_task_ops core_task_ops = {
    .resuming = core_task_resuming,
    .finished = core_task_finished,
    .cancelled = aio__request_cancelled,
};

struct aio_core *aio__core_of_task(struct aio_task *task)
{
    return task && task->ops == &core_task_ops ? core_of(task) : NULL;
}

/* Ends a plain HTTP request. uWSGI's close of an http11-socket would keep
 * the fd for a next request of its own threaded kind: the fd is ours to
 * close, or to park for its next request when the response said it
 * persists, with any bytes of that request read already. */
static void close_http_request(struct aio_core *core)
{
    struct wsgi_request *w = core->wsgi_req;
    int fd = w->fd, closed = w->fd_closed;
    int persist = core->persist && !closed && !w->write_errors;
    struct sockaddr_storage addr;
    socklen_t addr_len = w->c_len > 0 && (size_t)w->c_len <= sizeof(addr) ? (socklen_t)w->c_len : 0;
    memcpy(&addr, &w->client_addr, addr_len);
    struct uwsgi_socket *sock = w->socket;
    /* the next request's first bytes: read past a chunked body's end, then
     * what the head's read left */
    const char *past_body;
    size_t past_len = aio__body_unparsed(core, &past_body);
    size_t remains = w->proto_parser_remains;
    char *carry = NULL;
    size_t carry_len = persist ? past_len + remains : 0;
    if (carry_len) { /* the next head's buffer (aio__core_begin) */
        carry = malloc(carry_len > aio__host.head_size ? carry_len : aio__host.head_size);
        if (carry) {
            if (past_len)
                memcpy(carry, past_body, past_len);
            if (remains)
                memcpy(carry + past_len, w->proto_parser_remains_buf, remains);
        } else {
            persist = 0;
        }
    }
    aio__body_end(core);
    /* a keep-alive client told to go may have sent more already */
    int linger = !persist && !core->upgraded &&
                 (core->wants_keepalive || w->proto_parser_remains > 0);
    if (!persist)
        aio__conn_unwatch(&core->conn);
    w->fd_closed = 1;
    uwsgi_close_request(w);
    if (persist)
        aio__keepalive_park(sock, &core->conn, &addr, addr_len, carry, carry_len,
                            core->conn_requests + 1);
    else if (!closed && linger)
        aio__linger_close(fd); /* input may follow: a reset would destroy the response */
    else if (!closed)
        close(fd);
}

/* The body of every request coroutine: uWSGI's internal routing and the
 * request hook of the modifier (normally ours), then uWSGI's request close,
 * exactly as uWSGI's own async engine does it. */
static void core_main(void *arg)
{
    struct aio_core *core = arg;
    struct wsgi_request *wsgi_req = core->wsgi_req;
#ifdef UWSGI_ROUTING
    if (uwsgi_apply_routes(wsgi_req) != UWSGI_ROUTE_BREAK)
#endif
    {
        for (;;) {
            wsgi_req->async_status = uwsgi.p[wsgi_req->uh->modifier1]->request(wsgi_req);
            if (wsgi_req->async_status <= UWSGI_OK)
                break;
            /* another plugin asked to be called again: yield one turn */
            wsgi_req->switches++;
            struct aio_wait turn = {.fd = -1, .timeout_ms = 0};
            aio__task_wait(&core->task, &turn);
        }
    }
    uwsgi.wsgi_req = wsgi_req;
    if (aio__is_plain_http(wsgi_req->socket)) {
        close_http_request(core);
    } else {
        aio__body_end(core);
        aio__conn_unwatch(&core->conn);
        uwsgi_close_request(wsgi_req);
    }
}

static void core_start(struct aio_core *core)
{
    aio__host.stats.requests++;
    core->state = AIO_CORE_RUNNING;
    aio__coro_prepare(&core->task.coro, core_main, core);
    aio__task_run(&core->task);
}

int aio__cores_busy(void)
{
    int busy = 0;
    for (int i = 0; i < aio__host.ncores; i++)
        busy += aio__host.cores[i].state != AIO_CORE_FREE;
    return busy;
}

void aio__cores_cancel_waiting(void)
{
    for (int i = 0; i < aio__host.ncores; i++)
        if (aio__host.cores[i].task.state == AIO_TASK_WAITING)
            aio__task_cancel(&aio__host.cores[i].task, "worker stopping");
}

/* ---- HEAD: the request head arriving --------------------------------------- */

static void head_push(struct aio_core *core)
{
    core->head_started = aio__loop_ms();
    aio__list_append(&aio__host.heads, &core->head_node);
}

static void head_remove(struct aio_core *core)
{
    aio__list_remove(&core->head_node);
}

/* HEAD -> FREE: ends a connection whose request never reached the request
 * hook, answering `status` (0: nothing) to a plain HTTP client. */
static void head_abort(struct aio_core *core, int status)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    head_remove(core);
    uv_timer_stop(&core->task.timer);
    aio__conn_unwatch(&core->conn);
    int fd = wsgi_req->fd;
    int answer = status && aio__is_plain_http(wsgi_req->socket);
    if (answer) {
        aio__send_error(fd, status);
        wsgi_req->fd_closed = 1; /* the fd lingers: see aio__linger_close() */
    }
    uwsgi_destroy_request(wsgi_req); /* frees parser buffers (and closes the fd) */
    if (answer)
        aio__linger_close(fd);
    uwsgi.workers[uwsgi.mywid].cores[core->id].in_request = 0;
    core_release(core);
}

/* The client hung up before its head was complete, or uWSGI's parser of
 * a uwsgi packet gave up: nobody to answer. */
static void head_failed(struct aio_core *core)
{
    head_abort(core, 0);
}

/* Plain HTTP heads are read and parsed by http1.c; uwsgi packets (from
 * nginx, which has checked the request) by uWSGI's protocol parser. */
static int read_head(struct aio_core *core, int *status, const char **why)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    if (aio__is_plain_http(wsgi_req->socket))
        return aio__http1_read_head(core, status, why);
    *status = 0;
    *why = NULL;
    return wsgi_req->socket->proto(wsgi_req);
}

/* More client data (or EOF) for a core in the HEAD state. */
static void head_feed(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    uwsgi.wsgi_req = wsgi_req;
    const char *why;
    int answer;
    int status = read_head(core, &answer, &why);
    if (status == AIO_HTTP1_INVALID) {
        aio__host.stats.rejected++;
        aio__log("rejected a request head: %d %s (%s)", answer, aio__http_reason(answer), why);
        head_abort(core, answer);
        return;
    }
    if (status == UWSGI_AGAIN) {
        if (aio__conn_watch(&core->conn, UV_READABLE) != AIO_OK)
            head_abort(core, 503);
        return;
    }
    if (status < 0) {
        head_failed(core);
        return;
    }
    head_remove(core);
    uv_timer_stop(&core->task.timer);
    /* A watcher is left as it is: stopped only if it fires while nothing
     * waits for it (on_conn_event), so that a kept-alive connection's
     * requests cost no epoll_ctl call. */
    core_start(core); /* HEAD -> RUNNING */
}

static void on_head_timeout(uv_timer_t *timer)
{
    struct aio_core *core = core_of((struct aio_task *)timer->data);
    /* A connection that never sent a byte is closed quietly: browsers open
     * spare connections they may never use. */
    int started = core->wsgi_req->proto_parser_pos > 0;
    if (started)
        aio__log("request head not complete after %d s (socket-timeout), answering 408",
                 uwsgi.socket_timeout);
    head_abort(core, started ? 408 : 0);
}

void aio__core_begin(struct wsgi_request *wsgi_req, struct aio_conn_handoff *from)
{
    struct aio_core *core = &aio__host.cores[wsgi_req->async_id];
    uint64_t accepted = from->accepted;
    core->conn_requests = from->requests;
    core->wants_keepalive = core->persist = core->expect_continue = 0;
    core->stream_chunked = core->stream_body = core->upgraded = 0;
    core->head_buf_size = aio__host.head_size;
    if (from->carry) { /* a pipelined request: its first bytes are the head's buffer */
        wsgi_req->proto_parser_buf = from->carry;
        wsgi_req->proto_parser_pos = from->carry_len;
        if (from->carry_len > core->head_buf_size)
            core->head_buf_size = from->carry_len;
        from->carry = NULL;
    }
    aio__engine_live(+1);
    uwsgi.workers[uwsgi.mywid].cores[wsgi_req->async_id].in_request = 1;
    wsgi_req->start_of_request = uwsgi_micros();
    wsgi_req->start_of_request_in_sec = wsgi_req->start_of_request / 1000000;
    core->state = AIO_CORE_HEAD;
    core->conn.fd = wsgi_req->fd;
    if (from->requests == 0)
        aio__http1_new_connection(wsgi_req);
    if (from->watch)
        aio__conn_move_watch(from->watch, &core->conn);
    head_push(core);
    uint64_t deadline = (uint64_t)uwsgi.socket_timeout * 1000;
    uint64_t waited = aio__loop_ms() - accepted;
    uv_timer_start(&core->task.timer, on_head_timeout, deadline > waited ? deadline - waited : 0, 0);
    head_feed(core); /* optimistic: the head often arrives with the connection */
}

/* ---- RUNNING, waiting for the client --------------------------------------- */

void aio__core_client_wait_begin(struct aio_core *core)
{
    core->client_wait_started = aio__loop_ms();
    aio__list_append(&aio__host.client_waits, &core->client_wait_node);
}

void aio__core_client_wait_end(struct aio_core *core)
{
    aio__list_remove(&core->client_wait_node);
}

static int evict_oldest_head(uint64_t min_age_ms)
{
    struct aio_list *node = aio__list_first(&aio__host.heads);
    if (!node)
        return 0;
    struct aio_core *oldest = aio__list_entry(node, struct aio_core, head_node);
    if (aio__loop_ms() - oldest->head_started < min_age_ms)
        return 0;
    aio__host.stats.evicted++;
    head_abort(oldest, 408);
    return 1;
}

/* The request is cancelled: its wait returns at once and uWSGI's read or
 * write fails, the view (if it runs) sees AIO_ECANCELLED, and the core
 * ends the request and frees itself. */
static int evict_slowest_client(uint64_t min_age_ms)
{
    struct aio_list *node = aio__list_first(&aio__host.client_waits);
    if (!node)
        return 0;
    struct aio_core *slowest = aio__list_entry(node, struct aio_core, client_wait_node);
    if (aio__loop_ms() - slowest->client_wait_started < min_age_ms)
        return 0;
    aio__host.stats.evicted++;
    aio__task_cancel(&slowest->task, "its client has not sent or read anything for over a "
                                     "second while a complete request waits for a core");
    return 1;
}

int aio__core_evict_slowest(uint64_t min_age_ms)
{
    return evict_oldest_head(min_age_ms) || evict_slowest_client(min_age_ms);
}

/* ---- set-up and tear-down ------------------------------------------------- */

int aio__cores_init(void)
{
    aio__host.ncores = uwsgi.async;
    aio__host.cores = calloc((size_t)aio__host.ncores, sizeof(*aio__host.cores));
    if (!aio__host.cores)
        return AIO_ENOMEM;
    for (int i = 0; i < aio__host.ncores; i++) {
        struct aio_core *core = &aio__host.cores[i];
        core->id = i;
        core->wsgi_req = &uwsgi.workers[uwsgi.mywid].cores[i].req;
        core->task.ops = &core_task_ops;
        core->task.conn = &core->conn;
        core->conn.fd = -1;
        core->conn.ops = &core_conn_ops;
        aio__task_init(&core->task);
        if (aio__coro_init(&core->task.coro, aio__engine.config.stack_size) != AIO_OK) {
            aio__log("cannot allocate the stack of async core %d (%zu bytes): %s; lower 'aio' "
                     "or 'aio-stack-size', or raise vm.max_map_count",
                     i, aio__engine.config.stack_size, strerror(errno));
            return AIO_ENOMEM;
        }
    }
    return AIO_OK;
}

void aio__cores_close(void)
{
    for (int i = 0; i < aio__host.ncores; i++)
        uv_close((uv_handle_t *)&aio__host.cores[i].task.timer, NULL);
}

void aio__cores_free(void)
{
    for (int i = 0; i < aio__host.ncores; i++)
        aio__coro_destroy(&aio__host.cores[i].task.coro);
    free(aio__host.cores);
    aio__host.cores = NULL;
}
