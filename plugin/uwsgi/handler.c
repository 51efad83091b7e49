/* handler.c - uWSGI's request hook: one request, from uWSGI's parsed
 * variables to an aio_request, through aio__dispatch() (dispatch.c), to the
 * bytes of the response. Runs in the request's coroutine: reading
 * the body and writing the response suspend through uWSGI's wait hooks. */
#include <uwsgi.h>

#include <string.h>

#include "proto/http.h"
#include "proto/http1.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

/* "200 OK": on every response, so without printf. */
static int status_text(int status, char *out, size_t size)
{
    const char *reason = aio__http_reason(status);
    size_t len = strlen(reason);
    if (status < 100 || status > 999 || len + 4 >= size)
        return snprintf(out, size, "%d %s", status, reason);
    out[0] = (char)('0' + status / 100);
    out[1] = (char)('0' + status / 10 % 10);
    out[2] = (char)('0' + status % 10);
    out[3] = ' ';
    memcpy(out + 4, reason, len + 1);
    return (int)len + 4;
}

/* One "Key: value\r\n" line into the head uWSGI is building. uWSGI's own
 * uwsgi_response_add_header() allocates and frees a buffer for every line
 * (a quarter of a small request's cost); when nothing can rewrite headers
 * (no remove/pull/collect-header options) and the socket writes the plain
 * format, the line is copied straight into the head buffer instead. Same
 * result either way, including the header count uWSGI logs. */
static void head_add(struct wsgi_request *w, const char *key, size_t key_len, const char *value,
                     size_t value_len)
{
    struct uwsgi_buffer *head = w->headers;
    size_t need = key_len + 2 + value_len + 2;
    int plain = head && !uwsgi.remove_headers && !w->remove_headers && !uwsgi.pull_headers &&
                !uwsgi.collect_headers && w->socket->proto_add_header == uwsgi_proto_base_add_header &&
                !w->headers_sent && !w->headers_size && !w->response_size && !w->write_errors;
    if (!plain || key_len == 0 || key_len > UINT16_MAX || value_len > UINT16_MAX ||
        head->len - head->pos < need) {
        uwsgi_response_add_header(w, (char *)key, (uint16_t)key_len, (char *)value,
                                  (uint16_t)value_len);
        return;
    }
    char *p = head->buf + head->pos;
    memcpy(p, key, key_len);
    memcpy(p + key_len, ": ", 2);
    memcpy(p + key_len + 2, value, value_len);
    memcpy(p + key_len + 2 + value_len, "\r\n", 2);
    head->pos += need;
    w->header_cnt++;
}

#define HEAD_ADD_LITERAL(w, key, value) head_add(w, key, sizeof(key) - 1, value, sizeof(value) - 1)

static void add_content_length(struct wsgi_request *w, uint64_t length)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + length % 10);
        length /= 10;
    } while (length);
    head_add(w, "Content-Length", 14, digits + sizeof(digits) - n, n);
}

/* Connection: close, or keep-alive for an HTTP/1.0 client that asked (an
 * HTTP/1.1 connection persists unless told otherwise). */
static void add_connection_header(struct aio_core *core, struct wsgi_request *wsgi_req)
{
    if (!aio__is_plain_http(wsgi_req->socket))
        return; /* the frontend's business */
    if (!core->persist)
        HEAD_ADD_LITERAL(wsgi_req, "Connection", "close");
    else if (core->http_minor == 0)
        HEAD_ADD_LITERAL(wsgi_req, "Connection", "keep-alive");
}

/* The status line, Date and the view's headers, for every response and
 * every stream. 0, or -1 when uWSGI could not begin the head. */
static int begin_head(struct aio_request *req, struct wsgi_request *wsgi_req)
{
    char status[64];
    int n = status_text(req->status, status, sizeof(status));
    if (uwsgi_response_prepare_headers(wsgi_req, status, (uint16_t)n))
        return -1;
    head_add(wsgi_req, "Date", 4, aio__http_date_now(), AIO_HTTP_DATE_LEN);
    for (size_t i = 0; i < req->response_headers.count; i++) {
        const struct aio_kv *h = &req->response_headers.items[i];
        head_add(wsgi_req, h->key, strlen(h->key), h->value, strlen(h->value));
    }
    return 0;
}

static void send_response(struct aio_request *req, struct aio_core *core,
                          struct wsgi_request *wsgi_req)
{
    if (begin_head(req, wsgi_req))
        return;
    int has_body = aio__response_has_body(req);
    size_t len = has_body ? req->response_body.len : 0;
    if (len && !req->has_content_type)
        head_add(wsgi_req, "Content-Type", 12, AIO_DEFAULT_BODY_TYPE, strlen(AIO_DEFAULT_BODY_TYPE));
    if (has_body)
        add_content_length(wsgi_req, len);
    add_connection_header(core, wsgi_req);
    if (len && req->method_bit != AIO_HEAD)
        uwsgi_response_write_body_do(wsgi_req, req->response_body.data, len);
    else
        uwsgi_response_write_headers_do(wsgi_req);
}

