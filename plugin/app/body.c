/* body.c - the request body. By default it is read whole once the view is
 * chosen and before it runs (aio_body()); a coroutine view declared
 * AIO_STREAM_BODY reads it itself, piece by piece, with aio_body_read(),
 * so that an upload of any size never sits in memory. The bytes come from
 * the connection's host (the engine's aio_conn_ops.read_body: lengths,
 * chunked decoding, limits and deadlines are the host's); a body already
 * in memory (aio_testing's dummy requests) is read from there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app/app.h"
#include "proto/http.h"

#define READ_PIECE (64u * 1024u)

static struct aio_conn *body_conn(const aio_request *req)
{
    struct aio_task *task = req->task;
    if (!req->body_pending || !task || !task->conn || !task->conn->ops->read_body)
        return NULL;
    return task->conn;
}

static int status_of(int rc, const char **why)
{
    switch (rc) {
    case AIO_EFULL:
        *why = "The request body is larger than this server takes.";
        return 413;
    case AIO_ETIMEDOUT:
        *why = "The request body did not arrive in time.";
        return 408;
    case AIO_ECANCELLED:
        return -1;
    default:
        *why = "The request body is malformed.";
        return 400;
    }
}

int aio__request_read_body(struct aio_request *req, const char **why)
{
    struct aio_conn *conn = body_conn(req);
    if (!conn)
        return 0;
    uint64_t max = aio__app.opts.body_max;
    const char *declared = aio_header(req, "Content-Length");
    if (declared && strtoull(declared, NULL, 10) > max) /* before a byte is read */
        return status_of(AIO_EFULL, why);
    struct aio_buf *buf = &req->body_buf;
    for (;;) {
        if (aio__buf_reserve(buf, READ_PIECE) != AIO_OK)
            return status_of(AIO_EFULL, why);
        ssize_t n = conn->ops->read_body(conn, buf->data + buf->len, READ_PIECE);
        if (n == 0)
            break;
        if (n < 0)
            return status_of((int)n, why);
        buf->len += (size_t)n;
        if (buf->len > max)
            return status_of(AIO_EFULL, why);
    }
    req->body_pending = 0;
    req->body = buf->len ? buf->data : "";
    req->body_len = buf->len;
    if (aio__request_parse_body_params(req, why) != AIO_OK)
        return 400;
    return 0;
}

ssize_t aio_body_read(aio_request *req, void *buf, size_t len)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!buf && len)
        return AIO_EINVAL;
    if (len == 0)
        return 0;
    struct aio_conn *conn = body_conn(req);
    if (!conn) { /* in memory already */
        size_t left = req->body_len - req->body_read;
        size_t n = left < len ? left : len;
        memcpy(buf, req->body + req->body_read, n);
        req->body_read += n;
        return (ssize_t)n;
    }
    ssize_t n = conn->ops->read_body(conn, buf, len);
    if (n == 0)
        req->body_pending = 0;
    else if (n == AIO_ECANCELLED)
        aio__task_cancel(task, "client went away");
    return n;
}

/* ---- JSON bodies ------------------------------------------------------------ */

/* application/json, or a structured syntax suffix (application/x+json),
 * with any parameters. */
static int is_json_type(const char *type)
{
    if (aio__http_media_type_is(type, "application/json"))
        return 1;
    size_t len = type ? aio__http_media_type_len(type) : 0;
    return len > 17 && strncasecmp(type, "application/", 12) == 0 &&
           strncasecmp(type + len - 5, "+json", 5) == 0;
}

/* The request is refused with `status`: the view passes AIO_EINVAL on. */
static int refuse(aio_request *req, int status, const char *text)
{
    aio_respond_text(req, status, text);
    req->refused = 1;
    return AIO_EINVAL;
}

int aio_json_body(aio_request *req, json_t **value)
{
    if (!req || !value)
        return AIO_EINVAL;
    *value = NULL;
    if (req->json_body) {
        *value = req->json_body;
        return AIO_OK;
    }
    if (!is_json_type(aio_header(req, "Content-Type")))
        return refuse(req, 415, "The request body must be JSON (Content-Type: application/json).\n");
    json_error_t error;
    req->json_body = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, &error);
    if (!req->json_body) {
        char text[256 + sizeof(error.text)];
        snprintf(text, sizeof(text), "The request body is not valid JSON: %s (line %d, column %d).\n",
                 error.text, error.line, error.column);
        return refuse(req, 400, text);
    }
    *value = req->json_body;
    return AIO_OK;
}
