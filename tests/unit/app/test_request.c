/* The request/response API views use: headers, params from query and form
 * body, numbers with fallbacks, response building, templates, failures. */
#define _GNU_SOURCE
#include "unit/testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uwsgi-aio/aio.h>
#include "app/registry.h"
#include "app/request.h"

static struct aio_request *req;

static int setup(void **state)
{
    (void)state;
    req = aio__request_new();
    return req ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    aio__request_free(req);
    return 0;
}

static void header(const char *var, const char *value)
{
    assert_int_equal(aio__request_add_header_var(req, var, strlen(var), value, strlen(value)), 0);
}

static void defaults(void **state)
{
    (void)state;
    assert_str(aio_method(req), "GET");
    assert_str(aio_path(req), "/");
    assert_str(aio_query_string(req), "");
    size_t len = 99;
    assert_str(aio_body(req, &len), "");
    assert_int_equal(len, 0);
    assert_null(aio_header(req, "Host"));
    assert_null(aio_param(req, "x"));
    assert_null(aio_match(req, "id"));
    assert_null(aio_route_name(req));
    assert_null(aio_setting(req, "x"));
}

static void headers(void **state)
{
    (void)state;
    header("HTTP_USER_AGENT", "curl/8");
    header("CONTENT_TYPE", "text/plain");
    header("HTTP_X_FORWARDED_FOR", "10.0.0.1, 10.0.0.2");
    assert_str(aio_header(req, "User-Agent"), "curl/8");
    assert_str(aio_header(req, "user-agent"), "curl/8");
    assert_str(aio_header(req, "Content-Type"), "text/plain");
    assert_str(aio_header(req, "X-Forwarded-For"), "10.0.0.1, 10.0.0.2");
    assert_null(aio_header(req, "Accept"));
    assert_null(aio_header(req, NULL));
}

static void params(void **state)
{
    (void)state;
    assert_int_equal(aio__request_set_line(req, "POST", "/form", "a=1&sleep=0.25&n=12&a=2"), 0);
    header("CONTENT_TYPE", "application/x-www-form-urlencoded; charset=utf-8");
    req->body = "a=3&msg=hello+world%21";
    req->body_len = strlen(req->body);
    const char *error = NULL;
    assert_int_equal(aio__request_parse_params(req, &error), AIO_OK);
    assert_str(aio_method(req), "POST");
    assert_int_equal(req->method_bit, AIO_POST);
    assert_str(aio_param(req, "a"), "1"); /* query string first */
    const char *values[4];
    assert_int_equal(aio_params(req, "a", values, 4), 3);
    assert_str(values[0], "1");
    assert_str(values[1], "2");
    assert_str(values[2], "3");
    assert_int_equal(aio_params(req, "a", values, 1), 3); /* count even when truncated */
    assert_str(aio_param(req, "msg"), "hello world!");
    assert_true(aio_param_double(req, "sleep", 9.0) == 0.25);
    assert_true(aio_param_double(req, "missing", 0.1) == 0.1);
    assert_true(aio_param_double(req, "msg", 0.1) == 0.1); /* not a number */
    assert_int_equal(aio_param_long(req, "n", -1), 12);
    assert_int_equal(aio_param_long(req, "sleep", -1), -1);
}

static void form_body_needs_form_type(void **state)
{
    (void)state;
    header("CONTENT_TYPE", "application/json");
    req->body = "{\"a\": 1}";
    req->body_len = strlen(req->body);
    assert_int_equal(aio__request_parse_params(req, NULL), AIO_OK);
    assert_null(aio_param(req, "{\"a\": 1}"));
    assert_int_equal(req->params.count, 0);
    assert_true(aio__is_form_content_type("Application/X-WWW-Form-Urlencoded"));
    assert_false(aio__is_form_content_type("application/x-www-form-urlencodedX"));
    assert_false(aio__is_form_content_type(NULL));
}

static void bad_params(void **state)
{
    (void)state;
    assert_int_equal(aio__request_set_line(req, "GET", "/", "ok=1&bad=%G1"), 0);
    const char *error = NULL;
    assert_int_equal(aio__request_parse_params(req, &error), AIO_EINVAL);
    assert_non_null(error);
}

