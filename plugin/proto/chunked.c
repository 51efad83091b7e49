#include "proto/chunked.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>

enum {
    SIZE,        /* hex digits of a chunk size */
    SIZE_EXT,    /* ";name=value..." after the size, up to CR */
    SIZE_LF,     /* the LF after the size line's CR */
    DATA,        /* the chunk's data */
    DATA_CR,     /* CR after the data */
    DATA_LF,     /* LF after the data */
    TRAILER,     /* a trailer line (or the final empty line), up to CR */
    TRAILER_LF,  /* the LF after a trailer line's CR */
    DONE,
};

void aio__chunked_init(struct aio_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = SIZE;
}

static int hex_value(unsigned char b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    b |= 0x20;
    return b >= 'a' && b <= 'f' ? b - 'a' + 10 : -1;
}

static int fail(struct aio_chunked *c, const char *why)
{
    c->why = why;
    return AIO_EINVAL;
}

/* One byte of a size line, a trailer or a CRLF. */
static int framing_byte(struct aio_chunked *c, unsigned char b)
{
    switch (c->state) {
    case SIZE: {
        int v = hex_value(b);
        if (v >= 0) {
            if (c->left >> 59) /* would pass 2^63 bytes: nobody sends that much */
                return fail(c, "a chunk size too large");
            c->left = c->left << 4 | (uint64_t)v;
            c->digits++;
            break;
        }
        if (!c->digits)
            return fail(c, "a chunk size that is not hexadecimal");
        if (b == ';' || b == ' ' || b == '\t')
            c->state = SIZE_EXT;
        else if (b == '\r')
            c->state = SIZE_LF;
        else
            return fail(c, "a chunk size that is not hexadecimal");
        break;
    }
    case SIZE_EXT:
        if (b == '\r')
            c->state = SIZE_LF;
        else if (b == '\n' || b == 0)
            return fail(c, "a chunk extension with an LF or NUL in it");
        break;
    case SIZE_LF:
        if (b != '\n')
            return fail(c, "a chunk size line without CRLF");
        c->line = 0;
        c->state = c->left ? DATA : TRAILER;
        break;
    case DATA_CR:
        if (b != '\r')
            return fail(c, "chunk data longer than its size");
        c->state = DATA_LF;
        break;
    case DATA_LF:
        if (b != '\n')
            return fail(c, "chunk data not followed by CRLF");
        c->state = SIZE;
        c->digits = 0;
        c->line = 0;
        break;
    case TRAILER:
        if (b == '\r') {
            c->state = TRAILER_LF;
        } else if (b == '\n' || b == 0) {
            return fail(c, "a trailer line with a bare LF or NUL");
        } else if (++c->trailer > AIO_CHUNKED_MAX_TRAILER) {
            return fail(c, "a trailer too long");
        } else {
            c->line++;
        }
        break;
    case TRAILER_LF:
        if (b != '\n')
            return fail(c, "a trailer line without CRLF");
        if (c->line == 0) {
            c->state = DONE;
            c->done = 1;
        } else {
            c->state = TRAILER;
            c->line = 0;
        }
        break;
    }
    if ((c->state == SIZE || c->state == SIZE_EXT) && ++c->line > AIO_CHUNKED_MAX_LINE)
        return fail(c, "a chunk size line too long");
    return AIO_OK;
}

int aio__chunked_decode(struct aio_chunked *c, const char *in, size_t in_len, size_t *in_used,
                        char *out, size_t out_len, size_t *out_used)
{
    size_t i = 0, o = 0;
    int rc = c->why ? AIO_EINVAL : AIO_OK;
    while (rc == AIO_OK && i < in_len && c->state != DONE) {
        if (c->state == DATA) {
            size_t n = in_len - i;
            if (n > out_len - o)
                n = out_len - o;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            if (n == 0)
                break; /* out is full */
            memcpy(out + o, in + i, n);
            i += n;
            o += n;
            c->left -= n;
            if (c->left == 0)
                c->state = DATA_CR;
        } else {
            rc = framing_byte(c, (unsigned char)in[i++]);
        }
    }
    *in_used = i;
    *out_used = o;
    return rc;
}
