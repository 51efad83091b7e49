/* Tests of @@project@@'s views, in-process through libaio_testing: the
 * same engine as in uWSGI, on a loop the helpers turn. `make test`. */
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
    aio_request *req = aio_testing_request(t, "GET", "/?sleep=0.01");
    assert_int_equal(aio_testing_run_view(t, req, "home"), AIO_OK);
    assert_string_equal(aio_result_get(req, "project"), "@@project@@");
    assert_string_equal(aio_result_get(req, "wait_time"), "0.01");
    aio_testing_request_free(req);
}

/* The whole page, as the server serves it. */
static void test_home_page(void **state)
{
    aio_testing *t = *state;
    aio_request *req = aio_testing_request(t, "GET", "/?sleep=0");
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_non_null(strstr(aio_testing_response_body(req, NULL), "<h1>@@project@@</h1>"));
    aio_testing_request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_home_view, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_home_page, set_up, tear_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
