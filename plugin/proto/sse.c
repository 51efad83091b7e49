#include "proto/sse.h"

#include <stdio.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "base/buf.h"

static int has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* `prefix` and each line of `text` (split at CRLF, CR, LF), one line each. */
static int append_lines(struct aio_buf *out, const char *prefix, const char *text)
{
    size_t plen = strlen(prefix);
    const char *p = text ? text : "";
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        if (aio__buf_append(out, prefix, plen) || aio__buf_append(out, p, n) ||
            aio__buf_append(out, "\n", 1))
            return AIO_ENOMEM;
        p += n;
        if (!*p)
            return AIO_OK;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
}

static int append_field(struct aio_buf *out, const char *name, const char *value)
{
    if (!value)
        return AIO_OK;
    return aio__buf_append(out, name, strlen(name)) || aio__buf_append(out, value, strlen(value)) ||
                   aio__buf_append(out, "\n", 1)
               ? AIO_ENOMEM
               : AIO_OK;
}

int aio__sse_format(struct aio_buf *out, const char *event, const char *id, const char *data,
                    long retry_ms)
{
    if (has_line_break(event) || has_line_break(id))
        return AIO_EINVAL;
    int rc = append_field(out, "event: ", event);
    if (rc == AIO_OK)
        rc = append_field(out, "id: ", id);
    if (rc == AIO_OK && retry_ms >= 0) {
        char retry[32];
        snprintf(retry, sizeof(retry), "%ld", retry_ms);
        rc = append_field(out, "retry: ", retry);
    }
    if (rc == AIO_OK)
        rc = append_lines(out, "data: ", data);
    if (rc == AIO_OK && aio__buf_append(out, "\n", 1))
        rc = AIO_ENOMEM;
    return rc;
}

int aio__sse_comment(struct aio_buf *out, const char *text)
{
    if (append_lines(out, ": ", text) || aio__buf_append(out, "\n", 1))
        return AIO_ENOMEM;
    return AIO_OK;
}