static void response(void **state)
{
    (void)state;
    assert_int_equal(req->status, 200);
    assert_int_equal(aio_set_status(req, 201), AIO_OK);
    assert_int_equal(aio_set_status(req, 99), AIO_EINVAL);
    assert_int_equal(aio_set_status(req, 600), AIO_EINVAL);
    assert_int_equal(req->status, 201);
    assert_int_equal(aio_add_header(req, "X-Test", "yes"), AIO_OK);
    assert_int_equal(aio_add_header(req, "Bad Name", "x"), AIO_EINVAL);
    assert_int_equal(aio_add_header(req, "X-Inject", "a\r\nSet-Cookie: evil=1"), AIO_EINVAL);
    assert_int_equal(aio_add_header(req, "Content-Length", "5"), AIO_EINVAL); /* computed */
    assert_int_equal(req->response_headers.count, 1);
    assert_int_equal(aio_write_body(req, "ab", 2), AIO_OK);
    assert_int_equal(aio_printf(req, "%d-%s", 7, "c"), AIO_OK);
    assert_str(req->response_body.data, "ab7-c");
    assert_int_equal(aio_write_body(req, NULL, 3), AIO_EINVAL);
    assert_int_equal(aio_respond_text(req, 404, "gone\n"), AIO_OK);
    assert_int_equal(req->status, 404);
    assert_str(req->response_body.data, "gone\n");
    assert_true(req->has_content_type);
    aio__response_reset(req);
    assert_int_equal(req->status, 200);
    assert_int_equal(req->response_body.len, 0);
    assert_int_equal(req->response_headers.count, 0);
}

static void failure_message(void **state)
{
    (void)state;
    assert_int_equal(aio_fail(req, "db said %s", "no"), AIO_ERROR);
    assert_str(req->failure, "db said no");
    assert_str(aio_strerror(AIO_ESCOPE), "suspending call outside a coroutine (ScopeError)");
    assert_str(aio_strerror(12345), "unknown status");
}

static void memory(void **state)
{
    (void)state;
    char *copy = aio_strdup(req, "kept until the request ends");
    assert_str(copy, "kept until the request ends");
    void *big = aio_alloc(req, 1 << 20); /* bigger than an arena chunk */
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    assert_null(aio_strdup(req, NULL));
}

/* ---- templates through a module's asset directory --------------------- */

static char asset_dir[64];
static struct aio_registry reg;

static int page_view(aio_request *r)
{
    (void)r;
    return AIO_OK;
}

static int page_app(aio_config *cfg)
{
    aio_add_route(cfg, "page", "/page");
    return aio_add_view(cfg, "page", page_view, 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_templates(void **state)
{
    setup(state);
    strcpy(asset_dir, "/tmp/aio-test-XXXXXX");
    assert_non_null(mkdtemp(asset_dir));
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/templates", asset_dir);
    mkdir(dir, 0700);
    write_file(dir, "page.html", "<h1>{{title}}</h1>{{{raw}}}");
    aio__registry_init(&reg);
    assert_int_equal(aio__registry_add_module(&reg, "page.so", asset_dir, page_app), AIO_OK);
    assert_int_equal(aio__registry_construct(&reg), AIO_OK);
    req->view = reg.routes[0]->views[0];
    req->route = reg.routes[0];
    return 0;
}

static int teardown_templates(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", asset_dir);
    assert_int_equal(system(cmd), 0);
    aio__registry_free(&reg);
    return teardown(state);
}

static void render(void **state)
{
    (void)state;
    assert_int_equal(aio_render(req, "templates/page.html", "title", "<Tom & Jerry>", "raw",
                                "<br>", NULL),
                     AIO_OK);
    assert_str(req->response_body.data, "<h1>&lt;Tom &amp; Jerry&gt;</h1><br>");
    assert_str(aio_rendered_value(req, "title"), "<Tom & Jerry>");
    assert_null(aio_rendered_value(req, "other"));
    assert_str(aio_route_name(req), "page");
    /* render replaces the body, keeps headers */
    assert_int_equal(aio_render(req, "templates/page.html", NULL), AIO_OK);
    assert_str(req->response_body.data, "<h1></h1>");
    assert_int_equal(req->response_headers.count, 1); /* one Content-Type */
    assert_int_equal(aio_render(req, "templates/missing.html", NULL), AIO_ENOTFOUND);
    assert_non_null(strstr(req->failure, "templates/missing.html"));
}

static void broken_template_stops_startup(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/templates", asset_dir);
    write_file(dir, "broken.html", "line one\n{{ unclosed");
    struct aio_registry other;
    aio__registry_init(&other);
    assert_int_equal(aio__registry_add_module(&other, "page.so", asset_dir, page_app), AIO_OK);
    assert_int_equal(aio__registry_construct(&other), AIO_EINVAL);
    assert_non_null(strstr(other.error, "templates/broken.html"));
    assert_non_null(strstr(other.error, "line 2"));
    aio__registry_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(headers, setup, teardown),
        cmocka_unit_test_setup_teardown(params, setup, teardown),
        cmocka_unit_test_setup_teardown(form_body_needs_form_type, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_params, setup, teardown),
        cmocka_unit_test_setup_teardown(response, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_message, setup, teardown),
        cmocka_unit_test_setup_teardown(memory, setup, teardown),
        cmocka_unit_test_setup_teardown(render, setup_templates, teardown_templates),
        cmocka_unit_test_setup_teardown(broken_template_stops_startup, setup_templates,
                                        teardown_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
