/* libFuzzer target for the route patterns (app/route.c), which compile the
 * patterns of aio_add_route() and match every request path against them.
 * Input: a pattern, a NUL, then a path (no NUL: the path is empty). A
 * pattern is compiled or refused with a reason; a compiled one is matched
 * against the path, and on a match every placeholder has a value that is
 * part of the path, and the same as the regex itself finds (literal
 * patterns and whole-segment placeholders are matched without it). ASan and
 * UBSan watch the copies the matcher makes out of regexec()'s offsets. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "app/route.h"
#include "base/arena.h"
#include "base/kv.h"

/* The C library's regex engine copies the tree under a '+' or a counted
 * repetition once per repetition ("a++++" doubles it four times, and
 * "(a{99}){99}" makes ten thousand copies), and its epsilon closures grow
 * with every '*', '?', group and alternative (nested stars ran regcomp()
 * for minutes): inputs that could cost more than 64 copies, or that hold
 * more than 16 groups and alternatives, are skipped, so that the run is
 * spent in the route code. The bound counts every one, nested or not. */
static int costly(const char *pattern)
{
    long copies = 1, groups = 0;
    for (const char *p = pattern; *p && copies <= 64 && groups <= 16; p++) {
        if (*p == '+' || *p == '*' || *p == '?') {
            copies *= 2;
        } else if (*p == '(' || *p == '|') {
            groups++;
        } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            long n = strtol(p + 1, &end, 10);
            if (*end == ',' && end[1] >= '0' && end[1] <= '9')
                n = strtol(end + 1, NULL, 10);
            copies *= n > 64 ? 65 : n + 1;
        }
    }
    return copies > 64 || groups > 16;
}

static void match(const struct aio_pattern *pattern, const char *path)
{
    struct aio_arena arena;
    aio__arena_init(&arena);
    struct aio_kvlist values;
    memset(&values, 0, sizeof(values));
    int rc = aio__pattern_match(pattern, path, &arena, &values);
    assert(rc == 0 || rc == 1);
    /* the matchers that do without the regex find what it finds */
    struct aio_kvlist by_regex;
    memset(&by_regex, 0, sizeof(by_regex));
    assert(aio__pattern_match_regex(pattern, path, &arena, &by_regex) == rc);
    assert(by_regex.count == values.count);
    for (size_t i = 0; i < values.count; i++)
        assert(strcmp(by_regex.items[i].value, values.items[i].value) == 0);
    if (rc == 1) {
        assert(values.count == pattern->nplaceholders);
        for (size_t i = 0; i < pattern->nplaceholders; i++) {
            const char *value = aio__kvlist_get(&values, pattern->names[i]);
            assert(value && strstr(path, value));
        }
    }
    aio__arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *input = malloc(size + 2);
    assert(input);
    memcpy(input, data, size);
    input[size] = input[size + 1] = '\0';
    const char *pattern = input, *path = input + strlen(input) + 1;
    if (costly(pattern)) {
        free(input);
        return 0;
    }
    struct aio_pattern p;
    char why[256] = "";
    int rc = aio__pattern_compile(&p, pattern, why, sizeof(why));
    if (rc == AIO_OK) {
        assert(p.nplaceholders <= AIO_PATTERN_MAX_PLACEHOLDERS);
        for (size_t i = 0; i < p.nplaceholders; i++)
            assert(p.groups[i] >= 1 && p.groups[i] <= p.regex.re_nsub);
        match(&p, path);
        aio__pattern_free(&p);
    } else {
        assert(rc == AIO_EINVAL && why[0]);
    }
    free(input);
    return 0;
}