/* ---- streamed responses --------------------------------------------------- */

/* Why a write to the client failed, as a status for the view. */
static int stream_failed(struct aio_core *core)
{
    if (core->task.timed_out && !core->task.cancelled)
        return AIO_ETIMEDOUT;
    return AIO_ECANCELLED; /* the client is gone (or left us unable to write to it) */
}

static int stream_head(struct aio_core *core, struct aio_request *req, struct wsgi_request *w)
{
    if (begin_head(req, w))
        return AIO_ERROR;
    int has_body = aio__response_has_body(req) && req->method_bit != AIO_HEAD;
    if (aio__response_has_body(req) && !req->has_content_type)
        head_add(w, "Content-Type", 12, AIO_DEFAULT_BODY_TYPE, strlen(AIO_DEFAULT_BODY_TYPE));
    /* Without a length the body is chunked to an HTTP/1.1 client, and
     * otherwise ends with the connection (HTTP/1.0; the uwsgi protocol,
     * whose frontend frames the body for its own client). */
    int known = req->stream_has_length;
    core->stream_chunked = has_body && !known && aio__is_plain_http(w->socket) &&
                           core->http_minor == 1;
    core->stream_body = has_body;
    core->persist = (!has_body || known || core->stream_chunked) &&
                    aio__http1_may_persist(core, req->status);
    if (known && aio__response_has_body(req))
        add_content_length(w, req->stream_length);
    if (core->stream_chunked)
        HEAD_ADD_LITERAL(w, "Transfer-Encoding", "chunked");
    add_connection_header(core, w);
    return uwsgi_response_write_headers_do(w) == UWSGI_OK ? AIO_OK : stream_failed(core);
}

#define SMALL_CHUNK 8192

static int stream_piece(struct aio_core *core, struct wsgi_request *w, const char *data, size_t len)
{
    if (!core->stream_body || len == 0)
        return AIO_OK;
    if (!core->stream_chunked)
        return uwsgi_response_write_body_do(w, (char *)data, len) == UWSGI_OK ? AIO_OK
                                                                           : stream_failed(core);
    char frame[SMALL_CHUNK + 24]; /* a small piece goes out in one write, framed */
    int n = snprintf(frame, sizeof(frame), "%zx\r\n", len);
    if (len <= SMALL_CHUNK) {
        memcpy(frame + n, data, len);
        memcpy(frame + n + len, "\r\n", 2);
        return uwsgi_response_write_body_do(w, frame, (size_t)n + len + 2) == UWSGI_OK
                   ? AIO_OK
                   : stream_failed(core);
    }
    if (uwsgi_response_write_body_do(w, frame, (size_t)n) != UWSGI_OK ||
        uwsgi_response_write_body_do(w, (char *)data, len) != UWSGI_OK ||
        uwsgi_response_write_body_do(w, "\r\n", 2) != UWSGI_OK)
        return stream_failed(core);
    return AIO_OK;
}

int aio__respond_stream(struct aio_core *core, struct aio_request *req, const char *data,
                        size_t len, int end)
{
    struct wsgi_request *w = core->wsgi_req;
    if (core->task.cancelled)
        return AIO_ECANCELLED;
    if (!w->headers_sent && !w->headers) { /* the first call: the head */
        int rc = stream_head(core, req, w);
        if (rc != AIO_OK)
            return rc;
    }
    int rc = stream_piece(core, w, data, len);
    if (rc == AIO_OK && end && core->stream_chunked)
        rc = uwsgi_response_write_body_do(w, "0\r\n\r\n", 5) == UWSGI_OK ? AIO_OK
                                                                         : stream_failed(core);
    return rc;
}

/* ---- building the aio_request from uWSGI's variables ------------------ */

static const char *decode_path(struct aio_request *req, struct wsgi_request *w)
{
    if (w->uri_len == 0) { /* no REQUEST_URI: the frontend's decoded PATH_INFO */
        const char *why = aio__http_check_decoded_path(w->path_info, w->path_info_len);
        if (why)
            return why;
        req->path = aio__arena_strndup(&req->arena, w->path_info, w->path_info_len);
        return req->path ? NULL : "out of memory";
    }
    return aio__http_decode_target(&req->arena, w->uri, w->uri_len, &req->path);
}

static int is_header_var(const char *key, size_t len)
{
    return (len > 5 && memcmp(key, "HTTP_", 5) == 0) ||
           (len == 12 && memcmp(key, "CONTENT_TYPE", 12) == 0) ||
           (len == 14 && memcmp(key, "CONTENT_LENGTH", 14) == 0);
}

