#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ARENA_ALIGN 16u
/* A request usually needs a kilobyte or two; chunks double from here, so a
 * suspended request holds little memory. */
#define ARENA_FIRST_CHUNK 1024u
#define ARENA_CHUNK_MAX 65536u

struct aio_arena_chunk {
    struct aio_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void aio__arena_init(struct aio_arena *arena)
{
    arena->head = NULL;
}

static size_t align_up(size_t n)
{
    return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

static struct aio_arena_chunk *arena_grow(struct aio_arena *arena, size_t need)
{
    size_t size = arena->head ? arena->head->size * 2 : ARENA_FIRST_CHUNK;
    if (size > ARENA_CHUNK_MAX)
        size = ARENA_CHUNK_MAX;
    if (size < need)
        size = need;
    if (size > SIZE_MAX - sizeof(struct aio_arena_chunk))
        return NULL;
    struct aio_arena_chunk *chunk = malloc(sizeof(*chunk) + size);
    if (!chunk)
        return NULL;
    chunk->size = size;
    chunk->used = 0;
    chunk->next = arena->head;
    arena->head = chunk;
    return chunk;
}

void *aio__arena_alloc(struct aio_arena *arena, size_t size)
{
    if (size > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t need = align_up(size ? size : 1);
    struct aio_arena_chunk *chunk = arena->head;
    if (!chunk || chunk->size - chunk->used < need) {
        chunk = arena_grow(arena, need);
        if (!chunk)
            return NULL;
    }
    void *p = chunk->data + chunk->used;
    chunk->used += need;
    return p;
}

char *aio__arena_strndup(struct aio_arena *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = aio__arena_alloc(arena, len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *aio__arena_strdup(struct aio_arena *arena, const char *s)
{
    return aio__arena_strndup(arena, s, strlen(s));
}

void aio__arena_release(struct aio_arena *arena)
{
    struct aio_arena_chunk *chunk = arena->head;
    while (chunk) {
        struct aio_arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->head = NULL;
}

char *aio__arena_printf(struct aio_arena *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *out = aio__arena_alloc(arena, (size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}
