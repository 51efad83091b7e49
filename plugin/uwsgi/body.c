/* body.c - request bodies from the client: Content-Length bodies read up
 * to their length, chunked bodies decoded (proto/chunked.c), limit-post
 * counted on what the view gets, the whole body under aio-body-timeout,
 * "100 Continue" before the first byte is asked for, and, after the view,
 * what it left unread drained so that the connection may carry the next
 * request. Reads suspend the request's coroutine through uWSGI's wait hook
 * (waithooks.c), each wait within socket-timeout. */
#include <uwsgi.h>

#include <errno.h>
#include <string.h>

#include "proto/chunked.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

/* Raw bytes read at a time for a chunked body. */
#define CHUNK_IN_SIZE (16u * 1024u)
/* What the view left of its body is read and dropped up to this much;
 * beyond, the connection is closed instead. */
#define DRAIN_LIMIT (64u * 1024u)

void aio__body_begin(struct aio_core *core, int chunked)
{
    core->body_chunked = chunked;
    core->body_expected = chunked || core->wsgi_req->post_cl > 0;
    core->body_done = !core->body_expected;
    core->body_seen = 0;
    core->body_started_ms = 0;
    core->chunk_in_len = core->chunk_in_pos = 0;
    if (chunked)
        aio__chunked_init(&core->chunked);
}

void aio__body_end(struct aio_core *core)
{
    free(core->chunk_in);
    core->chunk_in = NULL;
    core->chunk_in_len = core->chunk_in_pos = 0;
}

/* Seconds the next wait may take: socket-timeout, or less when the whole
 * body's deadline is nearer. 0: the deadline has passed. */
static int wait_seconds(struct aio_core *core)
{
    int wait = uwsgi.socket_timeout > 0 ? uwsgi.socket_timeout : 4;
    long deadline_s = aio__app.opts.body_timeout_s;
    if (!deadline_s)
        return wait;
    uint64_t spent = aio__loop_ms() - core->body_started_ms;
    uint64_t total = (uint64_t)deadline_s * 1000;
    if (spent >= total)
        return 0;
    uint64_t left_s = (total - spent + 999) / 1000;
    return left_s < (uint64_t)wait ? (int)left_s : wait;
}

/* Some raw bytes of the body (what the head's read left over first). */
static ssize_t read_raw(struct aio_core *core, char *buf, size_t len)
{
    struct wsgi_request *w = core->wsgi_req;
    for (;;) {
        if (core->task.cancelled)
            return AIO_ECANCELLED;
        int wait = wait_seconds(core);
        if (wait == 0)
            return AIO_ETIMEDOUT;
        ssize_t n = w->socket->proto_read_body(w, buf, len);
        if (n > 0)
            return n;
        if (n == 0) /* the client closed its side mid-body: it may still read a 400 */
            return AIO_EINVAL;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return AIO_ECANCELLED;
        int ready = uwsgi.wait_read_hook(w->fd, wait);
        if (ready < 0)
            return core->task.cancelled ? AIO_ECANCELLED : AIO_ETIMEDOUT;
        if (ready == 0) /* socket-timeout without a byte, or the whole body's deadline */
            return AIO_ETIMEDOUT;
    }
}

static ssize_t read_length_body(struct aio_core *core, char *buf, size_t len)
{
    struct wsgi_request *w = core->wsgi_req;
    uint64_t left = w->post_cl - w->post_pos;
    if (left == 0) {
        core->body_done = 1;
        return 0;
    }
    ssize_t n = read_raw(core, buf, len < left ? len : (size_t)left);
    if (n > 0) {
        w->post_pos += (uint64_t)n;
        core->body_done = w->post_pos == w->post_cl;
    }
    return n;
}

static ssize_t read_chunked_body(struct aio_core *core, char *buf, size_t len)
{
    if (!core->chunk_in && !(core->chunk_in = malloc(CHUNK_IN_SIZE)))
        return AIO_ENOMEM;
    for (;;) {
        if (core->chunk_in_pos < core->chunk_in_len) {
            size_t used, produced;
            int rc = aio__chunked_decode(&core->chunked, core->chunk_in + core->chunk_in_pos,
                                         core->chunk_in_len - core->chunk_in_pos, &used, buf, len,
                                         &produced);
            core->chunk_in_pos += used;
            if (rc != AIO_OK) {
                aio__log("malformed chunked request body: %s", core->chunked.why);
                return AIO_EINVAL;
            }
            core->body_seen += produced;
            core->body_done = core->chunked.done;
            if (produced)
                return (ssize_t)produced;
            if (core->body_done)
                return 0;
        }
        ssize_t n = read_raw(core, core->chunk_in, CHUNK_IN_SIZE);
        if (n < 0)
            return n;
        core->chunk_in_pos = 0;
        core->chunk_in_len = (size_t)n;
    }
}

ssize_t aio__body_read(struct aio_core *core, char *buf, size_t len)
{
    if (core->body_done || len == 0)
        return 0;
    struct wsgi_request *w = core->wsgi_req;
    uint64_t limit = uwsgi.limit_post;
    if (!core->body_started_ms) {
        core->body_started_ms = aio__loop_ms();
        if (limit && w->post_cl > limit)
            return AIO_EFULL; /* said before a byte is read, without 100 Continue */
        aio__http1_send_continue(core);
    }
    ssize_t n = core->body_chunked ? read_chunked_body(core, buf, len)
                                   : read_length_body(core, buf, len);
    if (n > 0 && core->body_chunked && limit && core->body_seen > limit)
        return AIO_EFULL; /* counted on the decoded size */
    return n;
}

int aio__body_drain(struct aio_core *core)
{
    char scrap[4096];
    size_t drained = 0;
    if (!core->body_started_ms && core->expect_continue)
        return 0; /* the client waits for a 100 Continue it will not get: close */
    while (!core->body_done && drained < DRAIN_LIMIT) {
        ssize_t n = aio__body_read(core, scrap, sizeof(scrap));
        if (n <= 0)
            break;
        drained += (size_t)n;
    }
    return core->body_done;
}

size_t aio__body_unparsed(const struct aio_core *core, const char **bytes)
{
    *bytes = core->chunk_in ? core->chunk_in + core->chunk_in_pos : NULL;
    return core->chunk_in ? core->chunk_in_len - core->chunk_in_pos : 0;
}