static const char *build_request(struct aio_request *req, struct wsgi_request *w)
{
    const char *why = aio__http_check_request_line(w->method, w->method_len, w->protocol,
                                                  w->protocol_len);
    if (why)
        return why;
    const char *method = aio__arena_strndup(&req->arena, w->method, w->method_len);
    const char *query = aio__arena_strndup(&req->arena, w->query_string, w->query_string_len);
    const char *remote = aio__arena_strndup(&req->arena, w->remote_addr, w->remote_addr_len);
    if (!method || !query || !remote)
        return "out of memory";
    req->method = method;
    req->method_bit = aio__http_method_bit(method);
    req->query_string = query;
    req->remote_addr = remote;
    if ((why = decode_path(req, w)) != NULL)
        return why;
    for (int i = 0; i + 1 < w->var_cnt; i += 2) {
        const struct iovec *k = &w->hvec[i], *v = &w->hvec[i + 1];
        if (is_header_var(k->iov_base, k->iov_len) &&
            aio__request_add_header_var(req, k->iov_base, k->iov_len, v->iov_base, v->iov_len))
            return "out of memory";
        if (k->iov_len == 5 && memcmp(k->iov_base, "HTTPS", 5) == 0) /* https-socket, nginx */
            req->https = (v->iov_len == 2 && memcmp(v->iov_base, "on", 2) == 0) ||
                         (v->iov_len == 1 && *(const char *)v->iov_base == '1');
    }
    return NULL;
}

/* What body follows the head: 0, or the status to refuse it with. The
 * body itself is read once the view is chosen (the framework's body.c,
 * through aio__body_read). */
static int begin_body(struct aio_request *req, struct aio_core *core, struct wsgi_request *w)
{
    int plain = aio__is_plain_http(w->socket);
    if (!plain && aio_header(req, "Transfer-Encoding") && !aio_header(req, "Content-Length"))
        return 411; /* the frontend sends lengths */
    aio__body_begin(core, plain && core->head_chunked);
    req->body_pending = core->body_expected;
    return 0;
}

/* uWSGI's HTTP parser keeps the raw head (buffer-size bytes) until the
 * request ends; everything in it has been copied out once the body is read.
 * Freeing it now matters when thousands of requests are suspended. */
static void release_parser_buffer(struct wsgi_request *w)
{
    if (w->proto_parser_buf && w->proto_parser_remains == 0) {
        free(w->proto_parser_buf);
        w->proto_parser_buf = NULL;
    }
}

int aio__handle_request(struct wsgi_request *wsgi_req)
{
    struct aio_task *task = aio__running_task();
    struct aio_core *core = aio__core_of_task(task);
    if (!core) {
        aio__log("request outside the aio loop engine: add `aio = N` to the configuration");
        return -1;
    }
    if (!wsgi_req->uh->pktsize) {
        aio__log("empty request, skipped");
        return -1;
    }
    /* begun at the accept, not now */
    struct aio_request *req = aio__request_for_task(task, wsgi_req->start_of_request);
    if (!req)
        return -1;
    if (aio__app_id >= 0) { /* the log's "app: N", the stats server's app requests */
        wsgi_req->app_id = aio__app_id;
        uwsgi_apps[aio__app_id].requests++;
    }
    int error = 0;
    const char *why = NULL;
    if (uwsgi_parse_vars(wsgi_req)) {
        if (uwsgi.limit_post && wsgi_req->post_cl > uwsgi.limit_post)
            error = 413;
        else /* too many headers for uWSGI's vector, or a broken packet */
            error = wsgi_req->var_cnt >= uwsgi.vec_size - 5 ? 431 : 400;
    } else if ((why = build_request(req, wsgi_req)) != NULL) {
        error = 400;
    } else if ((error = begin_body(req, core, wsgi_req)) == 0 &&
               aio__request_parse_params(req, &why) != AIO_OK) { /* the query's */
        error = 400;
    }
    release_parser_buffer(wsgi_req);
    if (error > 0)
        aio__respond_error(req, error, why);
    else if (error == 0)
        aio__dispatch(req);
    if (req->upgraded) {
        /* the websocket session answered (101) and is over */
        core->upgraded = 1;
    } else if (task->cancelled || error < 0) {
        wsgi_req->status = 499; /* nginx's "client closed request", for the log */
    } else if (req->streaming) {
        if (req->stream_broken) /* cut: without its end (or its length), the client knows */
            core->persist = 0;
        else if (aio_stream_end(req) != AIO_OK)
            core->persist = 0;
    } else {
        /* a view's own error answers keep the connection; the server's
         * answers to a request it could not take do not */
        if (error == 0 && core->wants_keepalive && core->body_expected && !core->body_done)
            aio__body_drain(core); /* what the view left of the body */
        core->persist = error > 0 ? 0 : aio__http1_may_persist(core, req->status);
        send_response(req, core, wsgi_req);
        if (error > 0) { /* the request may not have been read in full */
            aio__conn_unwatch(&core->conn);
            wsgi_req->fd_closed = 1;
            aio__linger_close(wsgi_req->fd);
        }
    }
    if (!req->detached) /* else the websocket session that took it frees it */
        aio__request_free(req); /* while task->req still names it (a stall report) */
    task->req = NULL;
    return UWSGI_OK;
}

void aio__after_request(struct wsgi_request *wsgi_req)
{
    aio__metrics_count_response(wsgi_req->status);
    log_request(wsgi_req);
}
