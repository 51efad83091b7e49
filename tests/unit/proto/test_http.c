/* Pure HTTP helpers: tokens, header values, methods, CGI names, UTF-8,
 * request lines and request-target decoding. */
#include "unit/testing.h"

#include <stdlib.h>

#include <uwsgi-aio/aio_common.h>
#include "base/arena.h"
#include "base/buf.h"
#include "proto/http.h"

static void tokens(void **state)
{
    (void)state;
    assert_true(aio__http_is_token("GET", 3));
    assert_true(aio__http_is_token("X-Custom_1!", 11));
    assert_false(aio__http_is_token("", 0));
    assert_false(aio__http_is_token("GE T", 4));
    assert_false(aio__http_is_token("Bad:", 4));
    assert_false(aio__http_is_token("A\r\n", 3));
}

static void header_values(void **state)
{
    (void)state;
    assert_true(aio__http_valid_header_value("text/html; charset=utf-8"));
    assert_true(aio__http_valid_header_value("a\tb"));
    assert_false(aio__http_valid_header_value("a\r\nSet-Cookie: x"));
    assert_false(aio__http_valid_header_value("a\nb"));
    assert_false(aio__http_valid_header_value("a\x7f"));
}

static void locations(void **state)
{
    (void)state;
    const char *good[] = {"/", "/a?b=1#c", "/%20", "https://example.org", "http://h:80/x",
                          "web+app://h", "HTTPS://H/"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(aio__http_valid_location(good[i]));
    const char *bad[] = {"", "//evil", "/\\evil", "inbox", "a b", "/a b", "/a\r\nX: 1", "/\t",
                         "https://", "https:///x", "1http://h", "://h", "/\x7f", "/\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(aio__http_valid_location(bad[i]));
    assert_false(aio__http_valid_location(NULL));
    char longest[8194];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[0] = '/';
    longest[8192] = '\0';
    assert_true(aio__http_valid_location(longest));
    longest[8192] = 'a';
    longest[8193] = '\0';
    assert_false(aio__http_valid_location(longest));
}

static void accepts(void **state)
{
    (void)state;
    assert_true(aio__http_accepts(NULL, "application/json")); /* no Accept: anything */
    assert_true(aio__http_accepts("", "text/html"));
    assert_true(aio__http_accepts("application/json", "application/json"));
    assert_true(aio__http_accepts("Application/JSON", "application/json"));
    assert_false(aio__http_accepts("text/html", "application/json"));
    assert_true(aio__http_accepts("text/html, application/json;q=0.5", "application/json"));
    assert_true(aio__http_accepts("*/*", "application/json"));
    assert_true(aio__http_accepts("application/*", "application/json"));
    assert_false(aio__http_accepts("text/*", "application/json"));
    assert_false(aio__http_accepts("application/json;q=0", "application/json"));
    assert_false(aio__http_accepts("application/json; q=0.000", "application/json"));
    /* the most specific range decides */
    assert_false(aio__http_accepts("*/*, application/json;q=0", "application/json"));
    assert_true(aio__http_accepts("*/*;q=0, application/json", "application/json"));
    assert_true(aio__http_accepts("text/html;level=1;q=0.9, */*;q=0.1", "image/png"));
    assert_true(aio__http_accepts("text/html ; q=1.0", "text/html"));
    /* what does not parse is as if absent */
    assert_true(aio__http_accepts("nonsense", "application/json"));
    assert_true(aio__http_accepts("text/html;q=2", "application/json"));
    assert_true(aio__http_accepts("text/html;q=x", "application/json"));
    assert_true(aio__http_media_type_valid("text/html", 9));
    assert_false(aio__http_media_type_valid("text/", 5));
    assert_false(aio__http_media_type_valid("/html", 5));
    assert_false(aio__http_media_type_valid("text", 4));
    assert_false(aio__http_media_type_valid("te xt/html", 10));
}

static void methods(void **state)
{
    (void)state;
    assert_int_equal(aio__http_method_bit("GET"), AIO_GET);
    assert_int_equal(aio__http_method_bit("DELETE"), AIO_DELETE);
    assert_int_equal(aio__http_method_bit("get"), 0); /* methods are case-sensitive */
    assert_int_equal(aio__http_method_bit("PROPFIND"), 0);
    char out[64];
    assert_int_equal(aio__http_format_methods(AIO_GET | AIO_HEAD | AIO_POST, out, sizeof(out)), 15);
    assert_str(out, "GET, HEAD, POST");
    aio__http_format_methods(AIO_GET | AIO_POST, out, 6);
    assert_str(out, "GET, ");
    aio__http_format_methods(0, out, sizeof(out));
    assert_str(out, "");
}

static void cgi_names(void **state)
{
    (void)state;
    assert_true(aio__http_header_is_cgi_var("User-Agent", "HTTP_USER_AGENT", 15));
    assert_true(aio__http_header_is_cgi_var("user-agent", "HTTP_USER_AGENT", 15));
    assert_true(aio__http_header_is_cgi_var("Content-Type", "CONTENT_TYPE", 12));
    assert_false(aio__http_header_is_cgi_var("Content-Type", "HTTP_CONTENT_TYPE", 17));
    assert_false(aio__http_header_is_cgi_var("User", "HTTP_USER_AGENT", 15));
    assert_false(aio__http_header_is_cgi_var("User-Agent", "HTTP_USER", 9));
    assert_false(aio__http_header_is_cgi_var("Path", "PATH_INFO", 9));
}

/* Header names to CGI variables, and back. */
static void cgi_vars(void **state)
{
    (void)state;
    struct aio_arena arena;
    aio__arena_init(&arena);
    const char *names[] = {"User-Agent", "x-test", "Content-Type", "content-length", "Cookie"};
    const char *vars[] = {"HTTP_USER_AGENT", "HTTP_X_TEST", "CONTENT_TYPE", "CONTENT_LENGTH",
                          "HTTP_COOKIE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *var = aio__http_cgi_var(&arena, names[i]);
        assert_str(var, vars[i]);
        assert_true(aio__http_header_is_cgi_var(names[i], var, strlen(var)));
    }
    aio__arena_release(&arena);
}

static void request_lines(void **state)
{
    (void)state;
    assert_null(aio__http_check_request_line("GET", 3, "HTTP/1.1", 8));
    assert_non_null(aio__http_check_request_line("G ET", 4, "HTTP/1.1", 8));
    assert_non_null(aio__http_check_request_line("", 0, "HTTP/1.1", 8));
    assert_non_null(aio__http_check_request_line("GET", 3, "", 0));
    assert_non_null(aio__http_check_request_line("GET", 3, "FTP/1.0", 7));
}

static const char *decode(struct aio_arena *arena, const char *target, const char **path)
{
    *path = NULL;
    return aio__http_decode_target(arena, target, strlen(target), path);
}

static void targets(void **state)
{
    (void)state;
    struct aio_arena arena;
    aio__arena_init(&arena);
    const char *path;
    assert_null(decode(&arena, "/a%20b/c?x=%zz", &path)); /* the query is not decoded here */
    assert_str(path, "/a b/c");
    assert_null(decode(&arena, "/users/J%C3%B6rg", &path));
    assert_str(path, "/users/J\xc3\xb6rg");
    assert_null(decode(&arena, "/a+b", &path)); /* '+' is only a space in forms */
    assert_str(path, "/a+b");
    assert_null(decode(&arena, "http://example.com/x/y?q", &path));
    assert_str(path, "/x/y");
    assert_non_null(decode(&arena, "/bad%zz", &path));
    assert_non_null(decode(&arena, "/bad%2", &path));
    assert_non_null(decode(&arena, "/nul%00byte", &path));
    assert_non_null(decode(&arena, "/latin1%e9", &path));
    assert_non_null(decode(&arena, "*", &path));
    assert_non_null(decode(&arena, "relative", &path));
    assert_non_null(decode(&arena, "http://host-only", &path));
    assert_null(path);
    aio__arena_release(&arena);
}

static void reasons(void **state)
{
    (void)state;
    assert_str(aio__http_reason(404), "Not Found");
    assert_str(aio__http_reason(431), "Request Header Fields Too Large");
    assert_str(aio__http_reason(299), "Unknown");
}

static void split(const char *line, int ok, const char *name, const char *value)
{
    size_t name_len = 99, value_len = 99;
    const char *v = NULL;
    assert_int_equal(aio__http_split_header(line, strlen(line), &name_len, &v, &value_len), ok);
    if (!ok)
        return;
    assert_int_equal(name_len, strlen(name));
    assert_memory_equal(line, name, name_len);
    assert_int_equal(value_len, strlen(value));
    assert_memory_equal(v, value, value_len);
}

static void header_lines(void **state)
{
    (void)state;
    split("Content-Type: text/html", 1, "Content-Type", "text/html");
    split("X-A:b", 1, "X-A", "b");
    split("X-Empty:", 1, "X-Empty", "");
    split("X-Spaces: \t a b \t", 1, "X-Spaces", "a b");
    split("Time: 12:30:00", 1, "Time", "12:30:00"); /* the first colon ends the name */
    split("HTTP/1.1 200 OK", 0, NULL, NULL);
    split("no colon", 0, NULL, NULL);
    split(": no name", 0, NULL, NULL);
    split("Bad Name: x", 0, NULL, NULL);
    split("", 0, NULL, NULL);
}

static void header_tokens(void **state)
{
    (void)state;
    assert_true(aio__http_has_token("Upgrade", "upgrade"));
    assert_true(aio__http_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(aio__http_has_token(" websocket ,x", "WebSocket"));
    assert_false(aio__http_has_token("upgrades", "upgrade"));
    assert_false(aio__http_has_token("", "upgrade"));
    assert_false(aio__http_has_token(NULL, "upgrade"));
}

static void error_bodies(void **state)
{
    (void)state;
    struct aio_buf body = AIO_BUF_INIT;
    assert_int_equal(aio__http_error_body(&body, 404, NULL), AIO_OK);
    assert_str(body.data, "404 Not Found\n");
    aio__buf_reset(&body);
    assert_int_equal(aio__http_error_body(&body, 400, "bad escape"), AIO_OK);
    assert_str(body.data, "400 Bad Request\n\nbad escape\n");
    aio__buf_free(&body);
}

static size_t scan(const char *head, const char **why)
{
    return aio__http_head_scan(head, strlen(head), why);
}

static void head_ends(void **state)
{
    (void)state;
    const char *why;
    const char *head = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
    assert_int_equal(scan(head, &why), strlen(head) - 4);
    assert_null(why);
    assert_int_equal(aio__http_head_scan(head, 20, &why), 0);
    assert_null(why);
    assert_int_equal(aio__http_head_scan(head, 15, &why), 0); /* ends in its CR */
    assert_null(why);
    assert_int_equal(scan("\r\n\r\n", &why), 4);
}

static const char *problem(const char *head)
{
    const char *why = NULL;
    aio__http_head_scan(head, strlen(head), &why);
    return why;
}

static void head_bytes(void **state)
{
    (void)state;
    assert_null(problem("GET / HTTP/1.1\r\nHost: x\r\nX-A: tab\there\r\n\r\n"));
    assert_null(problem("GET /caf\xc3\xa9 HTTP/1.1\r\nX-Latin: \xe9\r\n\r\n")); /* octets */
    assert_non_null(problem("GET / HTTP/1.1\r\nX-A: 1\r\nBad\rX\r\n\r\n"));
    assert_non_null(problem("GET / HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n"));
    assert_non_null(problem("GET / HTTP/1.1\r\nX-A: \x01\r\n\r\n"));
    assert_non_null(problem("GET / HTTP/1.1\r\nX-A: \x7f\r\n\r\n"));
    const char *why = NULL;
    aio__http_head_scan("GET / HTTP/1.1\r\nX: \0\r\n\r\n", 24, &why);
    assert_non_null(why);
    /* what follows the head is not the head's */
    assert_null(problem("GET / HTTP/1.1\r\n\r\n\x01\rbody"));
    size_t n = 70000;
    char *long_line = malloc(n + 64);
    assert_non_null(long_line);
    strcpy(long_line, "GET / HTTP/1.1\r\nX-Long: ");
    size_t at = strlen(long_line);
    memset(long_line + at, 'a', n);
    strcpy(long_line + at + n, "\r\n\r\n");
    assert_non_null(problem(long_line));
    free(long_line);
}

static void decoded_paths(void **state)
{
    (void)state;
    assert_null(aio__http_check_decoded_path("/a b/caf\xc3\xa9", 10));
    assert_non_null(aio__http_check_decoded_path("", 0));
    assert_non_null(aio__http_check_decoded_path("relative", 8));
    assert_non_null(aio__http_check_decoded_path("/a\0b", 4));
    assert_non_null(aio__http_check_decoded_path("/\xff", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_ends), cmocka_unit_test(head_bytes),
        cmocka_unit_test(header_tokens), cmocka_unit_test(header_lines),
        cmocka_unit_test(error_bodies),
        cmocka_unit_test(tokens),   cmocka_unit_test(header_values), cmocka_unit_test(methods),
        cmocka_unit_test(locations),  cmocka_unit_test(accepts),
        cmocka_unit_test(cgi_names),         cmocka_unit_test(cgi_vars),         cmocka_unit_test(request_lines),
        cmocka_unit_test(targets),  cmocka_unit_test(reasons), cmocka_unit_test(decoded_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
