/* chunked.h - decoding a chunked request body (RFC 9112 7.1), strictly:
 * hex sizes (extensions ignored), CRLF after each size and each chunk's
 * data, trailer lines skipped (bounded), nothing else. A decoder is fed
 * the raw bytes as they come, in any pieces, and says where the body
 * ended: what follows is the next request's. */
#ifndef AIO_PROTO_CHUNKED_H
#define AIO_PROTO_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* A size line (with extensions) or the trailer longer than this is an
 * error: nobody needs them that long. */
#define AIO_CHUNKED_MAX_LINE 4096
#define AIO_CHUNKED_MAX_TRAILER 16384

struct aio_chunked {
    int state;
    uint64_t left;    /* bytes of the current chunk's data still to come */
    size_t line;      /* bytes of the current size or trailer line so far */
    size_t trailer;   /* bytes of the trailer so far */
    int digits;       /* hex digits of the current size */
    int done;         /* the last chunk and the trailer are through */
    const char *why;  /* set with AIO_EINVAL */
};

void aio__chunked_init(struct aio_chunked *c);

/* Decodes in[0..in_len) into out (at most out_len payload bytes), stopping
 * when out is full or the body has ended (c->done). *in_used and *out_len_used
 * say how much of each was used. AIO_OK, or AIO_EINVAL (c->why says what
 * is wrong; the body cannot be read further). */
int aio__chunked_decode(struct aio_chunked *c, const char *in, size_t in_len, size_t *in_used,
                        char *out, size_t out_len, size_t *out_used);

#endif
