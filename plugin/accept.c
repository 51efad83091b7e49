/* accept.c - connections, from accept() until their request head is
 * complete (SPEC §3, §11).
 *
 * A new connection gets an async core at once when one is free, and uWSGI's
 * protocol parser reads its head into the core's request as the bytes
 * arrive; the whole head must arrive within socket-timeout.
 *
 * When every core is busy, new connections are still accepted but parked:
 * a parked connection costs an fd and a small struct, not a core. A parked
 * connection whose whole head has arrived (seen with MSG_PEEK) gets the next
 * free core before the others, and when the worker is full of connections
 * that have been trickling their heads for over EVICT_AFTER_MS, the oldest of
 * them is dropped in its favour. So slow clients (slowloris) cannot starve
 * complete requests, however many connections they open. When even the
 * parking lot is full of complete requests, new connections wait in the
 * listen backlog.
 */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

extern struct uwsgi_server uwsgi;

#define ACCEPT_BATCH 64
#define EVICT_AFTER_MS 1000
/* How long an error response may wait for the client to read it. */
#define LINGER_MS 2000

enum pending_state {
    PENDING_NO_DATA, /* watched until the first bytes arrive */
    PENDING_PARTIAL, /* part of the head: re-examined on every tick */
    PENDING_READY,   /* the whole head is there */
};

struct aio_pending {
    struct aio_list node;
    uv_poll_t poll;
    struct uwsgi_socket *sock;
    int fd;
    enum pending_state state;
    uint64_t accepted; /* loop time, ms */
    socklen_t addr_len;
    struct sockaddr_storage addr;
};

static uint64_t now_ms(void)
{
    return uv_now(&aio_engine.loop);
}

static int is_plain_http(const struct uwsgi_socket *sock)
{
    return sock->proto_name && strcmp(sock->proto_name, "http") == 0;
}

/* Best effort: the connection is about to be closed anyway. */
static void send_error(int fd, int status, const char *reason)
{
    char response[256];
    int n = snprintf(response, sizeof(response),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%d %s\n",
                     status, reason, strlen(reason) + 5, status, reason);
    if (n > 0 && send(fd, response, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client is gone or not reading: nothing more to do */
    }
}

/* ---- lingering close ------------------------------------------------------ */

/* Closing a socket with unread input makes the kernel send a reset, and a
 * reset destroys the response the client has not read yet. So after an
 * error response (often sent before the request was read in full: 431, 413)
 * the socket is half-closed and its input discarded until the client hangs
 * up or LINGER_MS pass, as nginx's lingering_close does. */
struct aio_linger {
    struct aio_list node;
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int open_handles;
};

static void linger_closed(uv_handle_t *handle)
{
    struct aio_linger *l = handle->data;
    if (--l->open_handles == 0)
        free(l);
}

static void linger_finish(struct aio_linger *l)
{
    aio_list_remove(&l->node);
    uv_close((uv_handle_t *)&l->poll, linger_closed); /* unwatches the fd now */
    uv_close((uv_handle_t *)&l->timer, linger_closed);
    close(l->fd);
}

static void on_linger_input(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct aio_linger *l = poll->data;
    while (status == 0) {
        ssize_t n = recv(l->fd, aio_engine.peek_buf, uwsgi.buffer_size, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        break; /* the client hung up (or failed): done */
    }
    linger_finish(l);
}

static void on_linger_timeout(uv_timer_t *timer)
{
    linger_finish(timer->data);
}

void aio_linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    struct aio_linger *l = calloc(1, sizeof(*l));
    if (!l || uv_poll_init(&aio_engine.loop, &l->poll, fd) != 0) {
        free(l);
        close(fd);
        return;
    }
    uv_timer_init(&aio_engine.loop, &l->timer);
    l->poll.data = l->timer.data = l;
    l->fd = fd;
    l->open_handles = 2;
    aio_list_append(&aio_engine.lingering, &l->node);
    uv_poll_start(&l->poll, UV_READABLE, on_linger_input);
    uv_timer_start(&l->timer, on_linger_timeout, LINGER_MS, 0);
}

void aio_linger_close_all(void)
{
    struct aio_list *node;
    while ((node = aio_list_first(&aio_engine.lingering)) != NULL)
        linger_finish(aio_list_entry(node, struct aio_linger, node));
}

/* ---- cores in the HEAD state (oldest first) -------------------------- */

static void head_push(struct aio_core *core)
{
    core->head_started = now_ms();
    aio_list_append(&aio_engine.heads, &core->head_node);
}

static void head_remove(struct aio_core *core)
{
    aio_list_remove(&core->head_node);
}

static struct aio_core *oldest_head(void)
{
    struct aio_list *node = aio_list_first(&aio_engine.heads);
    return node ? aio_list_entry(node, struct aio_core, head_node) : NULL;
}

/* Ends a connection whose request never reached the request hook. */
static void head_abort(struct aio_core *core, int status, const char *reason)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    head_remove(core);
    uv_timer_stop(&core->task.timer);
    aio_conn_unwatch(&core->conn);
    int fd = wsgi_req->fd;
    int answer = status && is_plain_http(wsgi_req->socket);
    if (answer) {
        send_error(fd, status, reason);
        wsgi_req->fd_closed = 1; /* the fd lingers: see aio_linger_close() */
    }
    uwsgi_destroy_request(wsgi_req); /* frees parser buffers (and closes the fd) */
    if (answer)
        aio_linger_close(fd);
    uwsgi.workers[uwsgi.mywid].cores[core->id].in_request = 0;
    aio_core_release(core);
}

