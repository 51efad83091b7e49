/* Percent-decoding and urlencoded parsing: repeated keys, '+', empty
 * pieces, and strict rejection of malformed escapes. */
#include "unit/testing.h"

#include <uwsgi-aio/aio_common.h>
#include "proto/params.h"

#include <stdio.h>


static int decode(const char *src, int plus, char *out, size_t *bad_at)
{
    size_t len = 0;
    return aio__percent_decode(out, src, strlen(src), plus, &len, bad_at);
}

static void percent_decoding(void **state)
{
    (void)state;
    char out[64];
    size_t bad = 99;
    assert_int_equal(decode("a%20b%2Fc%2f", 0, out, &bad), AIO_OK);
    assert_str(out, "a b/c/");
    assert_int_equal(decode("x+y", 1, out, &bad), AIO_OK);
    assert_str(out, "x y");
    assert_int_equal(decode("x+y", 0, out, &bad), AIO_OK);
    assert_str(out, "x+y");
    assert_int_equal(decode("%e2%82%ac", 0, out, &bad), AIO_OK);
    assert_str(out, "\xe2\x82\xac");
    assert_int_equal(decode("", 0, out, &bad), AIO_OK);
    assert_str(out, "");
}

static void bad_escapes(void **state)
{
    (void)state;
    char out[64];
    size_t bad = 99;
    assert_int_equal(decode("ok%zzno", 0, out, &bad), AIO_EINVAL);
    assert_int_equal(bad, 2);
    assert_int_equal(decode("trail%", 0, out, &bad), AIO_EINVAL);
    assert_int_equal(bad, 5);
    assert_int_equal(decode("trail%4", 0, out, &bad), AIO_EINVAL);
    assert_int_equal(decode("%g0", 0, out, &bad), AIO_EINVAL);
    assert_int_equal(decode("nul%00", 0, out, &bad), AIO_EINVAL); /* would truncate C strings */
}

static void urlencoded(void **state)
{
    (void)state;
    struct aio_kvlist list = {0};
    const char *error = NULL;
    const char *qs = "a=1&b=x+y&a=2&&flag&empty=&k%20ey=v%26al";
    assert_int_equal(aio__parse_urlencoded(&arena, qs, strlen(qs), &list, &error), AIO_OK);
    assert_int_equal(list.count, 6);
    assert_str(list.items[0].key, "a");
    assert_str(list.items[0].value, "1");
    assert_str(list.items[1].value, "x y");
    assert_str(list.items[2].key, "a"); /* repeated keys keep their order */
    assert_str(list.items[2].value, "2");
    assert_str(list.items[3].key, "flag");
    assert_str(list.items[3].value, "");
    assert_str(list.items[4].key, "empty");
    assert_str(list.items[4].value, "");
    assert_str(list.items[5].key, "k ey");
    assert_str(list.items[5].value, "v&al");
    assert_str(aio__kvlist_get(&list, "a"), "1");
    assert_null(aio__kvlist_get(&list, "missing"));
}

static void urlencoded_errors(void **state)
{
    (void)state;
    struct aio_kvlist list = {0};
    const char *error = NULL;
    assert_int_equal(aio__parse_urlencoded(&arena, "a=1&b=%zz", 9, &list, &error), AIO_EINVAL);
    assert_non_null(error);
    assert_non_null(strstr(error, "percent-escape"));
    error = NULL;
    assert_int_equal(aio__parse_urlencoded(&arena, "%00=x", 5, &list, &error), AIO_EINVAL);
    assert_non_null(error);
}

static void many_pairs(void **state)
{
    (void)state;
    struct aio_kvlist list = {0};
    char qs[4096] = "";
    for (int i = 0; i < 300; i++)
        snprintf(qs + strlen(qs), sizeof(qs) - strlen(qs), "k%d=%d&", i, i);
    assert_int_equal(aio__parse_urlencoded(&arena, qs, strlen(qs), &list, NULL), AIO_OK);
    assert_int_equal(list.count, 300);
    assert_str(aio__kvlist_get(&list, "k299"), "299");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(percent_decoding, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(bad_escapes, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(urlencoded, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(urlencoded_errors, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(many_pairs, arena_setup, arena_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
