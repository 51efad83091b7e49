/* buf.h - a growable byte buffer (response bodies, rendered templates). */
#ifndef AIO_BUF_H
#define AIO_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct aio_buf {
    char *data;
    size_t len;
    size_t cap;
};

#define AIO_BUF_INIT {NULL, 0, 0}

/* All return AIO_OK or AIO_ENOMEM; on failure the buffer is unchanged. */
int aio__buf_reserve(struct aio_buf *buf, size_t extra);
int aio__buf_append(struct aio_buf *buf, const void *data, size_t len);
int aio__buf_append_str(struct aio_buf *buf, const char *s);
int aio__buf_vprintf(struct aio_buf *buf, const char *fmt, va_list ap);
int aio__buf_printf(struct aio_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void aio__buf_reset(struct aio_buf *buf);
void aio__buf_free(struct aio_buf *buf);

#endif
