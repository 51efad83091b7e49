/* http1.c - HTTP/1.x on uWSGI's http-socket and http11-socket: the request
 * head read from the client and parsed by proto/http1.c, turned into the
 * variables uWSGI's request functions read, and whether the connection
 * may carry the next request (keep-alive, http11-socket only).
 *
 * uWSGI's own HTTP parser is not used: it needs every byte to come through
 * its own read() of the socket, so bytes of a pipelined request read with
 * the previous one could never be handed to it; and proto/http1.h says
 * what it gets wrong. */
#include <uwsgi.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "proto/http.h"
#include "proto/http1.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

int aio__is_plain_http(const struct uwsgi_socket *sock)
{
    return sock->proto_name &&
           (strcmp(sock->proto_name, "http") == 0 || strcmp(sock->proto_name, "http11") == 0);
}

static int is_http11_socket(const struct uwsgi_socket *sock)
{
    return sock->proto_name && strcmp(sock->proto_name, "http11") == 0;
}

const char *aio__http_date_now(void)
{
    static char date[AIO_HTTP_DATE_LEN + 1];
    static time_t formatted_at = -1;
    time_t now = time(NULL);
    if (now != formatted_at) {
        aio__http_date((int64_t)now, date);
        formatted_at = now;
    }
    return date;
}

/* ---- uWSGI's variables -------------------------------------------------- */

struct vars {
    char *buf;
    size_t len, size;
    int full;
};

static char *vars_reserve(struct vars *v, size_t key_len, size_t value_len)
{
    if (v->full || key_len > 0xffff || value_len > 0xffff ||
        v->size - v->len < 4 + key_len + value_len) {
        v->full = 1;
        return NULL;
    }
    char *p = v->buf + v->len;
    p[0] = (char)(key_len & 0xff);
    p[1] = (char)(key_len >> 8);
    p[2 + key_len] = (char)(value_len & 0xff);
    p[3 + key_len] = (char)(value_len >> 8);
    v->len += 4 + key_len + value_len;
    return p;
}

static void vars_add(struct vars *v, const char *key, size_t key_len, const char *value,
                     size_t value_len)
{
    char *p = vars_reserve(v, key_len, value_len);
    if (p) {
        memcpy(p + 2, key, key_len);
        memcpy(p + 4 + key_len, value, value_len);
    }
}

#define VARS_ADD_LITERAL(v, key, value, len) vars_add(v, key, sizeof(key) - 1, value, len)

static int is_unprefixed(const struct aio_http1_header *h)
{
    return (h->name_len == 12 && strncasecmp(h->name, "content-type", 12) == 0) ||
           (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0);
}

/* The CGI name of a header ("Content-Type" -> CONTENT_TYPE, others
 * HTTP_NAME_IN_CAPITALS) written at out. */
