/* Validation of aio-* option values: ranges, sizes, booleans, settings,
 * each error naming the option. */
#include "testing.h"

#include "aio.h"
#include "options.h"

#include <stdio.h>

static char error[256];

static void integers(void **state)
{
    (void)state;
    long n = 0;
    assert_int_equal(aio_option_int("aio", "1000", 2, 100000, &n, error, sizeof(error)), AIO_OK);
    assert_int_equal(n, 1000);
    const char *bad[] = {"", "abc", "10x", "1", "100001", "-5", "99999999999999999999", NULL};
    for (int i = 0; bad[i]; i++) {
        error[0] = '\0';
        assert_int_equal(aio_option_int("aio", bad[i], 2, 100000, &n, error, sizeof(error)),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio'"));
        assert_non_null(strstr(error, "from 2 to 100000"));
    }
    assert_int_equal(aio_option_int("aio", NULL, 2, 10, &n, error, sizeof(error)), AIO_EINVAL);
    assert_int_equal(n, 1000); /* untouched on error */
}

static void sizes(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(aio_option_size("aio-stack-size", "65536", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(aio_option_size("aio-stack-size", "256k", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 256 * 1024);
    assert_int_equal(aio_option_size("aio-stack-size", "2M", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 2 * 1024 * 1024);
    const char *bad[] = {"", "k", "12kb", "-1", "1t", "4", "2G", "18446744073709551615k", NULL};
    for (int i = 0; bad[i]; i++) {
        error[0] = '\0';
        assert_int_equal(aio_option_size("aio-stack-size", bad[i], 16384, 1 << 30, &n, error,
                                         sizeof(error)),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio-stack-size'"));
    }
}

static void booleans(void **state)
{
    (void)state;
    int b = -1;
    assert_int_equal(aio_option_bool("x", "True", &b, error, sizeof(error)), AIO_OK);
    assert_int_equal(b, 1);
    assert_int_equal(aio_option_bool("x", "off", &b, error, sizeof(error)), AIO_OK);
    assert_int_equal(b, 0);
    assert_int_equal(aio_option_bool("x", "maybe", &b, error, sizeof(error)), AIO_EINVAL);
    assert_non_null(strstr(error, "'x'"));
}

static void settings(void **state)
{
    (void)state;
    char pair[] = "db.url=postgres://u@h/db?x=1";
    char *key, *value;
    assert_int_equal(aio_option_setting("aio-setting", pair, &key, &value, error, 256), AIO_OK);
    assert_str(key, "db.url");
    assert_str(value, "postgres://u@h/db?x=1");
    char empty_value[] = "k=";
    assert_int_equal(aio_option_setting("aio-setting", empty_value, &key, &value, error, 256), 0);
    assert_str(value, "");
    const char *bad[] = {"novalue", "=x", "bad key=1", "k\x01=1", NULL};
    for (int i = 0; bad[i]; i++) {
        char copy[32];
        snprintf(copy, sizeof(copy), "%s", bad[i]);
        assert_int_equal(aio_option_setting("aio-setting", copy, &key, &value, error, 256),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio-setting'"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(sizes),
        cmocka_unit_test(booleans),
        cmocka_unit_test(settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
