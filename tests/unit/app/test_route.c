/* Route patterns: placeholders, custom regexes, star remainders, no match,
 * and clear errors for bad patterns. Paths are matched once decoded. */
#include "unit/testing.h"

#include <stdarg.h>

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

/* The groups a placeholder's regex opens are counted by the regex library,
 * not by hand: each case below is followed by another placeholder, whose
 * value comes from the wrong group (or an unwritten one) if the count is off. */
static void groups_inside_placeholder_regexes(void **state)
{
    (void)state;
    struct {
        const char *source, *path, *first, *second;
    } cases[] = {
        /* a '(' inside a bracket expression with a class opens no group */
        {"/{a:[[:alpha:](]+}/{b}", "/x(y/tail", "x(y", "tail"},
        /* nested groups: three groups in all before {b} */
        {"/{a:((a)|b)}/{b}", "/a/tail", "a", "tail"},
        {"/{a:((a)|b)}/{b}", "/b/tail", "b", "tail"},
        /* an escaped paren opens none */
        {"/{a:x\\(}/{b}", "/x(/tail", "x(", "tail"},
        /* a ']' first in a bracket expression is a member, not its end */
        {"/{a:[]a]+}/{b}", "/]a]/tail", "]a]", "tail"},
        {"/{a:[^]/]+}/{b}", "/xy/tail", "xy", "tail"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct aio_pattern p = compile_ok(cases[i].source);
        struct aio_kvlist m;
        assert_int_equal(match(&p, cases[i].path, &m), 1);
        assert_str(aio__kvlist_get(&m, "a"), cases[i].first);
        assert_str(aio__kvlist_get(&m, "b"), cases[i].second);
        aio__pattern_free(&p);
    }
}

/* A placeholder's regex must be a regex by itself, so that it cannot take
 * the rest of the pattern into a bracket expression or a group. */
static void placeholder_regex_must_stand_alone(void **state)
{
    (void)state;
    /* an unclosed '[' would swallow "([^/]+)" of {b} */
    const char *error = compile_error("/{a:[a}/{b}");
    assert_non_null(strstr(error, "'/{a:[a}/{b}'"));
    assert_non_null(strstr(error, "invalid regex in placeholder 'a'"));
    assert_non_null(strstr(compile_error("/{a:[[:alpha:]}"), "invalid regex in placeholder"));
    assert_non_null(strstr(compile_error("/{a:(x}"), "invalid regex in placeholder"));
    /* a ')' that would close the group wrapping the placeholder */
    error = compile_error("/{a:a)|(b}");
    assert_non_null(strstr(error, "invalid regex in placeholder"));
    error = compile_error("/{a:a)|(b)}/{b}");
    assert_non_null(strstr(error, "placeholder 'a' closes a group it does not open"));
}

/* An optional group inside a placeholder that takes no part in the match:
 * regexec() marks it unset, and the placeholders around it are unaffected. */
static void optional_group_not_taking_part(void **state)
{
    (void)state;
    struct aio_pattern p = compile_ok("/{a:x(y)?}/{b}");
    struct aio_kvlist m;
    assert_int_equal(match(&p, "/x/tail", &m), 1);
    assert_str(aio__kvlist_get(&m, "a"), "x");
    assert_str(aio__kvlist_get(&m, "b"), "tail");
    assert_int_equal(match(&p, "/xy/tail", &m), 1);
    assert_str(aio__kvlist_get(&m, "a"), "xy");

    /* Were a placeholder's group unset in a match (the compiler never maps
     * one to an inner group like this; the map is edited here to get
     * there), its value is empty, never copied from unset offsets. */
    assert_int_equal(p.groups[0], 1);
    p.groups[0] = 2; /* "(y)" */
    assert_int_equal(match(&p, "/x/tail", &m), 1);
    assert_str(aio__kvlist_get(&m, "a"), "");
    assert_str(aio__kvlist_get(&m, "b"), "tail");
    p.groups[0] = 1;
    aio__pattern_free(&p);
}

/* The path for placeholder values (NULL-terminated pairs), or the error. */
static const char *expand(struct aio_pattern *p, int *rc, ...)
{
    struct aio_kvlist values = {0};
    va_list ap;
    va_start(ap, rc);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL)
        assert_int_equal(aio__kvlist_add(&arena, &values, k, va_arg(ap, const char *)), 0);
    va_end(ap);
    const char *path;
    *rc = aio__pattern_expand(p, &values, &arena, &path);
    return path;
}

static void expanded_paths(void **state)
{
    (void)state;
    int rc;
    struct aio_pattern p = compile_ok("/users/{id}/posts/{post}");
    assert_str(expand(&p, &rc, "id", "7", "post", "hello", NULL), "/users/7/posts/hello");
    assert_str(expand(&p, &rc, "post", "a b?c#d%e", "id", "\xc3\xa9", NULL),
               "/users/%C3%A9/posts/a%20b%3Fc%23d%25e");
    assert_str(expand(&p, &rc, "id", "a:b@c!$&'()*+,;=-._~", "post", "x", NULL),
               "/users/a:b@c!$&'()*+,;=-._~/posts/x"); /* what a segment keeps */
    assert_null(expand(&p, &rc, "id", "7", NULL));
    assert_int_equal(rc, AIO_ENOTFOUND);
    assert_null(expand(&p, &rc, "id", "7", "post", "x", "other", "y", NULL));
    assert_int_equal(rc, AIO_EINVAL);
    assert_null(expand(&p, &rc, "id", "a/b", "post", "x", NULL)); /* not one segment */
    assert_int_equal(rc, AIO_EINVAL);
    assert_null(expand(&p, &rc, "id", "", "post", "x", NULL));
    assert_int_equal(rc, AIO_EINVAL);
    aio__pattern_free(&p);

    p = compile_ok("/files/*rest");
    assert_str(expand(&p, &rc, "rest", "a b/c.txt", NULL), "/files/a%20b/c.txt");
    assert_str(expand(&p, &rc, "rest", "", NULL), "/files/");
    aio__pattern_free(&p);

    p = compile_ok("/n/{id:[0-9]+}/{slug:[a-z]+}");
    assert_str(expand(&p, &rc, "id", "42", "slug", "abc", NULL), "/n/42/abc");
    assert_null(expand(&p, &rc, "id", "4x", "slug", "abc", NULL)); /* its regex refuses it */
    assert_int_equal(rc, AIO_EINVAL);
    aio__pattern_free(&p);

    p = compile_ok("/a{x}{y}"); /* the value must come back whole, not shared out */
    assert_str(expand(&p, &rc, "x", "ab", "y", "c", NULL), "/aabc");
    assert_null(expand(&p, &rc, "x", "a", "y", "bc", NULL)); /* it would read x=ab, y=c */
    assert_int_equal(rc, AIO_EINVAL);
    aio__pattern_free(&p);

    p = compile_ok("/hello world");
    assert_str(expand(&p, &rc, NULL), "/hello%20world");
    aio__pattern_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(literal, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(expanded_paths, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(placeholders, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(decoded_values, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(custom_regex, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(star, arena_setup, arena_teardown),
        cmocka_unit_test(bad_patterns),
        cmocka_unit_test_setup_teardown(groups_inside_placeholder_regexes, arena_setup,
                                        arena_teardown),
        cmocka_unit_test(placeholder_regex_must_stand_alone),
        cmocka_unit_test_setup_teardown(optional_group_not_taking_part, arena_setup,
                                        arena_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
