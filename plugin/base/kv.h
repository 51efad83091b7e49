/* kv.h - ordered key/value lists in an arena: headers, parameters, route
 * matches. */
#ifndef AIO_BASE_KV_H
#define AIO_BASE_KV_H

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
/* The same, ignoring ASCII case (HTTP header names). */
const char *aio__kvlist_get_case(const struct aio_kvlist *list, const char *key);

#endif
