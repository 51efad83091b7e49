/* routeindex.c - finding a request's route without trying every pattern.
 *
 * Routes are tried in the order they were added and the first that matches
 * wins (Pyramid's rule). Trying each in turn ran every earlier route's
 * regex on every request: with a thousand routes the last one paid for the
 * 999 before it. The index keeps the rule and finds the same route: a
 * literal route (no placeholder) is found by a hash of the whole path; a
 * patterned route is tried only for paths whose first segment is the one
 * its literal prefix starts with (found by a hash of that segment), or for
 * every path when its prefix has no whole first segment ("/{name}",
 * "/item{n}"). The lowest index among the literal route found and the
 * patterned candidates that match wins; candidates are tried in index
 * order, so the first that matches is the answer, and none after the
 * literal route is tried at all. (lwan's trie and h2o's path prefixes did
 * this first.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "app/route.h"

#define NONE UINT32_MAX

struct aio_route_bucket {
    const char *seg; /* NULL: an empty slot */
    size_t seg_len;
    uint32_t *routes; /* ascending */
    size_t n, cap;
};

struct aio_route_index {
    uint32_t *literal; /* route index + 1 by path; 0: empty */
    size_t literal_mask;
    struct aio_route_bucket *buckets;
    size_t bucket_mask;
    uint32_t *always; /* patterned routes tried for every path, ascending */
    size_t nalways;
    const struct aio_pattern *const *patterns;
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static size_t table_size(size_t n)
{
    size_t size = 16;
    while (size < 2 * n)
        size <<= 1;
    return size;
}

/* The first segment of a path ("/a/b" -> "a"); 0 when it has none whole
 * within `len` bytes (no '/' after it there) and `whole` is required. */
static int first_segment(const char *path, size_t len, int whole, const char **seg,
                         size_t *seg_len)
{
    if (len == 0 || path[0] != '/')
        return 0;
    const char *end = memchr(path + 1, '/', len - 1);
    if (!end && whole)
        return 0;
    *seg = path + 1;
    *seg_len = (size_t)((end ? end : path + len) - path - 1);
    return 1;
}

static const char *route_source(const struct aio_route_index *x, uint32_t i)
{
    return x->patterns[i]->source;
}

static uint32_t literal_find(const struct aio_route_index *x, const char *path, size_t len)
{
    for (size_t slot = hash(path, len) & x->literal_mask;; slot = (slot + 1) & x->literal_mask) {
        uint32_t v = x->literal[slot];
        if (!v)
            return NONE;
        const char *src = route_source(x, v - 1);
        if (strlen(src) == len && memcmp(src, path, len) == 0)
            return v - 1;
    }
}

static struct aio_route_bucket *bucket_slot(const struct aio_route_index *x, const char *seg,
                                            size_t len)
{
    for (size_t slot = hash(seg, len) & x->bucket_mask;; slot = (slot + 1) & x->bucket_mask) {
        struct aio_route_bucket *b = &x->buckets[slot];
        if (!b->seg || (b->seg_len == len && memcmp(b->seg, seg, len) == 0))
            return b;
    }
}

static int push(uint32_t **list, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t grown = *cap ? 2 * *cap : 4;
        uint32_t *p = realloc(*list, grown * sizeof(*p));
        if (!p)
            return AIO_ENOMEM;
        *list = p;
        *cap = grown;
    }
    (*list)[(*n)++] = v;
    return AIO_OK;
}

static int index_route(struct aio_route_index *x, uint32_t i, size_t *always_cap)
{
    const struct aio_pattern *p = x->patterns[i];
    if (p->literal) {
        size_t len = strlen(p->source);
        if (literal_find(x, p->source, len) != NONE)
            return AIO_OK; /* an earlier route has that path: it wins */
        size_t slot = hash(p->source, len) & x->literal_mask;
        while (x->literal[slot])
            slot = (slot + 1) & x->literal_mask;
        x->literal[slot] = i + 1;
        return AIO_OK;
    }
    const char *seg;
    size_t seg_len;
    if (!first_segment(p->source, p->prefix_len, 1, &seg, &seg_len))
        return push(&x->always, &x->nalways, always_cap, i);
    struct aio_route_bucket *b = bucket_slot(x, seg, seg_len);
    b->seg = seg;
    b->seg_len = seg_len;
    return push(&b->routes, &b->n, &b->cap, i);
}

void aio__route_index_free(struct aio_route_index *x)
{
    if (!x)
        return;
    for (size_t i = 0; x->buckets && i <= x->bucket_mask; i++)
        free(x->buckets[i].routes);
    free(x->buckets);
    free(x->literal);
    free(x->always);
    free(x);
}

struct aio_route_index *aio__route_index_new(const struct aio_pattern *const *patterns, size_t n)
{
    if (n >= NONE)
        return NULL;
    struct aio_route_index *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->patterns = patterns;
    size_t size = table_size(n);
    x->literal = calloc(size, sizeof(*x->literal));
    x->buckets = calloc(size, sizeof(*x->buckets));
    x->literal_mask = x->bucket_mask = size - 1;
    int rc = x->literal && x->buckets ? AIO_OK : AIO_ENOMEM;
    size_t always_cap = 0;
    for (size_t i = 0; i < n && rc == AIO_OK; i++)
        rc = index_route(x, (uint32_t)i, &always_cap);
    if (rc != AIO_OK) {
        aio__route_index_free(x);
        return NULL;
    }
    return x;
}

/* The candidates of both ascending lists, in index order, below `limit`:
 * the first that matches. */
static int first_match(const struct aio_route_index *x, const uint32_t *a, size_t na,
                       const uint32_t *b, size_t nb, uint32_t limit, const char *path,
                       struct aio_arena *arena, struct aio_kvlist *match, uint32_t *found)
{
    size_t i = 0, j = 0;
    for (;;) {
        uint32_t next = NONE;
        if (i < na && (j >= nb || a[i] < b[j]))
            next = a[i++];
        else if (j < nb)
            next = b[j++];
        if (next == NONE || next >= limit)
            return 0;
        int rc = aio__pattern_match(x->patterns[next], path, arena, match);
        if (rc != 0) {
            *found = next;
            return rc; /* 1, or AIO_ENOMEM */
        }
    }
}

int aio__route_index_match(const struct aio_route_index *x, const char *path,
                           struct aio_arena *arena, struct aio_kvlist *match, size_t *route)
{
    size_t len = strlen(path);
    uint32_t best = literal_find(x, path, len);
    const uint32_t *bucket = NULL;
    size_t nbucket = 0;
    const char *seg;
    size_t seg_len;
    if (first_segment(path, len, 0, &seg, &seg_len)) {
        const struct aio_route_bucket *b = bucket_slot(x, seg, seg_len);
        if (b->seg) {
            bucket = b->routes;
            nbucket = b->n;
        }
    }
    uint32_t found;
    int rc = first_match(x, bucket, nbucket, x->always, x->nalways, best, path, arena, match,
                         &found);
    if (rc < 0)
        return rc;
    if (rc > 0)
        best = found;
    if (best == NONE)
        return 0;
    *route = best;
    return 1;
}
