/* The HTTP/1.x request head parser (framing strictness, versions, the
 * fields that decide framing and persistence) and the Date format. */
#include "unit/testing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/http1.h"

static struct aio_http1_head head;

static int parse(const char *text, const char **why)
{
    return aio__http1_parse_head(text, strlen(text), &head, why);
}

static int status_of(const char *text)
{
    const char *why;
    int status = parse(text, &why);
    if (status)
        assert_non_null(why);
    return status;
}

static void request_line(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", &why), 0);
    assert_null(why);
    assert_int_equal(head.method_len, 3);
    assert_memory_equal(head.method, "GET", 3);
    assert_int_equal(head.target_len, 6);
    assert_memory_equal(head.target, "/a?b=1", 6);
    assert_int_equal(head.minor, 1);
    assert_int_equal(parse("POST * HTTP/1.0\r\n\r\n", &why), 0);
    assert_int_equal(head.minor, 0);
    /* versions: only 1.0 and 1.1; anything else that looks like one is 505 */
    assert_int_equal(status_of("GET / HTTP/9.9\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.1x\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTX/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / http/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /\r\n\r\n"), 400);
    /* one space each, a token for a method, no controls in the target */
    assert_int_equal(status_of("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / x HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of(" GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(status_of("\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

static void header_lines(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\nX-A:   spaced \t\r\nX-B:\r\n\r\n", &why), 0);
    assert_int_equal(head.nheaders, 3);
    assert_int_equal(head.headers[1].name_len, 3);
    assert_memory_equal(head.headers[1].value, "spaced", 6);
    assert_int_equal(head.headers[1].value_len, 6);
    assert_int_equal(head.headers[2].value_len, 0);
    /* a space before the colon (a smuggling classic), obs-fold, no colon */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n"), 400);
    /* names with '_' are dropped, not honoured as their '-' twins */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\nContent_Length: 10\r\n\r\n", &why), 0);
    assert_int_equal(head.nheaders, 1);
    assert_false(head.has_content_length);
    /* the head must be exactly one head */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\nX"), 400);
}

static void too_many_headers(void **state)
{
    (void)state;
    char text[8192] = "GET / HTTP/1.0\r\n";
    for (int i = 0; i < AIO_HTTP1_MAX_HEADERS; i++)
        strcat(text, "H: v\r\n");
    strcat(text, "\r\n");
    assert_int_equal(status_of(text), 0);
    assert_int_equal(head.nheaders, AIO_HTTP1_MAX_HEADERS);
    text[strlen(text) - 2] = '\0';
    strcat(text, "H: v\r\n\r\n");
    assert_int_equal(status_of(text), 431);
}

static void content_length(void **state)
{
    (void)state;
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n"), 0);
    assert_true(head.has_content_length);
    assert_int_equal(head.content_length, 42);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                               "18446744073709551615\r\n\r\n"),
                     0);
    assert_true(head.content_length == UINT64_MAX);
    /* 2^64 + 10 must not be read as 10 */
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                               "18446744073709551626\r\n\r\n"),
                     400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), 400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n"), 400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n"), 400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"), 400);
    /* twice: the same value is one length, two values are a smuggling attempt */
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                               "content-length: 5\r\n\r\n"),
                     0);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                               "Content-Length: 6\r\n\r\n"),
                     400);
}

static void transfer_encoding(void **state)
{
    (void)state;
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
                     0);
    assert_true(head.chunked);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
                     0);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Length: 5\r\n\r\n"),
                     400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
                               "\r\n\r\n"),
                     501);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"),
                     400);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n"), 400);
    assert_int_equal(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

static void host_and_persistence(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.0\r\n\r\n"), 0); /* 1.0 needs no Host */

    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(aio__http1_wants_keepalive(&head));
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n\r\n"),
                     0);
    assert_false(aio__http1_wants_keepalive(&head));
    assert_int_equal(status_of("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_false(aio__http1_wants_keepalive(&head));
    assert_int_equal(status_of("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    assert_true(aio__http1_wants_keepalive(&head));
    assert_int_equal(status_of("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    assert_false(aio__http1_wants_keepalive(&head));

    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n"), 0);
    assert_true(head.expect_continue);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: x\r\nExpect: other\r\n\r\n"), 0);
    assert_false(head.expect_continue);
}

static void dates(void **state)
{
    (void)state;
    char out[AIO_HTTP_DATE_LEN + 1];
    aio__http_date(784111777, out); /* RFC 9110's own example */
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    aio__http_date(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    aio__http_date(951782400, out); /* a leap day in a century leap year */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    /* against the C library over a few thousand days, every month, every weekday */
    for (int64_t t = 0; t < 4102444800; t += 86400 * 7 + 3601 * 5 + 17) {
        time_t tt = (time_t)t;
        struct tm tm;
        char want[64];
        gmtime_r(&tt, &tm);
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        aio__http_date(t, out);
        assert_string_equal(out, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_line),         cmocka_unit_test(header_lines),
        cmocka_unit_test(too_many_headers),     cmocka_unit_test(content_length),
        cmocka_unit_test(transfer_encoding),    cmocka_unit_test(host_and_persistence),
        cmocka_unit_test(dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
