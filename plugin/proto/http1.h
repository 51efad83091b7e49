/* http1.h - the HTTP/1.x request head (RFC 9112), parsed strictly.
 *
 * An http-socket or http11-socket head is parsed here rather than by
 * uWSGI's own parser: that one reflects the client's protocol bytes into
 * the status line, honours header names with '_' as their '-' twin
 * (Content_Length), lets an overflowing Content-Length wrap, takes the
 * first of two differing Content-Lengths, and leaks on some malformed
 * heads. This one is pure: it reads a complete head (as found by
 * aio__http_head_scan, which has already refused bare CR, bare LF, NUL and
 * other control bytes) into slices of the caller's buffer, and says what is
 * wrong as an HTTP status and a reason. */
#ifndef AIO_PROTO_HTTP1_H
#define AIO_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* More header lines than this get 431, as uWSGI's own variable vector
 * would not hold them. */
#define AIO_HTTP1_MAX_HEADERS 100

struct aio_http1_header {
    const char *name, *value;
    size_t name_len, value_len;
};

struct aio_http1_head {
    const char *method, *target;
    size_t method_len, target_len;
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    /* the header lines in order, values without surrounding whitespace;
     * names with '_' are dropped (as nginx does), since their CGI names
     * would collide with the '-' names' */
    struct aio_http1_header headers[AIO_HTTP1_MAX_HEADERS];
    size_t nheaders;
    int has_content_length;
    uint64_t content_length;
    int chunked;        /* Transfer-Encoding: chunked */
    int has_host;
    int connection_close;      /* Connection lists "close" */
    int connection_keep_alive; /* ... "keep-alive" */
    int expect_continue;       /* Expect: 100-continue */
};

/* Parses the head at buf[0..len), which ends with its blank line (CRLF
 * CRLF). Returns 0, or the status to answer with and *why: 400 (a bad
 * request line or header line, a space before a colon, an obsolete line
 * folding, a Content-Length that is not a number, overflows or disagrees
 * with another, Content-Length together with Transfer-Encoding, HTTP/1.1
 * without Host), 431 (too many header lines), 501 (a transfer coding other
 * than chunked), 505 (an HTTP version other than 1.0 and 1.1). */
int aio__http1_parse_head(const char *buf, size_t len, struct aio_http1_head *head,
                          const char **why);

/* 1 when the connection may carry another request after this one's
 * response, as far as the head says: HTTP/1.1 unless "Connection: close",
 * HTTP/1.0 only with "Connection: keep-alive". */
int aio__http1_wants_keepalive(const struct aio_http1_head *head);

/* The IMF-fixdate of `t` (seconds since the epoch), as a Date header says
 * it: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes and a NUL). */
#define AIO_HTTP_DATE_LEN 29
void aio__http_date(int64_t t, char out[AIO_HTTP_DATE_LEN + 1]);

#endif
