/* accept.c - listeners and the parking lot: connections from accept()
 * until an async core takes them.
 *
 * A new connection gets a free async core at once when there is one
 * (core.c reads its head from then on). When every core is busy, new
 * connections are still accepted but parked: a parked connection costs an
 * fd and a small struct, not a core. A parked connection whose whole head
 * has arrived (seen with MSG_PEEK) gets the next free core before the
 * others, and when the worker is full of connections that have been
 * trickling their heads for over EVICT_AFTER_MS, the oldest of them is
 * dropped in its favour; failing that, a request whose client has neither
 * sent nor read anything for that long (a trickled body, a reader that
 * does not read) is. So slow clients (slowloris, R-U-D-Y) cannot starve
 * complete requests, however many connections they open. When even the
 * parking lot is full of complete requests, new connections wait in the
 * listen backlog.
 *
 * One idle handle (admit) hands free cores to parked connections and
 * resumes accepting, under one condition, whatever freed the room: a core
 * released, a parked connection dropped, the tick after accept() errors. */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "proto/http.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

#define ACCEPT_BATCH 64
#define EVICT_AFTER_MS 1000

#define H aio__host

enum pending_state {
    PENDING_NO_DATA, /* watched until the first bytes arrive */
    PENDING_PARTIAL, /* part of the head: re-examined on every tick */
    PENDING_READY,   /* the whole head is there */
    PENDING_IDLE,    /* kept alive after a response: in H.idle, watched */
};

struct aio_pending {
    struct aio_list node;
    struct aio_conn conn; /* its fd and watcher, handed on to the core that takes it */
    struct uwsgi_socket *sock;
    enum pending_state state;
    uint64_t accepted; /* loop time, ms (IDLE: since its last response) */
    socklen_t addr_len;
    struct sockaddr_storage addr;
    char *carry; /* bytes of its next request read already (pipelined) */
    size_t carry_len;
    uint64_t requests; /* served on this connection so far */
};

