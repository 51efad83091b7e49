/* sse.h - one server-sent event (the HTML standard's text/event-stream
 * format), written as bytes: what aio_sse_send() streams. */
#ifndef AIO_PROTO_SSE_H
#define AIO_PROTO_SSE_H

struct aio_buf;

/* Appends one event to `out`: "event: NAME" and "id: ID" lines when given,
 * "retry: MS" when retry_ms >= 0, one "data: " line per line of `data`
 * (split at CRLF, CR or LF, as the client splits them; an empty or NULL
 * `data` is one empty data line, so the event is still dispatched), then
 * the blank line that ends the event. AIO_OK, AIO_EINVAL when `event` or
 * `id` holds a CR or LF (it would end its line early), or AIO_ENOMEM. */
int aio__sse_format(struct aio_buf *out, const char *event, const char *id, const char *data,
                    long retry_ms);

/* Appends a comment (": TEXT", one per line of text), which clients
 * ignore: a heartbeat that keeps proxies from closing an idle stream. */
int aio__sse_comment(struct aio_buf *out, const char *text);

#endif