static void cgi_name(const struct aio_http1_header *h, char *out)
{
    size_t n = 0;
    if (!is_unprefixed(h)) {
        memcpy(out, "HTTP_", 5);
        n = 5;
    }
    for (size_t i = 0; i < h->name_len; i++) {
        char c = h->name[i];
        out[n++] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
}

static int same_name(const struct aio_http1_header *a, const struct aio_http1_header *b)
{
    return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
}

/* One variable per header name: repeated fields are joined with ", ", as
 * RFC 9110 allows for list-valued fields (and uWSGI did). */
static void add_header_vars(struct vars *v, const struct aio_http1_head *head)
{
    for (size_t i = 0; i < head->nheaders; i++) {
        const struct aio_http1_header *h = &head->headers[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_name(&head->headers[j], h);
        if (seen)
            continue;
        size_t value_len = h->value_len;
        for (size_t j = i + 1; j < head->nheaders; j++)
            if (same_name(&head->headers[j], h))
                value_len += 2 + head->headers[j].value_len;
        size_t name_len = h->name_len + (is_unprefixed(h) ? 0 : 5);
        char *p = vars_reserve(v, name_len, value_len);
        if (!p)
            return;
        cgi_name(h, p + 2);
        char *out = p + 4 + name_len;
        memcpy(out, h->value, h->value_len);
        out += h->value_len;
        for (size_t j = i + 1; j < head->nheaders; j++) {
            if (!same_name(&head->headers[j], h))
                continue;
            memcpy(out, ", ", 2);
            memcpy(out + 2, head->headers[j].value, head->headers[j].value_len);
            out += 2 + head->headers[j].value_len;
        }
    }
}

/* "127.0.0.1": by hand, because glibc's inet_ntop formats IPv4 with
 * sprintf, which cost about a tenth of a whole request. */
static size_t format_ipv4(const unsigned char a[4], char *out)
{
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = '.';
    }
    p[-1] = '\0';
    return (size_t)(p - 1 - out);
}

/* REMOTE_ADDR: formatted once per client address in a row (the port does
 * not count), not per request. An IPv4-mapped IPv6 address is shown as the
 * IPv4 address it is; a unix socket has no address (""). */
static const char *remote_addr(const struct wsgi_request *w, size_t *len)
{
    static int last_family = -1;
    static unsigned char last[16];
    static char text[INET6_ADDRSTRLEN + 1];
    static size_t text_len;
    const struct sockaddr *sa = (const struct sockaddr *)&w->client_addr;
    int family = w->c_len >= (int)sizeof(sa_family_t) ? sa->sa_family : AF_UNSPEC;
    const unsigned char *bin = NULL;
    size_t bin_len = 0;
    if (family == AF_INET && (size_t)w->c_len >= sizeof(struct sockaddr_in)) {
        bin = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        bin_len = 4;
    } else if (family == AF_INET6 && (size_t)w->c_len >= sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        bin = a6->s6_addr;
        bin_len = 16;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            bin += 12;
            bin_len = 4;
            family = AF_INET;
        }
    } else {
        family = AF_UNSPEC;
    }
    if (family != last_family || (bin_len && memcmp(last, bin, bin_len) != 0)) {
        if (family == AF_INET)
            text_len = format_ipv4(bin, text);
        else if (family == AF_INET6 && inet_ntop(AF_INET6, bin, text, sizeof(text)))
            text_len = strlen(text);
        else
            text[0] = '\0', text_len = 0;
        if (bin_len)
            memcpy(last, bin, bin_len);
        last_family = family;
    }
    *len = text_len;
    return text;
}

static void add_request_vars(struct vars *v, struct wsgi_request *w,
                             const struct aio_http1_head *head)
{
    VARS_ADD_LITERAL(v, "REQUEST_METHOD", head->method, head->method_len);
    VARS_ADD_LITERAL(v, "REQUEST_URI", head->target, head->target_len);
    const char *q = memchr(head->target, '?', head->target_len);
    size_t path_len = q ? (size_t)(q - head->target) : head->target_len;
    /* PATH_INFO decoded, as uWSGI's internal routing expects it (the
     * framework decodes REQUEST_URI itself, strictly) */
    char *p = vars_reserve(v, 9, path_len);
    if (p) {
        memcpy(p + 2, "PATH_INFO", 9);
        uint16_t decoded = (uint16_t)path_len;
        http_url_decode((char *)head->target, &decoded, p + 4 + 9);
        p[2 + 9] = (char)(decoded & 0xff);
        p[3 + 9] = (char)(decoded >> 8);
        v->len -= path_len - decoded;
    }
    VARS_ADD_LITERAL(v, "QUERY_STRING", q ? q + 1 : "",
                     q ? head->target_len - path_len - 1 : 0);
    /* ours, never the client's bytes: the status line repeats it */
    VARS_ADD_LITERAL(v, "SERVER_PROTOCOL", head->minor ? "HTTP/1.1" : "HTTP/1.0", 8);
    if (!uwsgi.manage_script_name)
        VARS_ADD_LITERAL(v, "SCRIPT_NAME", "", 0);
    VARS_ADD_LITERAL(v, "SERVER_NAME", uwsgi.hostname, uwsgi.hostname_len);
    const char *port = strrchr(w->socket->name, ':');
    if (port)
        VARS_ADD_LITERAL(v, "SERVER_PORT", port + 1, strlen(port + 1));
    size_t alen;
    const char *addr = remote_addr(w, &alen);
    VARS_ADD_LITERAL(v, "REMOTE_ADDR", addr, alen);
    add_header_vars(v, head);
}

/* ---- the head ------------------------------------------------------------- */

static int buffer_full_status(const char *buf, size_t len)
{
    return memchr(buf, '\n', len) ? 431 : 414; /* the request line alone did not fit */
}

/* The complete head at buf[0..end) is parsed and becomes uWSGI's request;
 * the bytes after it (a body, a pipelined request) are left for uWSGI's
 * body reads. */
