/* Tests of the tutorial's views, in-process (the seeds' aiotutorial/tests.py).
 *
 * Built and run by `python3 uwsgiconfig.py test views/tutorial`, which
 * compiles the module, then this file with -laio_testing -lcmocka and
 * AIO_TEST_MODULE naming the module's .so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <uwsgi-aio/aio_testing.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The application, constructed once per test as a worker would. */
static int set_up(void **state)
{
    aio_testing *t = aio_testing_new();
    if (!t)
        return -1;
    if (aio_testing_option(t, "aio-views", AIO_TEST_MODULE) != AIO_OK ||
        aio_testing_start(t) != AIO_OK) {
        print_error("%s\n", aio_testing_error(t));
        aio_testing_free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int tear_down(void **state)
{
    aio_testing_free(*state);
    return 0;
}

/* HomeTestCase.test_home_view: run the home view (a coroutine: it sleeps)
 * to completion on a dummy request and look at what it rendered. */
static void test_home_view(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/");
    double start = now();
    assert_int_equal(aio_testing_run_view(t, request, "home"), AIO_OK);
    assert_true(now() - start >= 0.1); /* the default sleep really happened */
    assert_string_equal(aio_rendered_value(request, "title"), "aiotutorial websocket test");
    assert_string_equal(aio_rendered_value(request, "wait_time"), "0.1");
    aio_testing_request_free(request);
}

/* The sleep parameter, from the query string or a form body. */
static void test_home_view_sleep_param(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "POST", "/");
    const char form[] = "sleep=0.02";
    assert_int_equal(aio_testing_set_body(request, "application/x-www-form-urlencoded", form,
                                          strlen(form)),
                     AIO_OK);
    /* the view of the route for the request's method: home answers GET only */
    assert_int_equal(aio_testing_run_view(t, request, "home"), AIO_ENOTFOUND);
    aio_testing_request_free(request);

    request = aio_testing_request(t, "GET", "/?sleep=0.02");
    assert_int_equal(aio_testing_run_view(t, request, "home"), AIO_OK);
    assert_string_equal(aio_rendered_value(request, "wait_time"), "0.02");
    aio_testing_request_free(request);

    /* a bad value is the client's mistake, said so, not a silent default */
    const char *bad[] = {"/?sleep=-1", "/?sleep=abc", "/?sleep=1e999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        request = aio_testing_request(t, "GET", bad[i]);
        assert_int_equal(aio_testing_run_view(t, request, "home"), AIO_OK);
        assert_int_equal(aio_testing_status(request), 400);
        aio_testing_request_free(request);
    }
}

/* The whole page, served as the server would: routing, template, headers. */
/* The list page: the view's rows, looped over by its template, escaped. */
static void test_list_page(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/list?n=3");
    assert_int_equal(aio_testing_serve(t, request), 200);
    const char *body = aio_testing_response_body(request, NULL);
    assert_non_null(strstr(body, "<title>3 rows</title>"));
    assert_non_null(strstr(body, "<tr><td>1</td><td>1</td><td>odd &lt;&amp; escaped&gt;</td></tr>\n"
                                 "<tr><td>2</td><td>4</td><td>even</td></tr>\n"
                                 "<tr><td>3</td><td>9</td><td>odd &lt;&amp; escaped&gt;</td></tr>"));
    assert_null(strstr(body, "No rows."));
    aio_testing_request_free(request);
    request = aio_testing_request(t, "GET", "/list?n=0");
    assert_int_equal(aio_testing_serve(t, request), 200);
    body = aio_testing_response_body(request, NULL);
    assert_non_null(strstr(body, "<p>No rows.</p>"));
    assert_null(strstr(body, "<table>"));
    aio_testing_request_free(request);
    request = aio_testing_request(t, "GET", "/list?n=101");
    assert_int_equal(aio_testing_serve(t, request), 400);
    aio_testing_request_free(request);
}

static void test_home_page(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/?sleep=0");
    assert_int_equal(aio_testing_serve(t, request), 200);
    assert_string_equal(aio_testing_response_header(request, "Content-Type"),
                        "text/html; charset=utf-8");
    const char *body = aio_testing_response_body(request, NULL);
    assert_non_null(strstr(body, "<title>aiotutorial websocket test</title>"));
    assert_non_null(strstr(body, "new WebSocket"));
    aio_testing_request_free(request);
}

/* Two homes sleeping 0.2 s at once take 0.2 s, not 0.4: one loop. */
static void test_homes_sleep_concurrently(void **state)
{
    aio_testing *t = *state;
    aio_request *a = aio_testing_request(t, "GET", "/?sleep=0.2");
    aio_request *b = aio_testing_request(t, "GET", "/?sleep=0.2");
    double start = now();
    assert_int_equal(aio_testing_start_request(t, a), AIO_OK);
    assert_int_equal(aio_testing_start_request(t, b), AIO_OK);
    assert_int_equal(aio_testing_wait(t, a, 5000), 200);
    assert_int_equal(aio_testing_wait(t, b, 5000), 200);
    double elapsed = now() - start;
    assert_true(elapsed >= 0.2);
    assert_true(elapsed < 0.35);
    aio_testing_request_free(a);
    aio_testing_request_free(b);
}

static void test_hello(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/hello");
    assert_int_equal(aio_testing_serve(t, request), 200);
    assert_string_equal(aio_testing_response_body(request, NULL), "Hello World\n");
    aio_testing_request_free(request);
}

/* /upload reads its body with aio_body_read(); in-process the body is in
 * memory already and comes the same way. */
static void test_upload_digest(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "POST", "/upload");
    assert_int_equal(aio_testing_set_body(request, "application/octet-stream", "hello world", 11),
                     AIO_OK);
    assert_int_equal(aio_testing_serve(t, request), 200);
    assert_string_equal(aio_testing_response_body(request, NULL),
                        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9 11\n");
    aio_testing_request_free(request);
}

/* /stream and /events: buffered in-process, the same bytes. */
static void test_stream_and_events(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/stream?bytes=70000");
    assert_int_equal(aio_testing_serve(t, request), 200);
    size_t len;
    const char *body = aio_testing_response_body(request, &len);
    assert_int_equal(len, 70000);
    assert_true(body[0] == 'x' && body[69999] == 'x');
    aio_testing_request_free(request);
    request = aio_testing_request(t, "GET", "/events?count=2&interval_ms=10");
    assert_int_equal(aio_testing_serve(t, request), 200);
    assert_string_equal(aio_testing_response_body(request, NULL),
                        "id: 1\ndata: 0\n\nid: 2\ndata: 1\n\n");
    aio_testing_request_free(request);
}

/* The blocking view runs in an executor thread: same API, same result. */
static void test_blocking_view_in_executor(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/blocking?ms=20");
    assert_int_equal(aio_testing_run_view(t, request, "blocking"), AIO_OK);
    assert_string_equal(aio_testing_response_body(request, NULL),
                        "blocked 20 ms in an executor thread\n");
    aio_testing_request_free(request);
}

/* WSTest.test_echo_view: what is sent comes back, text as text and bytes
 * as bytes, and the connection closes cleanly. */
static void test_echo_view(void **state)
{
    aio_testing *t = *state;
    int status = 0;
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/echo", &status, NULL);
    assert_non_null(ws);
    assert_int_equal(status, 101);

    assert_int_equal(aio_testing_ws_send_text(ws, "Aiopyramid echo test."), AIO_OK);
    aio_msg *msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_int_equal(aio_msg_type(msg), AIO_MSG_TEXT);
    assert_string_equal(aio_msg_data(msg, NULL), "Aiopyramid echo test.");
    aio_msg_free(msg);

    const unsigned char bytes[] = {0, 1, 2, 255};
    assert_int_equal(aio_testing_ws_send_binary(ws, bytes, sizeof(bytes)), AIO_OK);
    msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_int_equal(aio_msg_type(msg), AIO_MSG_BINARY);
    size_t len = 0;
    assert_memory_equal(aio_msg_data(msg, &len), bytes, sizeof(bytes));
    assert_int_equal(len, sizeof(bytes));
    aio_msg_free(msg);

    assert_int_equal(aio_testing_ws_close(ws, 1000, "bye"), 1000);
    assert_null(aio_testing_ws_recv(ws, 100));
    aio_testing_ws_free(ws);
}

/* A plain GET to the websocket route is refused with 426. */
static void test_echo_needs_an_upgrade(void **state)
{
    aio_testing *t = *state;
    aio_request *request = aio_testing_request(t, "GET", "/echo");
    assert_int_equal(aio_testing_serve(t, request), 426);
    assert_string_equal(aio_testing_response_header(request, "Upgrade"), "websocket");
    aio_testing_request_free(request);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_home_view, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_home_view_sleep_param, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_home_page, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_list_page, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_homes_sleep_concurrently, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_hello, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_upload_digest, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_stream_and_events, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_blocking_view_in_executor, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_echo_view, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_echo_needs_an_upgrade, set_up, tear_down),
    };
    return cmocka_run_group_tests_name("views/tutorial", tests, NULL, NULL);
}
