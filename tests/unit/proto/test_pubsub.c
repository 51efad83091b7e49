/* The envelope of a broadcast between workers: what is encoded comes back
 * the same, and anything else is refused. */
#include "unit/testing.h"

#include <uwsgi-aio/aio_common.h>
#include "proto/pubsub.h"

static void round_trip(void **state)
{
    (void)state;
    struct aio_pubsub_msg in = {
        .type = 2, .target = AIO_PUBSUB_TOPIC, .origin = 0x0102030405060708ull,
        .name = "room", .name_len = 4, .payload = "\0\xff", .payload_len = 2,
    };
    char buf[64];
    assert_int_equal(aio__pubsub_size(&in), 16 + 4 + 2);
    assert_int_equal(aio__pubsub_encode(&in, buf), AIO_OK);
    struct aio_pubsub_msg out;
    assert_int_equal(aio__pubsub_decode(buf, aio__pubsub_size(&in), &out), AIO_OK);
    assert_int_equal(out.type, 2);
    assert_int_equal(out.target, AIO_PUBSUB_TOPIC);
    assert_true(out.origin == in.origin);
    assert_int_equal(out.name_len, 4);
    assert_memory_equal(out.name, "room", 4);
    assert_int_equal(out.payload_len, 2);
    assert_memory_equal(out.payload, "\0\xff", 2);

    struct aio_pubsub_msg all = {.type = 1, .target = AIO_PUBSUB_ALL, .origin = 7};
    assert_int_equal(aio__pubsub_encode(&all, buf), AIO_OK);
    assert_int_equal(aio__pubsub_decode(buf, 16, &out), AIO_OK);
    assert_int_equal(out.payload_len, 0);
    assert_int_equal(out.name_len, 0);
}

static void refusals(void **state)
{
    (void)state;
    char buf[300];
    struct aio_pubsub_msg m = {.type = 3, .target = AIO_PUBSUB_ALL};
    assert_int_equal(aio__pubsub_encode(&m, buf), AIO_EINVAL); /* bad type */
    m = (struct aio_pubsub_msg){.type = 1, .target = AIO_PUBSUB_ROUTE};
    assert_int_equal(aio__pubsub_encode(&m, buf), AIO_EINVAL); /* a route needs a name */
    m = (struct aio_pubsub_msg){.type = 1, .target = AIO_PUBSUB_ALL, .name = "x", .name_len = 1};
    assert_int_equal(aio__pubsub_encode(&m, buf), AIO_EINVAL);
    m = (struct aio_pubsub_msg){.type = 1, .target = 9};
    assert_int_equal(aio__pubsub_encode(&m, buf), AIO_EINVAL);

    struct aio_pubsub_msg out;
    m = (struct aio_pubsub_msg){.type = 1, .target = AIO_PUBSUB_ROUTE, .name = "chat", .name_len = 4};
    assert_int_equal(aio__pubsub_encode(&m, buf), AIO_OK);
    assert_int_equal(aio__pubsub_decode(buf, 19, &out), AIO_EINVAL); /* name cut short */
    assert_int_equal(aio__pubsub_decode(buf, 15, &out), AIO_EINVAL); /* header cut short */
    assert_int_equal(aio__pubsub_decode("hello world, not an envelope", 28, &out), AIO_EINVAL);
    buf[3] = 2; /* another version */
    assert_int_equal(aio__pubsub_decode(buf, 20, &out), AIO_EINVAL);
    assert_int_equal(aio__pubsub_decode(NULL, 0, &out), AIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
