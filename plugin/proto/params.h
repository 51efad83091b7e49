/* params.h - percent-decoding and application/x-www-form-urlencoded
 * parsing (query strings and form bodies). Strict: a malformed escape or an
 * encoded NUL is an error, never silently passed on. */
#ifndef AIO_PROTO_PARAMS_H
#define AIO_PROTO_PARAMS_H

#include <stddef.h>

#include "base/arena.h"
#include "base/kv.h"

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
