/* arena.h - per-request bump allocator: everything a request allocates is
 * released at once when the request ends, so no path can leak piecemeal. */
#ifndef AIO_ARENA_H
#define AIO_ARENA_H

#include <stddef.h>

struct aio_arena_chunk;

struct aio_arena {
    struct aio_arena_chunk *head;
};

void aio__arena_init(struct aio_arena *arena);
/* 16-byte aligned, NULL when out of memory (or size overflows). */
void *aio__arena_alloc(struct aio_arena *arena, size_t size);
char *aio__arena_strndup(struct aio_arena *arena, const char *s, size_t len);
char *aio__arena_strdup(struct aio_arena *arena, const char *s);
/* printf into the arena; NULL when out of memory (or a bad format). */
char *aio__arena_printf(struct aio_arena *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void aio__arena_release(struct aio_arena *arena);

#endif
