#include "proto/params.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>

int aio__kvlist_add(struct aio_arena *arena, struct aio_kvlist *list,
                   const char *key, const char *value)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        struct aio_kv *items = aio__arena_alloc(arena, cap * sizeof(*items));
        if (!items)
            return AIO_ENOMEM;
        if (list->count)
            memcpy(items, list->items, list->count * sizeof(*items));
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count].key = key;
    list->items[list->count].value = value;
    list->count++;
    return AIO_OK;
}

const char *aio__kvlist_get(const struct aio_kvlist *list, const char *key)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].key, key) == 0)
            return list->items[i].value;
    return NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int aio__percent_decode(char *dst, const char *src, size_t len, int plus_as_space,
                       size_t *out_len, size_t *bad_at)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3 || hex_value(src[i + 1]) < 0 || hex_value(src[i + 2]) < 0) {
                if (bad_at)
                    *bad_at = i;
                return AIO_EINVAL;
            }
            int byte = hex_value(src[i + 1]) * 16 + hex_value(src[i + 2]);
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