/* Best effort: the connection is about to be closed anyway. */
void aio__send_error(int fd, int status)
{
    struct aio_buf body = AIO_BUF_INIT;
    char head[256];
    if (aio__http_error_body(&body, status, NULL) != AIO_OK) {
        aio__buf_free(&body);
        return;
    }
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, aio__http_reason(status), aio__http_date_now(), body.len);
    struct iovec iov[2] = {{head, (size_t)n}, {body.data, body.len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    if (n > 0 && sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client is gone or not reading: nothing more to do */
    }
    aio__buf_free(&body);
}

/* ---- listeners ------------------------------------------------------------ */

static void on_listener(uv_poll_t *poll, int status, int events);

void aio__listeners_start(void)
{
    for (int i = 0; i < H.nlisteners; i++)
        uv_poll_start(&H.listeners[i], UV_READABLE, on_listener);
    H.listening = 1;
}

void aio__listeners_stop(void)
{
    for (int i = 0; i < H.nlisteners; i++)
        uv_poll_stop(&H.listeners[i]);
    H.listening = 0;
}

/* ---- parked connections -------------------------------------------------- */

#define pending_of_conn(c) aio__container_of(c, struct aio_pending, conn)

static void on_parked_event(struct aio_conn *conn, int status, int events);

static const struct aio_conn_ops parked_conn_ops = {.event = on_parked_event};

/* Freed structs kept for the next park: a kept-alive connection is parked
 * after every response, and malloc was a visible part of a request. */
#define SPARE_MAX 64
static struct aio_pending *spare[SPARE_MAX];
static int nspare;

static struct aio_pending *pending_new(struct uwsgi_socket *sock, int fd)
{
    struct aio_pending *p = nspare ? spare[--nspare] : malloc(sizeof(*p));
    if (!p)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->sock = sock;
    p->conn.fd = fd;
    p->conn.ops = &parked_conn_ops;
    p->accepted = aio__loop_ms();
    return p;
}

static void pending_free(struct aio_pending *p)
{
    free(p->carry);
    if (nspare < SPARE_MAX)
        spare[nspare++] = p;
    else
        free(p);
}

static void pending_spares_free(void)
{
    while (nspare)
        free(spare[--nspare]);
}

/* Takes a parked connection off its list; its fd and watcher stay for
 * whoever takes it. */
static void pending_detach(struct aio_pending *p)
{
    aio__list_remove(&p->node);
    if (p->state == PENDING_IDLE)
        H.nidle--;
    else
        H.npending--;
}

static void pending_drop(struct aio_pending *p, int status)
{
    int http = aio__is_plain_http(p->sock);
    int fd = p->conn.fd;
    pending_detach(p);
    aio__conn_unwatch(&p->conn); /* epoll forgets the fd now */
    pending_free(p);
    aio__admit_soon(); /* room in the parking lot */
    if (status && http) {
        aio__send_error(fd, status);
        aio__linger_close(fd);
    } else {
        close(fd);
    }
}

/* Looks at what arrived without consuming it. Returns -1 when the client
 * is gone. */
static int pending_examine(struct aio_pending *p)
{
    if (p->carry) /* a pipelined request: its client is sending */
        return p->state = PENDING_READY, 0;
    size_t limit = aio__is_plain_http(p->sock) ? H.head_size : uwsgi.buffer_size;
    ssize_t n = recv(p->conn.fd, H.peek_buf, limit, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    const unsigned char *b = (const unsigned char *)H.peek_buf;
    int complete;
    if ((size_t)n >= limit)
        complete = 1; /* too big: the parser will answer 431 */
    else if (aio__is_plain_http(p->sock))
        complete = memmem(b, (size_t)n, "\r\n\r\n", 4) != NULL;
    else /* uwsgi packet: 4-byte header with the size of the variables */
        complete = n >= 4 && (size_t)n >= 4u + (size_t)(b[1] | (b[2] << 8));
    enum pending_state state = complete ? PENDING_READY : PENDING_PARTIAL;
    if (state != p->state) {
        /* Level-triggered readability would fire forever on the bytes we
         * only peeked at: partial heads are re-examined by the tick. */
        aio__conn_watch(&p->conn, 0);
        p->state = state;
    }
    return 0;
}

#define pending_of(n) aio__list_entry((n), struct aio_pending, node)

static struct aio_pending *oldest_pending(int ready_only)
{
    for (struct aio_list *n = aio__list_first(&H.pending); n; n = aio__list_next(&H.pending, n))
        if (!ready_only || pending_of(n)->state == PENDING_READY)
            return pending_of(n);
    return NULL;
}

/* Frees a core (dropping the slowest of the clients that hold one) for
 * each complete request that waits in the parking lot, as far as there are
 * slow ones: they are all handed a core at the next admit. */
static void evict_for_ready(void)
{
    int ready = 0;
    for (struct aio_list *n = aio__list_first(&H.pending); n; n = aio__list_next(&H.pending, n))
        ready += pending_of(n)->state == PENDING_READY;
    if (!ready)
        return;
    int free_cores = H.ncores - aio__cores_busy();
    while (free_cores < ready && aio__core_evict_slowest(EVICT_AFTER_MS))
        free_cores++; /* an evicted core is free as soon as it is dropped */
}

static void on_pending_event(struct aio_pending *p, int status)
{
    if (status < 0 || pending_examine(p) < 0) {
        pending_drop(p, 0);
        return;
    }
    if (p->state == PENDING_READY)
        evict_for_ready();
}

/* Hands a parked connection to a free core. */
static void pending_assign(struct aio_pending *p, struct wsgi_request *wsgi_req)
{
    struct uwsgi_socket *sock = p->sock;
    size_t len = p->addr_len < sizeof(wsgi_req->client_addr) ? p->addr_len
                                                              : sizeof(wsgi_req->client_addr);
    uwsgi.wsgi_req = wsgi_req;
    wsgi_req_setup(wsgi_req, wsgi_req->async_id, sock);
    memcpy(&wsgi_req->client_addr, &p->addr, len);
    wsgi_req->c_len = (int)len;
    pending_detach(p);
    wsgi_req->fd = p->conn.fd;
    uwsgi_post_accept(wsgi_req);
    struct aio_conn_handoff from = {.accepted = p->accepted, .watch = &p->conn,
                                    .carry = p->carry, .carry_len = p->carry_len,
                                    .requests = p->requests};
    p->carry = NULL;
    aio__core_begin(wsgi_req, &from);
    pending_free(p);
}

/* Makes room in the parking lot: drops its oldest incomplete connection. */
static int pending_make_room(void)
{
    if (H.npending < H.max_pending)
        return 1;
    for (struct aio_list *n = aio__list_first(&H.pending); n; n = aio__list_next(&H.pending, n)) {
        struct aio_pending *p = pending_of(n);
        if (p->state != PENDING_READY) {
            H.stats.evicted++;
            pending_drop(p, p->state == PENDING_PARTIAL ? 408 : 0);
            return 1;
        }
    }
    return 0;
}

void aio__pending_close_all(void)
{
    while (H.npending)
        pending_drop(oldest_pending(0), 503);
}

/* ---- kept-alive connections between requests ------------------------------ */

/* The next request has begun to arrive: a free core takes it now (the
 * common case: its head is read at once), or it waits in the parking lot
 * like a new connection, its head under the same deadline. */
static void on_idle_event(struct aio_pending *p, int status)
{
    if (status < 0) {
        pending_drop(p, 0);
        return;
    }
    aio__list_remove(&p->node);
    H.nidle--;
    p->accepted = aio__loop_ms();
    p->state = PENDING_NO_DATA;
    aio__list_append(&H.pending, &p->node);
    H.npending++;
    struct wsgi_request *wsgi_req = H.npending == 1 ? find_first_available_wsgi_req() : NULL;
    if (wsgi_req) {
        pending_assign(p, wsgi_req); /* its watcher goes on watching, for the core */
        return;
    }
    on_pending_event(p, 0);
}

static void on_parked_event(struct aio_conn *conn, int status, int events)
{
    (void)events;
    struct aio_pending *p = pending_of_conn(conn);
    if (p->state == PENDING_IDLE)
        on_idle_event(p, status);
    else
        on_pending_event(p, status);
}

void aio__keepalive_park(struct uwsgi_socket *sock, struct aio_conn *conn, const void *addr,
                         socklen_t addr_len, char *carry, size_t carry_len, uint64_t requests)
{
    struct aio_pending *p = pending_new(sock, conn->fd);
    if (!p) {
        aio__conn_unwatch(conn);
        close(conn->fd);
        free(carry);
        return;
    }
    aio__conn_move_watch(conn, &p->conn);
    p->addr_len = addr_len <= sizeof(p->addr) ? addr_len : 0;
    memcpy(&p->addr, addr, p->addr_len);
    p->carry = carry;
    p->carry_len = carry_len;
    p->requests = requests;
    if (carry) { /* the next request is on its way: served as soon as a core is free */
        aio__conn_watch(&p->conn, 0);
        p->state = PENDING_READY;
        aio__list_append(&H.pending, &p->node);
        H.npending++;
        aio__admit_soon();
        return;
    }
    p->state = PENDING_IDLE;
    aio__list_append(&H.idle, &p->node);
    H.nidle++;
    if (aio__conn_watch(&p->conn, UV_READABLE) != AIO_OK) /* mostly watching already */
        pending_drop(p, 0);
}

/* Out of descriptors, idle connections are the ones to give up (as nginx
 * reuses its keep-alive connections): 1 when some were closed. */
static int close_oldest_idle(int n)
{
    int closed = 0;
    struct aio_list *node;
    while (closed < n && (node = aio__list_first(&H.idle)) != NULL) {
        pending_drop(pending_of(node), 0);
        closed++;
    }
    return closed > 0;
}

void aio__keepalive_close_all(void)
{
    close_oldest_idle(H.nidle);
}

static void expire_idle(uint64_t now)
{
    uint64_t timeout = (uint64_t)aio__app.opts.keepalive_timeout_s * 1000;
    struct aio_list *node;
    while ((node = aio__list_first(&H.idle)) != NULL && now - pending_of(node)->accepted >= timeout)
        pending_drop(pending_of(node), 0);
}

/* ---- admitting: free cores to parked connections, then accepting again --- */

static void on_admit(uv_idle_t *idle)
{
    uv_idle_stop(idle);
    while (H.npending && uwsgi.async_queue_unused_ptr >= 0) {
        struct aio_pending *p = oldest_pending(1);
        pending_assign(p ? p : oldest_pending(0), find_first_available_wsgi_req());
    }
    /* Accepting pauses when the parking lot is full or accept() fails for
     * want of fds or memory; it resumes here once there is room. */
    if (!H.listening && !aio__engine.stopping && H.npending < H.max_pending)
        aio__listeners_start();
    aio__engine_check_stop();
}

/* An idle handle, not a check handle: while it is active the loop does not
 * block in poll, so a core freed in a timer callback reaches a parked
 * connection in the same turn. */
void aio__admit_soon(void)
{
    if (H.npending || !H.listening) /* else: nothing waits, nothing paused */
        uv_idle_start(&H.admit, on_admit);
}

/* ---- accepting ------------------------------------------------------------ */

/* accept() failed. Out of descriptors or memory, the listening socket would
 * stay readable and the loop would spin: stop accepting until a core frees
 * up or the next tick. */
static int accept_failed(void)
{
    if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
        return 0; /* EAGAIN: another worker took it; others are per connection */
    if (close_oldest_idle(16))
        return 1; /* try again at once */
    if (!H.accept_error_logged) /* once until an accept succeeds again */
        aio__log("accept(): %s; pausing accepts", strerror(errno));
    H.accept_error_logged = 1;
    aio__listeners_stop();
    return 0;
}

/* Accepts one connection into the parking lot. Returns 0 when there is
 * nothing (more) to accept. */
static int accept_pending(struct uwsgi_socket *sock)
{
    struct aio_pending *p = pending_new(sock, -1);
    if (!p)
        return 0;
    p->addr_len = sizeof(p->addr);
    p->conn.fd = accept4(sock->fd, (struct sockaddr *)&p->addr, &p->addr_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (p->conn.fd < 0) {
        pending_free(p);
        return accept_failed();
    }
    H.accept_error_logged = 0;
    p->state = PENDING_NO_DATA;
    if (aio__conn_watch(&p->conn, UV_READABLE) != AIO_OK) {
        close(p->conn.fd);
        pending_free(p);
        return 0;
    }
    aio__list_append(&H.pending, &p->node);
    H.npending++;
    return 1;
}

/* Accepts one connection straight into a free core. */
static int accept_into_core(struct uwsgi_socket *sock, struct wsgi_request *wsgi_req)
{
    uwsgi.wsgi_req = wsgi_req;
    uint64_t accepted = aio__loop_ms();
    wsgi_req_setup(wsgi_req, wsgi_req->async_id, sock);
    if (wsgi_req_simple_accept(wsgi_req, sock->fd)) {
        int error = errno;
        uwsgi.async_queue_unused_ptr++;
        uwsgi.async_queue_unused[uwsgi.async_queue_unused_ptr] = wsgi_req;
        errno = error;
        return accept_failed();
    }
    H.accept_error_logged = 0;
    struct aio_conn_handoff from = {.accepted = accepted};
    aio__core_begin(wsgi_req, &from);
    return 1;
}

static void on_listener(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct uwsgi_socket *sock = poll->data;
    if (status < 0) {
        aio__log("listening socket %s: %s", sock->name, uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !aio__engine.stopping; i++) {
        /* Parked connections came first: new ones queue behind them. */
        struct wsgi_request *wsgi_req = H.npending ? NULL : find_first_available_wsgi_req();
        if (wsgi_req) {
            if (!accept_into_core(sock, wsgi_req))
                return;
            continue;
        }
        if (!pending_make_room()) {
            /* Full of complete requests: let the backlog hold the rest. */
            uwsgi_async_queue_is_full(uwsgi_now());
            aio__listeners_stop();
            return;
        }
        if (!accept_pending(sock))
            return;
    }
}

void aio__accept_tick(void)
{
    uint64_t now = aio__loop_ms();
    expire_idle(now);
    uint64_t deadline = (uint64_t)uwsgi.socket_timeout * 1000;
    struct aio_list *next;
    for (struct aio_list *n = aio__list_first(&H.pending); n; n = next) {
        next = aio__list_next(&H.pending, n);
        struct aio_pending *p = pending_of(n);
        if (p->state == PENDING_READY)
            continue;
        if (pending_examine(p) < 0) {
            pending_drop(p, 0);
        } else if (p->state != PENDING_READY && now - p->accepted >= deadline) {
            if (p->state == PENDING_PARTIAL)
                aio__log("request head not complete after %d s (socket-timeout), answering 408",
                         uwsgi.socket_timeout);
            pending_drop(p, p->state == PENDING_PARTIAL ? 408 : 0);
        }
    }
    evict_for_ready();
    aio__admit_soon(); /* a pause after accept() errors ends here */
    uint64_t evicted = H.stats.evicted - H.stats.evicted_reported;
    if (evicted) {
        aio__log("worker full: dropped %llu connection(s) too slow to send their request or "
                 "read its response, for complete requests waiting",
                 (unsigned long long)evicted);
        H.stats.evicted_reported = H.stats.evicted;
    }
}

/* ---- set-up and tear-down ------------------------------------------------- */

int aio__listeners_init(void)
{
    H.max_pending = H.ncores > 64 ? H.ncores : 64;
    H.peek_buf = malloc(uwsgi.buffer_size);
    int n = 0;
    for (struct uwsgi_socket *s = uwsgi.sockets; s; s = s->next)
        n += s->fd >= 0;
    H.listeners = calloc(n ? (size_t)n : 1, sizeof(*H.listeners));
    if (!H.listeners || !H.peek_buf)
        return AIO_ENOMEM;
    uv_idle_init(&aio__engine.loop, &H.admit);
    for (struct uwsgi_socket *s = uwsgi.sockets; s; s = s->next) {
        if (s->fd < 0)
            continue;
        uv_poll_t *poll = &H.listeners[H.nlisteners];
        int rc = uv_poll_init(&aio__engine.loop, poll, s->fd);
        if (rc) {
            aio__log("cannot watch socket %s: %s", s->name, uv_strerror(rc));
            return AIO_ERROR;
        }
        poll->data = s;
        H.nlisteners++;
    }
    return AIO_OK;
}

void aio__listeners_close(void)
{
    aio__keepalive_close_all();
    aio__pending_close_all();
    for (int i = 0; i < H.nlisteners; i++)
        uv_close((uv_handle_t *)&H.listeners[i], NULL);
    uv_close((uv_handle_t *)&H.admit, NULL);
}

void aio__listeners_free(void)
{
    pending_spares_free();
    free(H.listeners);
    free(H.peek_buf);
    H.listeners = NULL;
    H.peek_buf = NULL;
}
