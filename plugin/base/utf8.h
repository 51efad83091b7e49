/* utf8.h - UTF-8 validation, whole or incremental (websocket text arrives
 * in fragments split anywhere, even inside a character). */
#ifndef AIO_UTF8_H
#define AIO_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Where a validation stands between two pieces of input. */
struct aio_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* the range the next continuation byte must be in */
};

#define AIO_UTF8_INIT {0, 0x80, 0xbf}

/* Validates the next piece; 0 as soon as it cannot be UTF-8 (no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
int aio__utf8_feed(struct aio_utf8 *state, const uint8_t *s, size_t len);

/* 1 when no character is left unfinished. */
static inline int aio__utf8_complete(const struct aio_utf8 *state)
{
    return state->need == 0;
}

/* 1 when s[0..len) is well-formed UTF-8. */
int aio__utf8_valid(const char *s, size_t len);

#endif
