/* Validation of aio-* option values: ranges, sizes, booleans, settings,
 * each error naming the option. */
#include "unit/testing.h"

#include <uwsgi-aio/aio.h>
#include "app/options.h"
#include "app/registry.h"

#include <stdio.h>
#include <stdlib.h>

static char error[256];

static void integers(void **state)
{
    (void)state;
    long n = 0;
    assert_int_equal(aio__option_int("aio", "1000", 2, 100000, &n, error, sizeof(error)), AIO_OK);
    assert_int_equal(n, 1000);
    const char *bad[] = {"", "abc", "10x", "1", "100001", "-5", "99999999999999999999", NULL};
    for (int i = 0; bad[i]; i++) {
        error[0] = '\0';
        assert_int_equal(aio__option_int("aio", bad[i], 2, 100000, &n, error, sizeof(error)),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio'"));
        assert_non_null(strstr(error, "from 2 to 100000"));
    }
    assert_int_equal(aio__option_int("aio", NULL, 2, 10, &n, error, sizeof(error)), AIO_EINVAL);
    assert_int_equal(n, 1000); /* untouched on error */
}

static void sizes(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(aio__option_size("aio-stack-size", "65536", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(aio__option_size("aio-stack-size", "256k", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 256 * 1024);
    assert_int_equal(aio__option_size("aio-stack-size", "2M", 1, 1 << 30, &n, error, 256), 0);
    assert_int_equal(n, 2 * 1024 * 1024);
    const char *bad[] = {"", "k", "12kb", "-1", "1t", "4", "2G", "18446744073709551615k", NULL};
    for (int i = 0; bad[i]; i++) {
        error[0] = '\0';
        assert_int_equal(aio__option_size("aio-stack-size", bad[i], 16384, 1 << 30, &n, error,
                                         sizeof(error)),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio-stack-size'"));
    }
}

static void booleans(void **state)
{
    (void)state;
    int b = -1;
    assert_int_equal(aio__option_bool("x", "True", &b, error, sizeof(error)), AIO_OK);
    assert_int_equal(b, 1);
    assert_int_equal(aio__option_bool("x", "off", &b, error, sizeof(error)), AIO_OK);
    assert_int_equal(b, 0);
    assert_int_equal(aio__option_bool("x", "maybe", &b, error, sizeof(error)), AIO_EINVAL);
    assert_non_null(strstr(error, "'x'"));
}

static void settings(void **state)
{
    (void)state;
    char pair[] = "db.url=postgres://u@h/db?x=1";
    char *key, *value;
    assert_int_equal(aio__option_setting("aio-setting", pair, &key, &value, error, 256), AIO_OK);
    assert_str(key, "db.url");
    assert_str(value, "postgres://u@h/db?x=1");
    char empty_value[] = "k=";
    assert_int_equal(aio__option_setting("aio-setting", empty_value, &key, &value, error, 256), 0);
    assert_str(value, "");
    const char *bad[] = {"novalue", "=x", "bad key=1", "k\x01=1", NULL};
    for (int i = 0; bad[i]; i++) {
        char copy[32];
        snprintf(copy, sizeof(copy), "%s", bad[i]);
        assert_int_equal(aio__option_setting("aio-setting", copy, &key, &value, error, 256),
                         AIO_EINVAL);
        assert_non_null(strstr(error, "'aio-setting'"));
    }
}

/* aio__options_set(): the one place both hosts apply aio-* options. */
static void applying_options(void **state)
{
    (void)state;
    struct aio_options o = {0};
    struct aio_registry reg;
    aio__registry_init(&reg);
    aio__options_init(&o);
    assert_int_equal(o.ignore_websocket_closed, 1);
#define SET(name, value) aio__options_set(&o, &reg, (name), (value), error, sizeof(error))
    assert_int_equal(SET("aio-executor-threads", "4"), AIO_OK);
    assert_int_equal(o.engine.executor_threads, 4);
    assert_int_equal(SET("aio-executor-queue", "9"), AIO_OK);
    assert_int_equal(o.engine.executor_queue, 9);
    assert_int_equal(SET("aio-max-tasks", "3"), AIO_OK);
    assert_int_equal(o.max_tasks, 3);
    assert_int_equal(SET("aio-stack-size", "64k"), AIO_OK);
    assert_int_equal(o.engine.stack_size, 65536);
    assert_int_equal(SET("aio-executor-when-full", "wait"), AIO_OK);
    assert_int_equal(o.engine.when_full, AIO_FULL_WAIT);
    assert_int_equal(SET("aio-websocket-bytes", "yes"), AIO_OK);
    assert_int_equal(o.websocket_bytes, 1);
    assert_int_equal(SET("aio-ignore-websocket-closed", "false"), AIO_OK);
    assert_int_equal(o.ignore_websocket_closed, 0);
    assert_int_equal(SET("aio-views", "a.so"), AIO_OK);
    assert_int_equal(SET("aio-views", "b.so"), AIO_OK);
    assert_int_equal(o.nviews, 2);
    assert_str(o.views[1], "b.so");
    assert_int_equal(SET("aio-setting", "k=v"), AIO_OK);
    assert_str(aio__registry_setting(&reg, "k"), "v");
    assert_int_equal(SET("aio-tweens", "timing"), AIO_OK);
    assert_int_equal(reg.ntween_order, 1);

    assert_int_equal(SET("aio-frobnicate", "1"), AIO_ENOTFOUND);
    assert_int_equal(SET("aio-executor-threads", "0"), AIO_EINVAL);
    assert_non_null(strstr(error, "'aio-executor-threads' must be an integer from 1 to 1024"));
    assert_int_equal(SET("aio-executor-when-full", "drop"), AIO_EINVAL);
    assert_non_null(strstr(error, "'reject' or 'wait'"));
    assert_int_equal(SET("aio-views", ""), AIO_EINVAL);
    assert_non_null(strstr(error, "needs the path of a view module"));
    assert_int_equal(SET("aio-setting", "=x"), AIO_EINVAL);
    assert_int_equal(o.engine.executor_threads, 4); /* untouched by the failures */
#undef SET

    struct aio_options defaults = {0};
    aio__options_defaults(&defaults);
    assert_int_equal(defaults.engine.stack_size, 256 * 1024);
    assert_int_equal(defaults.engine.executor_threads, 16);
    assert_int_equal(defaults.engine.ws_max_message, 1024 * 1024);
    aio__options_defaults(&o); /* what was set stays */
    assert_int_equal(o.engine.stack_size, 65536);

    for (size_t i = 0; i < o.nviews; i++)
        free(o.views[i]);
    free(o.views);
    aio__registry_free(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(sizes),
        cmocka_unit_test(booleans),
        cmocka_unit_test(settings),
        cmocka_unit_test(applying_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