static int head_complete(struct aio_core *core, size_t end, const char **why)
{
    struct wsgi_request *w = core->wsgi_req;
    static struct aio_http1_head head; /* 3 KiB: off the stack; one head at a time */
    int status = aio__http1_parse_head(w->proto_parser_buf, end, &head, why);
    if (status)
        return status;
    struct vars v = {.buf = w->buffer, .size = uwsgi.buffer_size};
    add_request_vars(&v, w, &head);
    if (v.full) {
        *why = "the request's variables do not fit in uWSGI's buffer";
        return 431;
    }
    w->uh->pktsize = (uint16_t)v.len;
    w->uh->modifier1 = (uint8_t)uwsgi.http_modifier1;
    w->uh->modifier2 = (uint8_t)uwsgi.http_modifier2;
    w->proto_parser_remains = w->proto_parser_pos - end;
    w->proto_parser_remains_buf = w->proto_parser_buf + end;
    core->http_minor = head.minor;
    core->head_chunked = head.chunked;
    core->expect_continue = head.expect_continue;
    core->wants_keepalive = is_http11_socket(w->socket) && aio__http1_wants_keepalive(&head);
    return 0;
}

static int head_too_long(const char *buf, int *status, const char **why)
{
    *status = buffer_full_status(buf, aio__host.head_size);
    *why = *status == 414 ? "a request line longer than buffer-size"
                          : "a request head longer than buffer-size";
    return AIO_HTTP1_INVALID;
}

int aio__http1_read_head(struct aio_core *core, int *status, const char **why)
{
    struct wsgi_request *w = core->wsgi_req;
    /* the buffer may be larger than a head may be: pipelined requests
     * carried over from the last one (aio__core_begin) */
    size_t limit = aio__host.head_size, size = core->head_buf_size;
    if (!w->proto_parser_buf)
        w->proto_parser_buf = uwsgi_malloc(size);
    char *buf = w->proto_parser_buf;
    *status = 0;
    *why = NULL;
    for (;;) {
        size_t pos = w->proto_parser_pos;
        size_t end = pos ? aio__http_head_scan(buf, pos, why) : 0;
        if (*why) {
            *status = 400;
            return AIO_HTTP1_INVALID;
        }
        if (end > limit || (!end && pos >= limit))
            return head_too_long(buf, status, why);
        if (end) {
            *status = head_complete(core, end, why);
            return *status ? AIO_HTTP1_INVALID : UWSGI_OK;
        }
        ssize_t n = read(w->fd, buf + pos, size - pos); /* pos < limit <= size */
        if (n > 0) {
            w->proto_parser_pos += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return UWSGI_AGAIN;
        return -1; /* the client hung up (or failed) */
    }
}

/* ---- a new connection ------------------------------------------------------ */

void aio__http1_new_connection(struct wsgi_request *w)
{
    if (!is_http11_socket(w->socket) || uwsgi.tcp_nodelay || w->socket->family == AF_UNIX)
        return; /* uWSGI's tcp-nodelay has set it */
    /* Pipelined responses are small writes one after another: with Nagle's
     * algorithm each would wait for the client's (delayed) ACK of the one
     * before. A failure only costs that latency. */
    int on = 1;
    if (setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
        aio__log("setsockopt(TCP_NODELAY) on a client connection: %s", strerror(errno));
}

/* ---- after the response: one more request? ---------------------------- */

int aio__http1_may_persist(struct aio_core *core, int status)
{
    if (!core->wants_keepalive || aio__engine.stopping || core->task.cancelled)
        return 0;
    if (core->conn_requests + 1 >= (uint64_t)aio__app.opts.keepalive_requests ||
        aio__app.opts.keepalive_timeout_s == 0)
        return 0;
    if (core->body_expected && !core->body_done) /* the body was not read in full */
        return 0;
    return status != 408; /* a view's own timeout: the client may be stuck mid-request */
}

void aio__http1_send_continue(struct aio_core *core)
{
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct wsgi_request *w = core->wsgi_req;
    if (!core->expect_continue || core->http_minor == 0 || !aio__is_plain_http(w->socket))
        return;
    core->expect_continue = 0;
    /* 25 bytes into an empty socket buffer: a short write means the
     * client is gone, which the body read then finds out */
    if (send(w->fd, interim, sizeof(interim) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* as above */
    }
}
