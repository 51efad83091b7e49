/* Redis addresses of the aio-broadcast and aio-redis options: every part,
 * its defaults, and a clear refusal of what is not one. */
#include "unit/testing.h"

#include <uwsgi-aio/aio_common.h>
#include "proto/redisurl.h"

static int parse(const char *url, int channel, struct aio_redis_url *out, char *why)
{
    return aio__redis_url_parse(url, channel, out, why, 400);
}

static void full_and_defaults(void **state)
{
    (void)state;
    struct aio_redis_url u;
    char why[400];
    assert_int_equal(parse("redis://127.0.0.1", 1, &u, why), AIO_OK);
    assert_str(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_str(u.channel, "aio");
    assert_str(u.password, "");
    assert_int_equal(parse("redis://cache.internal:7000/3?channel=chat:room-1", 1, &u, why),
                     AIO_OK);
    assert_str(u.host, "cache.internal");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    assert_str(u.channel, "chat:room-1");
    assert_int_equal(parse("redis://[::1]:6380/1", 0, &u, why), AIO_OK);
    assert_str(u.host, "::1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(parse("redis://app:s3cret@10.0.0.5", 0, &u, why), AIO_OK);
    assert_str(u.user, "app");
    assert_str(u.password, "s3cret");
    assert_str(u.host, "10.0.0.5");
    assert_int_equal(parse("redis://:pw@h/2", 0, &u, why), AIO_OK);
    assert_str(u.user, "");
    assert_str(u.password, "pw");
    assert_int_equal(u.db, 2);
}

static void refusals(void **state)
{
    (void)state;
    static const struct {
        const char *url, *reason;
    } bad[] = {
        {"http://h", "must start with redis://"},
        {"redis://", "no host"},
        {"redis://h:0", "port"},
        {"redis://h:65536", "port"},
        {"redis://h:12x", "unexpected character"},
        {"redis://h:", "port"},
        {"redis://h/", "database"},
        {"redis://h/-1", "database"},
        {"redis://h/1000001", "database"},
        {"redis://h?chanel=x", "only query parameter"},
        {"redis://h?channel=", "1 to 128"},
        {"redis://h?channel=a b", "letters, digits"},
        {"redis://[::1", "closing ']'"},
        {"redis://[zz]", "IPv6"},
        {"redis://h h", "unexpected character"},
        {"redis://pw@h", "credentials"},
        {"redis://u:@h", "bad credentials"},
        {"redis://u:p%41@h", "bad credentials"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct aio_redis_url u;
        char why[400] = "";
        assert_int_equal(parse(bad[i].url, 1, &u, why), AIO_EINVAL);
        if (!strstr(why, bad[i].reason))
            fail_msg("%s: '%s' does not say '%s'", bad[i].url, why, bad[i].reason);
    }
    struct aio_redis_url u;
    char why[400];
    assert_int_equal(parse("redis://h?channel=x", 0, &u, why), AIO_EINVAL);
    assert_non_null(strstr(why, "only for aio-broadcast"));
    assert_int_equal(parse(NULL, 1, &u, why), AIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_and_defaults),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
