/* stream.c - streamed responses and server-sent events.
 *
 * A coroutine view sends its head, then its body piece by piece as it
 * makes it, through its connection's host (the engine's
 * aio_conn_ops.stream): each piece is written whole before the call
 * returns, suspending the view while the client is slow, so a response
 * holds no more memory than the piece being written, however long it is.
 * Where there is no such connection (an executor thread, the test host)
 * the pieces are buffered and go out as one response when the view
 * returns. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "proto/sse.h"

/* The connection a stream of `req` is written to from here, or NULL:
 * buffer instead. */
static struct aio_conn *stream_conn(aio_request *req)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task || !task->conn || !task->conn->ops->stream)
        return NULL;
    return task->conn;
}

static int stream_out(aio_request *req, struct aio_conn *conn, const char *data, size_t len,
                      int end)
{
    int rc = conn->ops->stream(conn, req, data, len, end);
    if (rc == AIO_OK)
        req->stream_written_ms = aio__loop_ms();
    else if (rc == AIO_ECANCELLED)
        aio__task_cancel(req->task, "client went away");
    return rc;
}

int aio_stream_begin(aio_request *req)
{
    if (!req || req->upgraded || req->stream_ended)
        return AIO_EINVAL;
    if (aio_is_cancelled(req))
        return AIO_ECANCELLED;
    req->responded = 1; /* the renderer stays out */
    struct aio_conn *conn = stream_conn(req);
    if (!conn || req->streaming)
        return AIO_OK;
    req->streaming = 1;
    int rc = stream_out(req, conn, NULL, 0, 0);
    if (rc == AIO_OK && req->response_body.len) { /* written before the stream began */
        rc = stream_out(req, conn, req->response_body.data, req->response_body.len, 0);
        aio__buf_free(&req->response_body);
    }
    return rc;
}

int aio_stream_write(aio_request *req, const void *data, size_t len)
{
    if (!req || (!data && len) || req->stream_ended)
        return AIO_EINVAL;
    struct aio_conn *conn = stream_conn(req);
    if (!conn) {
        req->responded = 1;
        return aio_write_body(req, data, len);
    }
    int rc = req->streaming ? AIO_OK : aio_stream_begin(req);
    if (rc == AIO_OK && len)
        rc = stream_out(req, conn, data, len, 0);
    return rc;
}

int aio_stream_end(aio_request *req)
{
    if (!req)
        return AIO_EINVAL;
    if (req->stream_ended)
        return AIO_OK;
    struct aio_conn *conn = stream_conn(req);
    if (!conn || !req->streaming) {
        req->stream_ended = 1;
        return AIO_OK;
    }
    int rc = stream_out(req, conn, NULL, 0, 1);
    req->stream_ended = 1;
    return rc;
}

/* ---- files ------------------------------------------------------------------ */

#define FILE_PIECE (64u * 1024u)

int aio_send_fd(aio_request *req, int fd)
{
    struct stat st;
    if (!req || fd < 0 || req->streaming || req->stream_ended)
        return AIO_EINVAL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return AIO_EINVAL;
    char *piece = malloc(FILE_PIECE);
    if (!piece)
        return AIO_ENOMEM;
    req->stream_has_length = 1;
    req->stream_length = (uint64_t)st.st_size;
    int rc = aio_stream_begin(req);
    uint64_t sent = 0;
    /* HEAD: the length is all it gets */
    while (rc == AIO_OK && sent < req->stream_length && req->method_bit != AIO_HEAD) {
        size_t want = req->stream_length - sent < FILE_PIECE ? (size_t)(req->stream_length - sent)
                                                             : FILE_PIECE;
        ssize_t n = pread(fd, piece, want, (off_t)sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* shrunk or unreadable under us: the length cannot be kept */
            req->failure = "the file could not be read to its end";
            rc = AIO_ERROR;
            break;
        }
        rc = aio_stream_write(req, piece, (size_t)n);
        sent += (uint64_t)n;
    }
    free(piece);
    return rc == AIO_OK ? aio_stream_end(req) : rc;
}

int aio_send_file(aio_request *req, const char *path)
{
    if (!req || !path)
        return AIO_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? AIO_ENOTFOUND : AIO_ERROR;
    int rc = aio_send_fd(req, fd);
    close(fd);
    return rc;
}

/* ---- server-sent events --------------------------------------------------- */

int aio_sse_begin(aio_request *req, int heartbeat_ms)
{
    if (!req || heartbeat_ms < 0)
        return AIO_EINVAL;
    req->sse_heartbeat_ms = heartbeat_ms;
    int rc = aio_add_header(req, "Content-Type", "text/event-stream; charset=utf-8");
    if (rc == AIO_OK)
        rc = aio_add_header(req, "Cache-Control", "no-cache");
    if (rc == AIO_OK) /* nginx would otherwise buffer the events */
        rc = aio_add_header(req, "X-Accel-Buffering", "no");
    return rc == AIO_OK ? aio_stream_begin(req) : rc;
}

static int send_buf(aio_request *req, struct aio_buf *buf, int rc)
{
    if (rc == AIO_OK)
        rc = aio_stream_write(req, buf->data, buf->len);
    aio__buf_free(buf);
    return rc;
}

int aio_sse_send(aio_request *req, const struct aio_sse_event *event)
{
    if (!req || !event)
        return AIO_EINVAL;
    struct aio_buf buf = AIO_BUF_INIT;
    int rc = aio__sse_format(&buf, event->event, event->id, event->data,
                             event->retry_ms > 0 ? event->retry_ms : -1);
    return send_buf(req, &buf, rc);
}

int aio_sse_comment(aio_request *req, const char *text)
{
    if (!req)
        return AIO_EINVAL;
    struct aio_buf buf = AIO_BUF_INIT;
    return send_buf(req, &buf, aio__sse_comment(&buf, text ? text : ""));
}

int aio_sse_sleep_ms(aio_request *req, int64_t ms)
{
    if (!aio__scope_check(req))
        return AIO_ESCOPE;
    if (ms < 0 || ms > AIO_SLEEP_MAX_MS)
        return AIO_EINVAL;
    uint64_t until = aio__loop_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = aio__loop_ms();
        if (now >= until)
            return AIO_OK;
        uint64_t step = until - now;
        uint64_t beat = (uint64_t)req->sse_heartbeat_ms;
        if (beat && req->streaming) {
            uint64_t due = req->stream_written_ms + beat;
            if (due <= now) {
                int rc = aio_sse_comment(req, "");
                if (rc != AIO_OK)
                    return rc;
                continue;
            }
            if (due - now < step)
                step = due - now;
        }
        int rc = aio_sleep_ms(req, (int64_t)step);
        if (rc != AIO_OK)
            return rc;
    }
}
