/* Route patterns: placeholders, custom regexes, star remainders, no match,
 * and clear errors for bad patterns. Paths are matched once decoded. */
#include "unit/testing.h"

#include <uwsgi-aio/aio.h>
#include "base/arena.h"
#include "proto/http.h"
#include "app/route.h"


static struct aio_pattern compile_ok(const char *source)
{
    struct aio_pattern p;
    char error[256] = "";
    int rc = aio__pattern_compile(&p, source, error, sizeof(error));
    if (rc != AIO_OK)
        fail_msg("'%s' did not compile: %s", source, error);
    return p;
}

static const char *compile_error(const char *source)
{
    static char error[256];
    struct aio_pattern p;
    error[0] = '\0';
    assert_int_equal(aio__pattern_compile(&p, source, error, sizeof(error)), AIO_EINVAL);
    assert_true(strlen(error) > 0);
    return error;
}

static int match(const struct aio_pattern *p, const char *path, struct aio_kvlist *m)
{
    memset(m, 0, sizeof(*m));
    return aio__pattern_match(p, path, &arena, m);
}

static void literal(void **state)
{
    (void)state;
    struct aio_pattern p = compile_ok("/hello.txt");
    struct aio_kvlist m;
    assert_int_equal(match(&p, "/hello.txt", &m), 1);
    assert_int_equal(m.count, 0);
    assert_int_equal(match(&p, "/helloXtxt", &m), 0); /* '.' is literal */
    assert_int_equal(match(&p, "/hello.txt/", &m), 0);
    assert_int_equal(match(&p, "/x/hello.txt", &m), 0);
    aio__pattern_free(&p);
    p = compile_ok("/");
    assert_int_equal(match(&p, "/", &m), 1);
    assert_int_equal(match(&p, "/x", &m), 0);
    aio__pattern_free(&p);
}

static void placeholders(void **state)
{
    (void)state;
    struct aio_pattern p = compile_ok("/users/{id}/posts/{post_id}");
    struct aio_kvlist m;
    assert_int_equal(match(&p, "/users/42/posts/7", &m), 1);
    assert_str(aio__kvlist_get(&m, "id"), "42");
    assert_str(aio__kvlist_get(&m, "post_id"), "7");
    assert_int_equal(match(&p, "/users//posts/7", &m), 0);     /* empty segment */
    assert_int_equal(match(&p, "/users/4/2/posts/7", &m), 0);  /* one segment only */
    aio__pattern_free(&p);
}

static void decoded_values(void **state)
{
    (void)state;
    /* the request path is decoded first, so placeholders hold decoded text */
    const char *path = NULL;
    const char *target = "/users/J%C3%B6rg%20M";
    assert_null(aio__http_decode_target(&arena, target, strlen(target), &path));
    struct aio_pattern p = compile_ok("/users/{name}");
    struct aio_kvlist m;
    assert_int_equal(match(&p, path, &m), 1);
    assert_str(aio__kvlist_get(&m, "name"), "J\xc3\xb6rg M");
    aio__pattern_free(&p);
}

static void custom_regex(void **state)
{
    (void)state;
    struct aio_pattern p = compile_ok("/files/{path:.*}");
    struct aio_kvlist m;
    assert_int_equal(match(&p, "/files/a/b/c.txt", &m), 1);
    assert_str(aio__kvlist_get(&m, "path"), "a/b/c.txt");
    assert_int_equal(match(&p, "/files/", &m), 1);
    assert_str(aio__kvlist_get(&m, "path"), "");
    aio__pattern_free(&p);

    /* groups and braces inside the regex do not shift later placeholders */
    p = compile_ok("/{year:[0-9]{4}}/{slug:(a|b)+}/{rest}");
    assert_int_equal(match(&p, "/2024/abba/end", &m), 1);
    assert_str(aio__kvlist_get(&m, "year"), "2024");
    assert_str(aio__kvlist_get(&m, "slug"), "abba");
    assert_str(aio__kvlist_get(&m, "rest"), "end");
    assert_int_equal(match(&p, "/24/abba/end", &m), 0);
    assert_int_equal(match(&p, "/2024/abc/end", &m), 0);
    aio__pattern_free(&p);
}

static void star(void **state)
{
    (void)state;
    struct aio_pattern p = compile_ok("/static/*subpath");
    struct aio_kvlist m;
    assert_int_equal(match(&p, "/static/css/site.css", &m), 1);
    assert_str(aio__kvlist_get(&m, "subpath"), "css/site.css");
    assert_int_equal(match(&p, "/static/", &m), 1);
    assert_str(aio__kvlist_get(&m, "subpath"), "");
    assert_int_equal(match(&p, "/other/x", &m), 0);
    aio__pattern_free(&p);
}

static void bad_patterns(void **state)
{
    (void)state;
    assert_non_null(strstr(compile_error("no-slash"), "start with '/'"));
    assert_non_null(strstr(compile_error("/users/{id"), "unclosed"));
    assert_non_null(strstr(compile_error("/users/id}"), "unbalanced"));
    assert_non_null(strstr(compile_error("/a/{1x}"), "placeholder names"));
    assert_non_null(strstr(compile_error("/a/{}"), "placeholder names"));
    assert_non_null(strstr(compile_error("/{a}/{a}"), "duplicate"));
    assert_non_null(strstr(compile_error("/{a:}"), "empty regex"));
    assert_non_null(strstr(compile_error("/{a:[z-a]}"), "invalid regex"));
    assert_non_null(strstr(compile_error("/x/*rest/more"), "only end"));
    /* the error names the pattern */
    assert_non_null(strstr(compile_error("/users/{id"), "'/users/{id'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(literal, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(placeholders, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(decoded_values, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(custom_regex, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(star, arena_setup, arena_teardown),
        cmocka_unit_test(bad_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
