/* Server-sent event framing: fields, multi-line data split as the client
 * splits it, comments. */
#include "unit/testing.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "base/buf.h"
#include "proto/sse.h"

static void expect_event(const char *event, const char *id, const char *data, long retry,
                         const char *want)
{
    struct aio_buf out = AIO_BUF_INIT;
    assert_int_equal(aio__sse_format(&out, event, id, data, retry), AIO_OK);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    aio__buf_free(&out);
}

static void events(void **state)
{
    (void)state;
    expect_event(NULL, NULL, "1", -1, "data: 1\n\n");
    expect_event("tick", "7", "hello", 3000, "event: tick\nid: 7\nretry: 3000\ndata: hello\n\n");
    /* every line break a client knows ends a data line; each gets its own */
    expect_event(NULL, NULL, "a\nb\r\nc\rd", -1, "data: a\ndata: b\ndata: c\ndata: d\n\n");
    expect_event(NULL, NULL, "trailing\n", -1, "data: trailing\ndata: \n\n");
    /* no data is one empty data line: the client still dispatches it */
    expect_event(NULL, NULL, NULL, -1, "data: \n\n");
    expect_event(NULL, "", "x", -1, "id: \ndata: x\n\n"); /* an empty id resets it */
}

static void bad_fields(void **state)
{
    (void)state;
    struct aio_buf out = AIO_BUF_INIT;
    assert_int_equal(aio__sse_format(&out, "a\nb", NULL, "x", -1), AIO_EINVAL);
    assert_int_equal(aio__sse_format(&out, NULL, "1\r", "x", -1), AIO_EINVAL);
    assert_int_equal(out.len, 0);
    aio__buf_free(&out);
}

static void comments(void **state)
{
    (void)state;
    struct aio_buf out = AIO_BUF_INIT;
    assert_int_equal(aio__sse_comment(&out, ""), AIO_OK);
    assert_int_equal(aio__sse_comment(&out, "two\nlines"), AIO_OK);
    const char *want = ": \n\n: two\n: lines\n\n";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    aio__buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events),
        cmocka_unit_test(bad_fields),
        cmocka_unit_test(comments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