/* The parser gave up: tell a plain HTTP client why when we can. */
static void head_failed(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    int status = 0;
    const char *reason = NULL;
    if (is_plain_http(wsgi_req->socket) && wsgi_req->proto_parser_buf) {
        if (wsgi_req->proto_parser_pos >= uwsgi.buffer_size) {
            status = 431;
            reason = "Request Header Fields Too Large";
        } else if (memmem(wsgi_req->proto_parser_buf, wsgi_req->proto_parser_pos, "\r\n\r\n", 4)) {
            status = 400; /* a complete head, but malformed */
            reason = "Bad Request";
        }
    }
    if (status) {
        aio_engine.stats.rejected++;
        aio_log("rejected a request head: %d %s", status, reason);
    }
    head_abort(core, status, reason);
}

void aio_head_feed(struct aio_core *core)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    uwsgi.wsgi_req = wsgi_req;
    int status = wsgi_req->socket->proto(wsgi_req);
    if (status == UWSGI_AGAIN) {
        if (aio_conn_watch(&core->conn, UV_READABLE) != AIO_OK)
            head_abort(core, 503, "Service Unavailable");
        return;
    }
    if (status < 0) {
        head_failed(core);
        return;
    }
    head_remove(core);
    uv_timer_stop(&core->task.timer);
    if (aio_conn_watch(&core->conn, 0) != AIO_OK) {
        head_abort(core, 503, "Service Unavailable");
        return;
    }
    aio_core_start(core);
}

static void on_head_timeout(uv_timer_t *timer)
{
    struct aio_core *core = ((struct aio_task *)timer->data)->core;
    /* A connection that never sent a byte is closed quietly: browsers open
     * spare connections they may never use. */
    int started = core->wsgi_req->proto_parser_pos > 0;
    if (started)
        aio_log("request head not complete after %d s (socket-timeout), answering 408",
                uwsgi.socket_timeout);
    head_abort(core, started ? 408 : 0, "Request Timeout");
}

/* The connection is accepted into `wsgi_req`: read its head. */
static void core_begin(struct aio_core *core, uint64_t accepted)
{
    struct wsgi_request *wsgi_req = core->wsgi_req;
    aio_engine.busy++;
    uwsgi.workers[uwsgi.mywid].cores[wsgi_req->async_id].in_request = 1;
    wsgi_req->start_of_request = uwsgi_micros();
    wsgi_req->start_of_request_in_sec = wsgi_req->start_of_request / 1000000;
    core->state = AIO_CORE_HEAD;
    core->conn.fd = wsgi_req->fd;
    head_push(core);
    uint64_t deadline = (uint64_t)uwsgi.socket_timeout * 1000;
    uint64_t waited = now_ms() - accepted;
    uv_timer_start(&core->task.timer, on_head_timeout, deadline > waited ? deadline - waited : 0, 0);
    aio_head_feed(core); /* optimistic: the head often arrives with the connection */
}

/* ---- parked connections -------------------------------------------------- */

static void pending_free(uv_handle_t *handle)
{
    free(handle->data);
}

/* Forgets a parked connection; its fd stays open for whoever takes it. */
static int pending_detach(struct aio_pending *p)
{
    int fd = p->fd;
    aio_list_remove(&p->node);
    aio_engine.npending--;
    uv_close((uv_handle_t *)&p->poll, pending_free); /* unwatches the fd now */
    return fd;
}

