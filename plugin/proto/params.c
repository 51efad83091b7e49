#include "proto/params.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>

#include "base/hex.h"

int aio__percent_decode(char *dst, const char *src, size_t len, int plus_as_space,
                       size_t *out_len, size_t *bad_at)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3 || aio__hex_value(src[i + 1]) < 0 || aio__hex_value(src[i + 2]) < 0) {
                if (bad_at)
                    *bad_at = i;
                return AIO_EINVAL;
            }
            int byte = aio__hex_value(src[i + 1]) * 16 + aio__hex_value(src[i + 2]);
            if (byte == 0) {
                if (bad_at)
                    *bad_at = i;
                return AIO_EINVAL;
            }
            dst[o++] = (char)byte;
            i += 2;
        } else if (c == '+' && plus_as_space) {
            dst[o++] = ' ';
        } else if (c == '\0') {
            if (bad_at)
                *bad_at = i;
            return AIO_EINVAL;
        } else {
            dst[o++] = c;
        }
    }
    dst[o] = '\0';
    if (out_len)
        *out_len = o;
    return AIO_OK;
}

static int decode_piece(struct aio_arena *arena, const char *s, size_t len, char **out)
{
    char *dst = aio__arena_alloc(arena, len + 1);
    if (!dst)
        return AIO_ENOMEM;
    int rc = aio__percent_decode(dst, s, len, 1, NULL, NULL);
    if (rc != AIO_OK)
        return rc;
    *out = dst;
    return AIO_OK;
}

int aio__parse_urlencoded(struct aio_arena *arena, const char *s, size_t len,
                         struct aio_kvlist *out, const char **error)
{
    size_t pos = 0;
    while (pos < len) {
        const char *piece = s + pos;
        const char *amp = memchr(piece, '&', len - pos);
        size_t piece_len = amp ? (size_t)(amp - piece) : len - pos;
        pos += piece_len + 1;
        if (piece_len == 0)
            continue;
        const char *eq = memchr(piece, '=', piece_len);
        size_t key_len = eq ? (size_t)(eq - piece) : piece_len;
        char *key, *value;
        int rc = decode_piece(arena, piece, key_len, &key);
        if (rc == AIO_OK) {
            if (eq)
                rc = decode_piece(arena, eq + 1, piece_len - key_len - 1, &value);
            else
                rc = (value = aio__arena_strdup(arena, "")) ? AIO_OK : AIO_ENOMEM;
        }
        if (rc == AIO_OK)
            rc = aio__kvlist_add(arena, out, key, value);
        if (rc != AIO_OK) {
            if (error)
                *error = rc == AIO_EINVAL ? "malformed percent-escape (or encoded NUL)"
                                          : "out of memory";
            return rc;
        }
    }
    return AIO_OK;
}
