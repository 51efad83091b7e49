/* Tests of @@project@@'s views, in-process through libaio_testing (the
 * same engine as in uWSGI, on a loop the helpers turn): the home view and
 * the echo websocket. `make test`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <uwsgi-aio/aio_testing.h>

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

/* HomeTestCase.test_home_view: the view (a coroutine: it sleeps) run to
 * completion on a dummy request, and what it gave its renderer. */
static void test_home_view(void **state)
{
    aio_testing *t = *state;
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_testing_run_view(t, req, "home"), AIO_OK);
    assert_string_equal(aio_result_get(req, "title"), "@@project@@ websocket test");
    assert_string_equal(aio_result_get(req, "wait_time"), "0.1");
    aio_testing_request_free(req);
}

/* WSTest.test_echo_view: what is sent comes back, and the connection
 * closes cleanly. */
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
    assert_string_equal(aio_msg_data(msg, NULL), "Aiopyramid echo test.");
    aio_msg_free(msg);
    assert_int_equal(aio_testing_ws_close(ws, 1000, "bye"), 1000);
    aio_testing_ws_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_home_view, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_echo_view, set_up, tear_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
