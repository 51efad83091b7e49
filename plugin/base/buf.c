#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>

int aio__buf_reserve(struct aio_buf *buf, size_t extra)
{
    if (extra > SIZE_MAX - buf->len - 1)
        return AIO_ENOMEM;
    size_t need = buf->len + extra + 1; /* keep room for a terminating NUL */
    if (need <= buf->cap)
        return AIO_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(buf->data, cap);
    if (!data)
        return AIO_ENOMEM;
    buf->data = data;
    buf->cap = cap;
    return AIO_OK;
}

int aio__buf_append(struct aio_buf *buf, const void *data, size_t len)
{
    if (aio__buf_reserve(buf, len) != AIO_OK)
        return AIO_ENOMEM;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return AIO_OK;
}

int aio__buf_append_str(struct aio_buf *buf, const char *s)
{
    return aio__buf_append(buf, s, strlen(s));
}

int aio__buf_vprintf(struct aio_buf *buf, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0 || aio__buf_reserve(buf, (size_t)n) != AIO_OK) {
        va_end(again);
        return n < 0 ? AIO_EINVAL : AIO_ENOMEM;
    }
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, again);
    va_end(again);
    buf->len += (size_t)n;
    return AIO_OK;
}

int aio__buf_printf(struct aio_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = aio__buf_vprintf(buf, fmt, ap);
    va_end(ap);
    return rc;
}

void aio__buf_reset(struct aio_buf *buf)
{
    buf->len = 0;
    if (buf->data)
        buf->data[0] = '\0';
}

void aio__buf_free(struct aio_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
