/* The route index against the naive matcher it replaces (every pattern in
 * order, the first that matches wins) as the oracle: overlapping literal
 * and patterned routes, added in many orders, over many paths. */
#include "unit/testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "app/route.h"
#include "base/arena.h"
#include "base/kv.h"

static const char *sources[] = {
    "/", "/hello", "/hello/{name}", "/{anything}", "/items", "/items/{id:[0-9]+}",
    "/items/{id}", "/items/new", "/items/*rest", "/i{x}", "/items/{id}/edit", "/static/*path",
    "/a.b", "/a{dot:.}b", "/files/{path:.*}", "/files/readme", "/x/y/z", "/x/{y}/z",
};
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

static const char *paths[] = {
    "/", "/hello", "/hello/bob", "/hello/", "/items", "/items/7", "/items/x", "/items/new",
    "/items/7/edit", "/items/a/b/c", "/i", "/ix", "/static/", "/static/a/b", "/a.b", "/axb",
    "/files/", "/files/readme", "/files/a/b", "/x/y/z", "/x/q/z", "/x", "/nothing/here", "",
    "//", "/hello//x",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

/* The oracle: the first pattern, in order, that matches. */
static int naive(struct aio_pattern *const *p, size_t n, const char *path, struct aio_arena *arena,
                 struct aio_kvlist *match, size_t *found)
{
    for (size_t i = 0; i < n; i++) {
        int rc = aio__pattern_match(p[i], path, arena, match);
        if (rc) {
            *found = i;
            return rc;
        }
    }
    return 0;
}

static void check_order(struct aio_pattern *const *order, size_t n)
{
    struct aio_route_index *index =
        aio__route_index_new((const struct aio_pattern *const *)order, n);
    assert_non_null(index);
    for (size_t k = 0; k < NPATHS; k++) {
        struct aio_arena arena;
        aio__arena_init(&arena);
        struct aio_kvlist want = {0}, got = {0};
        size_t want_i = 0, got_i = 0;
        int want_rc = naive(order, n, paths[k], &arena, &want, &want_i);
        int got_rc = aio__route_index_match(index, paths[k], &arena, &got, &got_i);
        assert_int_equal(got_rc, want_rc);
        if (want_rc == 1) {
            if (got_i != want_i)
                fail_msg("%s: the index found %s, the order says %s", paths[k],
                         order[got_i]->source, order[want_i]->source);
            assert_int_equal(got.count, want.count);
            for (size_t m = 0; m < want.count; m++) {
                assert_string_equal(got.items[m].key, want.items[m].key);
                assert_string_equal(got.items[m].value, want.items[m].value);
            }
        }
        aio__arena_release(&arena);
    }
    aio__route_index_free(index);
}

static void same_route_as_the_naive_matcher(void **state)
{
    (void)state;
    static struct aio_pattern patterns[NSOURCES];
    char error[256];
    for (size_t i = 0; i < NSOURCES; i++)
        assert_int_equal(aio__pattern_compile(&patterns[i], sources[i], error, sizeof(error)),
                         AIO_OK);
    struct aio_pattern *order[NSOURCES];
    srand(12345);
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < NSOURCES; i++)
            order[i] = &patterns[i];
        for (size_t i = NSOURCES - 1; i > 0; i--) { /* a shuffle */
            size_t j = (size_t)rand() % (i + 1);
            struct aio_pattern *t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        size_t n = 1 + (size_t)rand() % NSOURCES; /* and a prefix of it */
        check_order(order, n);
    }
    for (size_t i = 0; i < NSOURCES; i++)
        aio__pattern_free(&patterns[i]);
}

static void duplicates_first_wins_and_empty(void **state)
{
    (void)state;
    struct aio_pattern a, b;
    char error[256];
    assert_int_equal(aio__pattern_compile(&a, "/same", error, sizeof(error)), AIO_OK);
    assert_int_equal(aio__pattern_compile(&b, "/same", error, sizeof(error)), AIO_OK);
    const struct aio_pattern *two[] = {&a, &b};
    struct aio_route_index *index = aio__route_index_new(two, 2);
    struct aio_arena arena;
    aio__arena_init(&arena);
    struct aio_kvlist match = {0};
    size_t found = 9;
    assert_int_equal(aio__route_index_match(index, "/same", &arena, &match, &found), 1);
    assert_int_equal(found, 0);
    aio__route_index_free(index);
    index = aio__route_index_new(two, 0); /* no routes: nothing matches */
    assert_non_null(index);
    assert_int_equal(aio__route_index_match(index, "/same", &arena, &match, &found), 0);
    aio__route_index_free(index);
    aio__arena_release(&arena);
    aio__pattern_free(&a);
    aio__pattern_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_route_as_the_naive_matcher),
        cmocka_unit_test(duplicates_first_wins_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
