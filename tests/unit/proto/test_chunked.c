/* The chunked body decoder: sizes, extensions, trailers, pieces of any
 * size, where the body ends, and what is malformed. */
#include "unit/testing.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "proto/chunked.h"

/* Decodes `in` whole into out; returns the status, *used the bytes of
 * `in` that were the body's. */
static int decode(const char *in, char *out, size_t *out_len, size_t *used, int *done)
{
    struct aio_chunked c;
    aio__chunked_init(&c);
    int rc = aio__chunked_decode(&c, in, strlen(in), used, out, 256, out_len);
    *done = c.done;
    if (rc != AIO_OK)
        assert_non_null(c.why);
    return rc;
}

static void bodies(void **state)
{
    (void)state;
    char out[256];
    size_t n, used;
    int done;
    const char *in = "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1";
    assert_int_equal(decode(in, out, &n, &used, &done), AIO_OK);
    assert_true(done);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "hello world", 11);
    assert_string_equal(in + used, "GET / HTTP/1.1"); /* the next request is left alone */
    assert_int_equal(decode("A\r\n0123456789\r\n0\r\n\r\n", out, &n, &used, &done), AIO_OK);
    assert_int_equal(n, 10);
    assert_int_equal(decode("a\r\n0123456789\r\n0\r\n\r\n", out, &n, &used, &done), AIO_OK);
    assert_int_equal(decode("0\r\n\r\n", out, &n, &used, &done), AIO_OK);
    assert_true(done);
    assert_int_equal(n, 0);
    /* incomplete: no error, not done */
    assert_int_equal(decode("5\r\nhel", out, &n, &used, &done), AIO_OK);
    assert_false(done);
    assert_int_equal(n, 3);
}

static void byte_by_byte(void **state)
{
    (void)state;
    const char *in = "3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: v\r\n\r\nNEXT";
    struct aio_chunked c;
    aio__chunked_init(&c);
    char out[16], one;
    size_t n = 0, i = 0;
    while (!c.done) {
        size_t used, produced;
        assert_int_equal(aio__chunked_decode(&c, in + i, 1, &used, &one, 1, &produced), AIO_OK);
        if (produced)
            out[n++] = one;
        i += used;
    }
    assert_int_equal(n, 5);
    assert_memory_equal(out, "abcde", 5);
    assert_string_equal(in + i, "NEXT");
}

static void malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "x\r\n",                       /* not hex */
        "\r\n",                        /* no size */
        "-1\r\n",
        "5\nhello\r\n0\r\n\r\n",       /* bare LF after the size */
        "5\r\nhelloX\r\n0\r\n\r\n",    /* data longer than its size */
        "5\r\nhello\r0\r\n\r\n",       /* no LF after the data */
        "10000000000000000\r\n",       /* 2^64: too large */
        "0\r\nX-T: 1\n\r\n",           /* bare LF in the trailer */
        "5;a\nb\r\n",                  /* LF in an extension */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[256];
        size_t n, used;
        int done;
        assert_int_equal(decode(bad[i], out, &n, &used, &done), AIO_EINVAL);
    }
    /* a size line too long */
    char line[AIO_CHUNKED_MAX_LINE + 16];
    memset(line, '0', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    char out[256];
    size_t n, used;
    int done;
    assert_int_equal(decode(line, out, &n, &used, &done), AIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bodies),
        cmocka_unit_test(byte_by_byte),
        cmocka_unit_test(malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
