/* libFuzzer target for the route index (app/routeindex.c) against the
 * naive matcher it replaces. Input: patterns, one per line, then the path
 * on the last line. The patterns that compile (and are cheap for the C
 * library's regex engine) are indexed in their order; for the path, the
 * index must find the same route as trying every pattern in order, with
 * the same placeholder values, or none when none matches. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "app/route.h"
#include "base/arena.h"
#include "base/kv.h"

#define MAX_PATTERNS 12

/* As fuzz_route: inputs that would make regcomp() copy its tree more than
 * 64 times are skipped (a '+' doubles it, a count multiplies it). */
static int costly(const char *pattern)
{
    long copies = 1;
    for (const char *p = pattern; *p && copies <= 64; p++) {
        if (*p == '+')
            copies *= 2;
        else if (*p == '{' && p[1] >= '0' && p[1] <= '9')
            copies *= 65;
    }
    return copies > 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size) { /* a NUL: paths never have one */
        free(text);
        return 0;
    }
    static struct aio_pattern patterns[MAX_PATTERNS];
    const struct aio_pattern *order[MAX_PATTERNS];
    size_t n = 0;
    char *line = text, *nl;
    while ((nl = strchr(line, '\n')) != NULL && n < MAX_PATTERNS) {
        *nl = '\0';
        char error[256];
        if (!costly(line) &&
            aio__pattern_compile(&patterns[n], line, error, sizeof(error)) == AIO_OK) {
            order[n] = &patterns[n];
            n++;
        }
        line = nl + 1;
    }
    const char *path = line;
    struct aio_route_index *index = aio__route_index_new(order, n);
    assert(index);
    struct aio_arena arena;
    aio__arena_init(&arena);
    struct aio_kvlist want = {0}, got = {0};
    size_t want_i = 0, got_i = 0;
    int want_rc = 0;
    for (size_t i = 0; i < n && !want_rc; i++)
        if ((want_rc = aio__pattern_match(order[i], path, &arena, &want)) != 0)
            want_i = i;
    int got_rc = aio__route_index_match(index, path, &arena, &got, &got_i);
    assert(got_rc == want_rc);
    if (want_rc == 1) {
        assert(got_i == want_i);
        assert(got.count == want.count);
        for (size_t m = 0; m < want.count; m++)
            assert(strcmp(got.items[m].key, want.items[m].key) == 0 &&
                   strcmp(got.items[m].value, want.items[m].value) == 0);
    }
    aio__arena_release(&arena);
    aio__route_index_free(index);
    for (size_t i = 0; i < n; i++)
        aio__pattern_free(&patterns[i]);
    free(text);
    return 0;
}
