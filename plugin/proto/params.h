/* params.h - percent-decoding and application/x-www-form-urlencoded
 * parsing (query strings and form bodies). Strict: a malformed escape or an
 * encoded NUL is an error, never silently passed on. */
#ifndef AIO_PARAMS_H
#define AIO_PARAMS_H

#include <stddef.h>

#include "base/arena.h"

struct aio_kv {
    const char *key;
    const char *value;
};

/* An ordered list of key/value pairs living in an arena. */
struct aio_kvlist {
    struct aio_kv *items;
    size_t count;
    size_t cap;
};

int aio__kvlist_add(struct aio_arena *arena, struct aio_kvlist *list,
                   const char *key, const char *value);
/* First value of `key` (exact, case-sensitive match), or NULL. */
const char *aio__kvlist_get(const struct aio_kvlist *list, const char *key);

/*
 * Decodes src[0..len) into dst (which needs len + 1 bytes) and
 * NUL-terminates it. With plus_as_space, '+' decodes to ' ' (form encoding).
 * Returns AIO_OK, or AIO_EINVAL for a bad escape ("%4", "%zz") or an
 * encoded NUL ("%00"); *bad_at then holds the offset of the bad escape.
 */
int aio__percent_decode(char *dst, const char *src, size_t len, int plus_as_space,
                       size_t *out_len, size_t *bad_at);

/*
 * Parses "a=1&b=x+y&a=2" into `out` (appending, in order). Empty pieces
 * ("a=1&&b") are skipped; a key without '=' gets the value "".
 * Returns AIO_OK, AIO_EINVAL (bad escape; *error describes it) or AIO_ENOMEM.
 */
int aio__parse_urlencoded(struct aio_arena *arena, const char *s, size_t len,
                         struct aio_kvlist *out, const char **error);

#endif