static void pending_drop(struct aio_pending *p, int status, const char *reason)
{
    int http = is_plain_http(p->sock);
    int fd = pending_detach(p);
    if (status && http) {
        send_error(fd, status, reason);
        aio_linger_close(fd);
    } else {
        close(fd);
    }
}

/* Looks at what arrived without consuming it. Returns -1 when the client
 * is gone. */
static int pending_examine(struct aio_pending *p)
{
    ssize_t n = recv(p->fd, aio_engine.peek_buf, uwsgi.buffer_size, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    const unsigned char *b = (const unsigned char *)aio_engine.peek_buf;
    int complete;
    if ((size_t)n >= uwsgi.buffer_size)
        complete = 1; /* too big: the parser will answer 431 */
    else if (is_plain_http(p->sock))
        complete = memmem(b, (size_t)n, "\r\n\r\n", 4) != NULL;
    else /* uwsgi packet: 4-byte header with the size of the variables */
        complete = n >= 4 && (size_t)n >= 4u + (size_t)(b[1] | (b[2] << 8));
    enum pending_state state = complete ? PENDING_READY : PENDING_PARTIAL;
    if (state != p->state) {
        /* Level-triggered readability would fire forever on the bytes we
         * only peeked at: partial heads are re-examined by the tick. */
        uv_poll_stop(&p->poll);
        p->state = state;
    }
    return 0;
}

#define pending_of(n) aio_list_entry((n), struct aio_pending, node)

static struct aio_pending *oldest_pending(int ready_only)
{
    for (struct aio_list *n = aio_list_first(&aio_engine.pending); n;
         n = aio_list_next(&aio_engine.pending, n))
        if (!ready_only || pending_of(n)->state == PENDING_READY)
            return pending_of(n);
    return NULL;
}

/* Drops the oldest slow head if a complete request is waiting for a core. */
static void evict_for_ready(void)
{
    struct aio_core *oldest = oldest_head();
    if (!oldest || !oldest_pending(1) || now_ms() - oldest->head_started < EVICT_AFTER_MS)
        return;
    aio_engine.stats.evicted++;
    head_abort(oldest, 408, "Request Timeout"); /* frees a core for the parked request */
}

static void on_pending_event(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct aio_pending *p = poll->data;
    if (status < 0 || pending_examine(p) < 0) {
        pending_drop(p, 0, NULL);
        return;
    }
    if (p->state == PENDING_READY)
        evict_for_ready();
}

/* Hands a parked connection to a free core. */
static void pending_assign(struct aio_pending *p, struct wsgi_request *wsgi_req)
{
    struct uwsgi_socket *sock = p->sock;
    uint64_t accepted = p->accepted;
    size_t len = p->addr_len < sizeof(wsgi_req->client_addr) ? p->addr_len
                                                              : sizeof(wsgi_req->client_addr);
    uwsgi.wsgi_req = wsgi_req;
    wsgi_req_setup(wsgi_req, wsgi_req->async_id, sock);
    memcpy(&wsgi_req->client_addr, &p->addr, len);
    wsgi_req->c_len = (int)len;
    wsgi_req->fd = pending_detach(p);
    uwsgi_post_accept(wsgi_req);
    core_begin(&aio_engine.cores[wsgi_req->async_id], accepted);
}

void aio_pending_dispatch(void)
{
    while (aio_engine.npending && uwsgi.async_queue_unused_ptr >= 0) {
        struct aio_pending *p = oldest_pending(1);
        pending_assign(p ? p : oldest_pending(0), find_first_available_wsgi_req());
    }
    if (!aio_engine.listening && !aio_engine.stopping &&
        aio_engine.npending < aio_engine.max_pending)
        aio_listeners_start();
}

/* Makes room in the parking lot: drops its oldest incomplete connection. */
static int pending_make_room(void)
{
    if (aio_engine.npending < aio_engine.max_pending)
        return 1;
    for (struct aio_list *n = aio_list_first(&aio_engine.pending); n;
         n = aio_list_next(&aio_engine.pending, n)) {
        struct aio_pending *p = pending_of(n);
        if (p->state != PENDING_READY) {
            aio_engine.stats.evicted++;
            pending_drop(p, p->state == PENDING_PARTIAL ? 408 : 0, "Request Timeout");
            return 1;
        }
    }
    return 0;
}

/* accept() failed. Out of descriptors or memory, the listening socket would
 * stay readable and the loop would spin: stop accepting until a core frees
 * up or the next tick. */
static void accept_failed(void)
{
    if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
        return; /* EAGAIN: another worker took it; others are per connection */
    if (!aio_engine.accept_error_logged) /* once until an accept succeeds again */
        aio_log("accept(): %s; pausing accepts", strerror(errno));
    aio_engine.accept_error_logged = 1;
    aio_listeners_stop();
}

/* Accepts one connection into the parking lot. Returns 0 when there is
 * nothing (more) to accept. */
static int accept_pending(struct uwsgi_socket *sock)
{
    struct aio_pending *p = calloc(1, sizeof(*p));
    if (!p)
        return 0;
    p->addr_len = sizeof(p->addr);
    p->fd = accept4(sock->fd, (struct sockaddr *)&p->addr, &p->addr_len,
                    SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (p->fd < 0) {
        free(p);
        accept_failed();
        return 0;
    }
    if (uv_poll_init(&aio_engine.loop, &p->poll, p->fd) != 0) {
        close(p->fd);
        free(p);
        return 0;
    }
    aio_engine.accept_error_logged = 0;
    p->poll.data = p;
    p->sock = sock;
    p->accepted = now_ms();
    p->state = PENDING_NO_DATA;
    aio_list_append(&aio_engine.pending, &p->node);
    aio_engine.npending++;
    uv_poll_start(&p->poll, UV_READABLE, on_pending_event);
    return 1;
}

/* Accepts one connection straight into a free core. */
static int accept_into_core(struct uwsgi_socket *sock, struct wsgi_request *wsgi_req)
{
    uwsgi.wsgi_req = wsgi_req;
    uint64_t accepted = now_ms();
    wsgi_req_setup(wsgi_req, wsgi_req->async_id, sock);
    if (wsgi_req_simple_accept(wsgi_req, sock->fd)) {
        int error = errno;
        uwsgi.async_queue_unused_ptr++;
        uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = wsgi_req;
        errno = error;
        accept_failed();
        return 0;
    }
    aio_engine.accept_error_logged = 0;
    core_begin(&aio_engine.cores[wsgi_req->async_id], accepted);
    return 1;
}

void aio_on_listener(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct uwsgi_socket *sock = poll->data;
    if (status < 0) {
        aio_log("listening socket %s: %s", sock->name, uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !aio_engine.stopping; i++) {
        /* Parked connections came first: new ones queue behind them. */
        struct wsgi_request *wsgi_req =
            aio_engine.npending ? NULL : find_first_available_wsgi_req();
        if (wsgi_req) {
            if (!accept_into_core(sock, wsgi_req))
                return;
            continue;
        }
        if (!pending_make_room()) {
            /* Full of complete requests: let the backlog hold the rest. */
            uwsgi_async_queue_is_full(uwsgi_now());
            aio_listeners_stop();
            return;
        }
        if (!accept_pending(sock))
            return;
    }
}

void aio_accept_tick(void)
{
    uint64_t now = now_ms();
    uint64_t deadline = (uint64_t)uwsgi.socket_timeout * 1000;
    struct aio_list *next;
    for (struct aio_list *n = aio_list_first(&aio_engine.pending); n; n = next) {
        next = aio_list_next(&aio_engine.pending, n);
        struct aio_pending *p = pending_of(n);
        if (p->state == PENDING_READY)
            continue;
        if (pending_examine(p) < 0) {
            pending_drop(p, 0, NULL);
        } else if (p->state != PENDING_READY && now - p->accepted >= deadline) {
            if (p->state == PENDING_PARTIAL)
                aio_log("request head not complete after %d s (socket-timeout), answering 408",
                        uwsgi.socket_timeout);
            pending_drop(p, p->state == PENDING_PARTIAL ? 408 : 0, "Request Timeout");
        }
    }
    evict_for_ready();
    /* resume accepting if a pause (full worker, accept errors) is over */
    if (!aio_engine.listening && !aio_engine.stopping && aio_engine.npending == 0 &&
        uwsgi.async_queue_unused_ptr >= 0)
        aio_listeners_start();
    uint64_t evicted = aio_engine.stats.evicted - aio_engine.stats.evicted_reported;
    if (evicted) {
        aio_log("worker full: dropped %llu connection(s) still sending their request head",
                (unsigned long long)evicted);
        aio_engine.stats.evicted_reported = aio_engine.stats.evicted;
    }
}

int aio_pending_count(void)
{
    return aio_engine.npending;
}

void aio_pending_close_all(void)
{
    while (aio_engine.npending)
        pending_drop(oldest_pending(0), 503, "Service Unavailable");
}
