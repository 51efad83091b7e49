/* kv.c - ordered key/value lists (kv.h). */
#include "base/kv.h"

#include <string.h>
#include <strings.h>

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

const char *aio__kvlist_get_case(const struct aio_kvlist *list, const char *key)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcasecmp(list->items[i].key, key) == 0)
            return list->items[i].value;
    return NULL;
}
