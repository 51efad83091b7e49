/* The response helpers, in-process: redirects, cookies, JSON request
 * bodies, the response as tweens read it, the safe default content type,
 * and error views (the router's, the permission check's and a failing
 * view's answers through the application's own page). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <uwsgi-aio/aio_testing.h>

/* ---- the application ---------------------------------------------------------- */

/* /go?to=...&status=N: aio_redirect's answer, or "refused" */
static int go_view(aio_request *req)
{
    long status = 302;
    aio_param_to_long(req, "status", &status);
    const char *to = aio_param(req, "to");
    if (aio_redirect(req, (int)status, to) != AIO_OK)
        return aio_respond_text(req, 200, "refused\n");
    return AIO_OK;
}

static int cookie_view(aio_request *req)
{
    struct aio_cookie_options all = {
        .max_age_s = 3600, .expires = 784111777, .path = "/app", .domain = "example.org",
        .secure = 1, .http_only = 1, .same_site = "strict",
    };
    int rc = aio_set_cookie(req, "session", "abc123", &all);
    if (rc == AIO_OK)
        rc = aio_set_cookie(req, "plain", "", NULL);
    if (rc == AIO_OK)
        rc = aio_delete_cookie(req, "old", &(struct aio_cookie_options){.path = "/app"});
    return rc == AIO_OK ? aio_respond_text(req, 200, "set\n") : rc;
}

/* Counts the refusals; answers how many were refused. */
static int bad_cookies_view(aio_request *req)
{
    int refused = 0;
    refused += aio_set_cookie(req, "bad name", "v", NULL) == AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "a;b", NULL) == AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "a b", NULL) == AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "\"q\"", NULL) == AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "v", &(struct aio_cookie_options){.same_site = "None"}) ==
               AIO_EINVAL; /* without Secure */
    refused += aio_set_cookie(req, "n", "v", &(struct aio_cookie_options){.same_site = "Loose"}) ==
               AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "v", &(struct aio_cookie_options){.path = "/a;b"}) ==
               AIO_EINVAL;
    refused += aio_set_cookie(req, "n", "v", &(struct aio_cookie_options){.max_age_s = -1}) ==
               AIO_EINVAL;
    refused += aio_set_cookie(req, "n", NULL, NULL) == AIO_EINVAL;
    return aio_printf(req, "%d", refused);
}

/* POST /notes: the JSON body's "title", or the refusal passed on */
static int notes_view(aio_request *req)
{
    json_t *note;
    int rc = aio_json_body(req, &note);
    if (rc != AIO_OK)
        return rc;
    json_t *again;
    if (aio_json_body(req, &again) != AIO_OK || again != note) /* parsed once */
        return aio_fail(req, "a second aio_json_body() differs");
    const char *title = json_string_value(json_object_get(note, "title"));
    return aio_printf(req, "title=%s kind=%s", title ? title : "-",
                      json_is_array(note) ? "array" : json_is_object(note) ? "object" : "other");
}

/* an untyped body: what does the server call it? */
static int untyped_view(aio_request *req)
{
    return aio_printf(req, "<script>alert(1)</script>");
}

/* the paths and URLs of routes, a line each ("(null)" when refused) */
static int links_view(aio_request *req)
{
    const char *lines[] = {
        aio_route_path(req, "note", "id", "7", NULL),
        aio_route_path(req, "note", "id", "a b&c", NULL),
        aio_route_path(req, "files", "rest", "x y/z.txt", NULL),
        aio_route_url(req, "note", "id", "7", NULL),
        aio_route_path(req, "note", NULL),                 /* a placeholder missing */
        aio_route_path(req, "note", "id", "a/b", NULL),    /* not one segment */
        aio_route_path(req, "note", "id", "1", "x", "2", NULL), /* no such placeholder */
        aio_route_path(req, "nonesuch", NULL),
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        aio_printf(req, "%s\n", lines[i] ? lines[i] : "(null)");
    return AIO_OK;
}

/* /thing: three views told apart by their predicates */
static int thing_json(aio_request *req)
{
    return aio_respond_text(req, 200, "json\n");
}

static int thing_ajax(aio_request *req)
{
    return aio_respond_text(req, 200, "ajax\n");
}

static int thing_beta(aio_request *req)
{
    return aio_respond_text(req, 200, "beta\n");
}

static int thing_upload(aio_request *req)
{
    return aio_respond_text(req, 200, "csv upload\n");
}

static int failing_view(aio_request *req)
{
    return aio_fail(req, "deliberately");
}

static int secret_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *count)
{
    (void)req, (void)context;
    static const struct aio_ace nobody[] = {{AIO_DENY, AIO_EVERYONE, "see"}};
    *acl = nobody;
    *count = 1;
    return AIO_OK;
}

/* After the rest of the chain: the response as it stands, in a header. */
static int status_tween(aio_request *req, aio_next *next)
{
    int rc = aio_call_next(req, next);
    char seen[128];
    const char *type = aio_response_header(req, "content-type");
    snprintf(seen, sizeof(seen), "%d %s", aio_response_status(req), type ? type : "-");
    aio_add_header(req, "X-Seen", seen);
    return rc;
}

/* Not-found pages as JSON; everything else as a small HTML page. */
static int not_found_json(aio_request *req, int status, const char *detail)
{
    (void)detail;
    aio_add_header(req, "Content-Type", "application/json");
    return aio_printf(req, "{\"error\":%d,\"path\":\"%s\"}", status, aio_path(req));
}

static int any_error_html(aio_request *req, int status, const char *detail)
{
    aio_add_header(req, "Content-Type", "text/html; charset=utf-8");
    return aio_printf(req, "<h1>%d</h1><p>%s</p>", status, detail ? detail : "");
}

static int app(aio_config *cfg)
{
    aio_add_route(cfg, "go", "/go");
    aio_add_route(cfg, "cookie", "/cookie");
    aio_add_route(cfg, "bad_cookies", "/bad-cookies");
    aio_add_route(cfg, "notes", "/notes");
    aio_add_route(cfg, "untyped", "/untyped");
    aio_add_route(cfg, "fail", "/fail");
    aio_add_route(cfg, "secret", "/secret");
    aio_add_route(cfg, "links", "/links");
    aio_add_route(cfg, "thing", "/thing");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "thing", .view = thing_json,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .accept = "application/json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "thing", .view = thing_ajax,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .accept = "application/json", .xhr = 1});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "thing", .view = thing_beta,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .header = "X-Beta:yes",
                                                   .request_param = "v=2"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "thing", .view = thing_upload,
                                                   .flags = AIO_COROUTINE | AIO_POST,
                                                   .content_type = "text/csv"});
    aio_add_route(cfg, "note", "/notes/{id}");
    aio_add_route(cfg, "files", "/files/*rest");
    aio_add_view(cfg, "links", links_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "note", untyped_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "files", untyped_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "go", go_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "cookie", cookie_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "bad_cookies", bad_cookies_view, AIO_COROUTINE | AIO_GET);
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "notes", .view = notes_view,
                                                   .flags = AIO_COROUTINE | AIO_POST,
                                                   .renderer = "string"});
    aio_add_view(cfg, "untyped", untyped_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "fail", failing_view, AIO_COROUTINE | AIO_GET);
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "secret", .view = untyped_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .permission = "see"});
    aio_set_root_acl(cfg, secret_acl);
    return aio_add_tween(cfg, "status", status_tween);
}

static int app_with_error_views(aio_config *cfg)
{
    aio_add_error_view(cfg, 404, not_found_json);
    aio_add_error_view(cfg, 0, any_error_html);
    return app(cfg);
}

static aio_testing *start(int (*main_fn)(aio_config *))
{
    aio_testing *t = aio_testing_new();
    assert_non_null(t);
    assert_int_equal(aio_testing_add_module(t, "responses", main_fn, "."), AIO_OK);
    if (aio_testing_start(t) != AIO_OK)
        fail_msg("start: %s", aio_testing_error(t));
    return t;
}

static int tear_down(void **state)
{
    aio_testing_free(*state);
    return 0;
}

/* Serves `target`; the response's status. The request goes to *req. */
static int serve(aio_testing *t, const char *method, const char *target, aio_request **req)
{
    *req = aio_testing_request(t, method, target);
    assert_non_null(*req);
    return aio_testing_serve(t, *req);
}

static const char *body(aio_request *req)
{
    return aio_testing_response_body(req, NULL);
}

static const char *header(aio_request *req, const char *name)
{
    const char *value = aio_testing_response_header(req, name);
    return value ? value : "(none)";
}

/* ---- the tests ------------------------------------------------------------------ */

static void redirects(void **state)
{
    aio_testing *t = *state = start(app);
    static const struct {
        const char *target;
        int status;
        const char *location;
    } cases[] = {
        {"/go?to=/inbox", 302, "/inbox"},
        {"/go?to=/a%3Fb%3D1&status=303", 303, "/a?b=1"},
        {"/go?to=https://example.org/x&status=301", 301, "https://example.org/x"},
        {"/go?to=/x&status=307", 307, "/x"},
        {"/go?to=/x&status=308", 308, "/x"},
        /* refused: not a redirect status, no target, another host by "//",
         * relative, spaces, control characters, a scheme without a host */
        {"/go?to=/x&status=200", 200, NULL},
        {"/go?to=/x&status=304", 200, NULL},
        {"/go", 200, NULL},
        {"/go?to=//evil.example/", 200, NULL},
        {"/go?to=/%5Cevil.example/", 200, NULL},
        {"/go?to=inbox", 200, NULL},
        {"/go?to=/a%20b", 200, NULL},
        {"/go?to=/a%0D%0ASet-Cookie:x=1", 200, NULL},
        {"/go?to=https://", 200, NULL},
        {"/go?to=1http://x", 200, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aio_request *req;
        int status = serve(t, "GET", cases[i].target, &req);
        if (status != cases[i].status)
            fail_msg("%s: %d, wanted %d", cases[i].target, status, cases[i].status);
        if (cases[i].location)
            assert_string_equal(header(req, "Location"), cases[i].location);
        else
            assert_string_equal(body(req), "refused\n");
        aio_testing_request_free(req);
    }
}

static void cookies(void **state)
{
    aio_testing *t = *state = start(app);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/cookie", &req), 200);
    /* the three Set-Cookie lines, in order */
    const char *want[] = {
        "session=abc123; Path=/app; Domain=example.org; Max-Age=3600; "
        "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Strict",
        "plain=; Path=/",
        "old=; Path=/app; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    };
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(aio_testing_response_header_n(req, "set-cookie", i), want[i]);
    assert_null(aio_testing_response_header_n(req, "Set-Cookie", 3));
    assert_string_equal(header(req, "Set-Cookie"), want[0]); /* the first */
    aio_testing_request_free(req);
    assert_int_equal(serve(t, "GET", "/bad-cookies", &req), 200);
    assert_string_equal(body(req), "9");
    assert_string_equal(header(req, "Set-Cookie"), "(none)"); /* nothing half-set */
    aio_testing_request_free(req);
}

static void json_bodies(void **state)
{
    aio_testing *t = *state = start(app);
    aio_request *req = aio_testing_request(t, "POST", "/notes");
    const char *note = "{\"title\": \"h\\u00e9llo\"}";
    aio_testing_set_body(req, "application/json; charset=utf-8", note, strlen(note));
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(body(req), "title=h\xc3\xa9llo kind=object");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "POST", "/notes"); /* a +json type, a list */
    aio_testing_set_body(req, "application/merge-patch+json", "[1, 2]", 6);
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(body(req), "title=- kind=array");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "POST", "/notes");
    aio_testing_set_body(req, "text/plain", "{}", 2);
    assert_int_equal(aio_testing_serve(t, req), 415);
    assert_string_equal(body(req), "The request body must be JSON (Content-Type: application/json).\n");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "POST", "/notes");
    aio_testing_set_body(req, "application/json", "{\"title\": }", 11);
    assert_int_equal(aio_testing_serve(t, req), 400);
    assert_non_null(strstr(body(req), "The request body is not valid JSON: "));
    assert_non_null(strstr(body(req), "(line 1, column 11)"));
    aio_testing_request_free(req);
    /* a refusal passed on is no failure of the view */
    assert_null(strstr(aio_testing_log(t), "failed"));
}

static void tweens_read_the_response_and_bodies_default_to_plain_text(void **state)
{
    aio_testing *t = *state = start(app);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/untyped", &req), 200);
    assert_string_equal(header(req, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(header(req, "X-Seen"), "200 text/plain; charset=utf-8");
    aio_testing_request_free(req);
    assert_int_equal(serve(t, "GET", "/go?to=/x&status=303", &req), 303);
    assert_string_equal(header(req, "X-Seen"), "303 text/plain; charset=utf-8");
    aio_testing_request_free(req);
    assert_int_equal(serve(t, "GET", "/nowhere", &req), 404); /* the router's, too */
    assert_string_equal(header(req, "X-Seen"), "404 text/plain; charset=utf-8");
    aio_testing_request_free(req);
}

/* Serves GET /thing with these headers (name, value pairs); the status,
 * and the body in *out. */
static int thing(aio_testing *t, const char *method, const char *target, const char **out, ...)
{
    aio_request *req = aio_testing_request(t, method, target);
    va_list ap;
    va_start(ap, out);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL)
        aio_testing_set_header(req, name, va_arg(ap, const char *));
    va_end(ap);
    int status = aio_testing_serve(t, req);
    static char body_copy[128];
    snprintf(body_copy, sizeof(body_copy), "%s", body(req));
    *out = body_copy;
    aio_testing_request_free(req);
    return status;
}

static void views_chosen_by_predicates(void **state)
{
    aio_testing *t = *state = start(app);
    const char *out;
    assert_int_equal(thing(t, "GET", "/thing", &out, "Accept", "application/json", NULL), 200);
    assert_string_equal(out, "json\n");
    assert_int_equal(thing(t, "GET", "/thing", &out, NULL), 200); /* no Accept: takes any */
    assert_string_equal(out, "json\n");
    /* the view with more predicates wins when both hold */
    assert_int_equal(thing(t, "GET", "/thing", &out, "Accept", "*/*", "X-Requested-With",
                           "XMLHttpRequest", NULL), 200);
    assert_string_equal(out, "ajax\n");
    assert_int_equal(thing(t, "GET", "/thing?v=2", &out, "Accept", "text/html", "X-Beta", "yes",
                           NULL), 200);
    assert_string_equal(out, "beta\n");
    /* only accept fails: 406; anything else failing too: 404 */
    assert_int_equal(thing(t, "GET", "/thing", &out, "Accept", "text/html", NULL), 406);
    assert_int_equal(thing(t, "GET", "/thing?v=1", &out, "Accept", "text/html", "X-Beta", "yes",
                           NULL), 406);
    assert_int_equal(thing(t, "POST", "/thing", &out, "Content-Type", "text/csv; charset=utf-8",
                           NULL), 200);
    assert_string_equal(out, "csv upload\n");
    assert_int_equal(thing(t, "POST", "/thing", &out, "Content-Type", "application/json", NULL),
                     404);
    assert_int_equal(thing(t, "DELETE", "/thing", &out, NULL), 405); /* methods come first */
}

static int bad_predicate(aio_config *cfg)
{
    aio_add_route(cfg, "x", "/x");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "x", .view = thing_json,
                                                          .accept = "json"});
}

static void bad_predicates_are_configuration_errors(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    aio_testing_add_module(t, "bad", bad_predicate, ".");
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "route 'x': the accept predicate must be a "
                                                 "media type"));
}

static void paths_and_urls_of_routes(void **state)
{
    aio_testing *t = *state = start(app);
    aio_request *req = aio_testing_request(t, "GET", "/links");
    aio_testing_set_header(req, "Host", "notes.example:8080");
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(body(req), "/notes/7\n"
                                   "/notes/a%20b&c\n"
                                   "/files/x%20y/z.txt\n"
                                   "http://notes.example:8080/notes/7\n"
                                   "(null)\n(null)\n(null)\n(null)\n");
    aio_testing_request_free(req);
    req = aio_testing_request(t, "GET", "/notes/a%20b&c"); /* the path leads back to it */
    assert_int_equal(aio_testing_serve(t, req), 200);
    aio_testing_request_free(req);
}

static int sleepy_view(aio_request *req)
{
    long ms = 0;
    aio_param_to_long(req, "ms", &ms);
    int rc = aio_sleep_ms(req, ms);
    return rc == AIO_OK ? aio_respond_text(req, 201, "slept\n") : rc;
}

static int sleepy_app(aio_config *cfg)
{
    aio_add_route(cfg, "sleepy", "/sleepy");
    return aio_add_view(cfg, "sleepy", sleepy_view, AIO_COROUTINE | AIO_GET);
}

static void the_timing_tween_logs_slow_requests(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "sleepy", sleepy_app, "."), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-tweens", "timing"), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-slow-request-ms", "50"), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/sleepy?ms=0", &req), 201);
    assert_non_null(aio_testing_response_header(req, "X-Response-Time"));
    aio_testing_request_free(req);
    assert_null(strstr(aio_testing_log(t), "slow request"));
    assert_int_equal(serve(t, "GET", "/sleepy?ms=80", &req), 201);
    aio_testing_request_free(req);
    assert_non_null(strstr(aio_testing_log(t), "GET /sleepy (route 'sleepy', request "));
    assert_non_null(strstr(aio_testing_log(t), "): slow request: "));
    assert_non_null(strstr(aio_testing_log(t), " ms (aio-slow-request-ms = 50), answered 201"));
}

/* ---- declared parameters ------------------------------------------------------- */

static int validated_view(aio_request *req)
{
    long n = 0;
    aio_param_to_long(req, "n", &n);
    return aio_printf(req, "n=%ld slug=%s", n, aio_param(req, "slug") ? aio_param(req, "slug") : "-");
}

static const struct aio_param_rule item_rules[] = {
    {.name = "n", .flags = AIO_PARAM_REQUIRED | AIO_PARAM_INTEGER | AIO_PARAM_RANGE, .min = 1,
     .max = 500},
    {.name = "slug", .regex = "[a-z0-9-]+", .max_len = 20},
    {.name = "price", .flags = AIO_PARAM_NUMBER},
    {0},
};

static int validated_app(aio_config *cfg)
{
    aio_add_route(cfg, "items", "/items");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "items", .view = validated_view,
                                                          .flags = AIO_COROUTINE,
                                                          .params = item_rules});
}

static void declared_parameters_are_checked_before_the_view(void **state)
{
    aio_testing *t = *state = start(validated_app);
    static const struct {
        const char *target;
        int status;
        const char *says;
    } cases[] = {
        {"/items?n=7&slug=my-item&price=9.5", 200, "n=7 slug=my-item"},
        {"/items?n=500", 200, "n=500 slug=-"},
        {"/items", 400, "Parameter 'n' is required."},
        {"/items?n=", 400, "Parameter 'n' is required."},
        {"/items?n=abc", 400, "Parameter 'n' must be an integer from 1 to 500."},
        {"/items?n=7.5", 400, "Parameter 'n' must be an integer from 1 to 500."},
        {"/items?n=501", 400, "Parameter 'n' must be an integer from 1 to 500."},
        {"/items?n=0", 400, "Parameter 'n' must be an integer from 1 to 500."},
        {"/items?n=1&slug=Not_OK", 400, "Parameter 'slug' must match [a-z0-9-]+."},
        {"/items?n=1&slug=a-very-long-slug-indeed", 400,
         "Parameter 'slug' is longer than 20 bytes."},
        {"/items?n=1&price=1e999", 400, "Parameter 'price' must be a number."},
        {"/items?n=1&price=nan", 400, "Parameter 'price' must be a number."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aio_request *req;
        int status = serve(t, "GET", cases[i].target, &req);
        if (status != cases[i].status || !strstr(body(req), cases[i].says))
            fail_msg("%s: %d %s", cases[i].target, status, body(req));
        aio_testing_request_free(req);
    }
    /* an urlencoded body's parameters count too */
    aio_request *req = aio_testing_request(t, "POST", "/items");
    aio_testing_set_body(req, "application/x-www-form-urlencoded", "n=42", 4);
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(body(req), "n=42 slug=-");
    aio_testing_request_free(req);
}

static const struct aio_param_rule bad_regex[] = {{.name = "x", .regex = "(unclosed"}, {0}};
static const struct aio_param_rule bad_range[] = {{.name = "x", .flags = AIO_PARAM_RANGE}, {0}};

static int app_with_rules(aio_config *cfg, const struct aio_param_rule *rules)
{
    aio_add_route(cfg, "x", "/x");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "x", .view = validated_view,
                                                          .params = rules});
}

static int bad_regex_app(aio_config *cfg)
{
    return app_with_rules(cfg, bad_regex);
}

static int bad_range_app(aio_config *cfg)
{
    return app_with_rules(cfg, bad_range);
}

/* A websocket view's declared parameters: the handshake's query. */
static int live_echo(aio_ws *ws)
{
    return aio_ws_ignore_closed(aio_ws_send_text(ws, "live"));
}

static const struct aio_param_rule room_rules[] = {
    {.name = "room", .flags = AIO_PARAM_REQUIRED, .regex = "[a-z]+"},
    {0},
};

static int live_app(aio_config *cfg)
{
    aio_add_route(cfg, "live", "/live");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "live", .websocket = live_echo,
                                                          .params = room_rules});
}

static void a_websocket_handshake_is_checked_against_declared_parameters(void **state)
{
    aio_testing *t = *state = start(live_app);
    aio_testing_set_timeout(t, 5000);
    int status = 0;
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/live?room=lobby", &status, NULL);
    assert_non_null(ws);
    assert_int_equal(status, 101);
    aio_testing_ws_free(ws);
    assert_null(aio_testing_ws_connect(t, "/live", &status, NULL));
    assert_int_equal(status, 400);
    assert_null(aio_testing_ws_connect(t, "/live?room=Lobby1", &status, NULL));
    assert_int_equal(status, 400);
}

static void bad_parameter_rules_stop_start_up(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    aio_testing_add_module(t, "bad", bad_regex_app, ".");
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "route 'x': parameter rule 'x': invalid regex"));
    aio_testing_free(t);
    t = *state = aio_testing_new();
    aio_testing_add_module(t, "bad", bad_range_app, ".");
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "has AIO_PARAM_RANGE without AIO_PARAM_INTEGER"));
}

static void error_views_make_the_error_pages(void **state)
{
    aio_testing *t = *state = start(app_with_error_views);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/nowhere", &req), 404);
    assert_string_equal(header(req, "Content-Type"), "application/json");
    assert_string_equal(body(req), "{\"error\":404,\"path\":\"/nowhere\"}");
    aio_testing_request_free(req);

    assert_int_equal(serve(t, "DELETE", "/untyped", &req), 405); /* through the catch-all */
    assert_string_equal(header(req, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(header(req, "Allow"), "GET, HEAD"); /* added after the view */
    assert_non_null(strstr(body(req), "<h1>405</h1>"));
    aio_testing_request_free(req);

    assert_int_equal(serve(t, "GET", "/secret", &req), 403);
    assert_string_equal(body(req), "<h1>403</h1><p>You may not see this.</p>");
    aio_testing_request_free(req);

    assert_int_equal(serve(t, "GET", "/fail", &req), 500);
    assert_non_null(strstr(body(req), "<h1>500</h1>"));
    assert_non_null(strstr(aio_testing_log(t), "deliberately"));
    aio_testing_request_free(req);

    req = aio_testing_request(t, "POST", "/notes"); /* the framework's 415 is the view's own */
    aio_testing_set_body(req, "text/plain", "x", 1);
    assert_int_equal(aio_testing_serve(t, req), 415);
    assert_string_equal(header(req, "Content-Type"), "text/plain; charset=utf-8");
    aio_testing_request_free(req);
}

/* An error view that fails (or changes the status) leaves the built-in page. */
static int broken_error_view(aio_request *req, int status, const char *detail)
{
    (void)detail;
    if (status == 404)
        return aio_fail(req, "the error view broke");
    aio_set_status(req, 200);
    return AIO_OK;
}

static int app_with_a_broken_error_view(aio_config *cfg)
{
    aio_add_error_view(cfg, 0, broken_error_view);
    return app(cfg);
}

static void a_failing_error_view_falls_back_to_the_builtin_page(void **state)
{
    aio_testing *t = *state = start(app_with_a_broken_error_view);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/nowhere", &req), 404);
    assert_string_equal(header(req, "Content-Type"), "text/plain; charset=utf-8");
    assert_non_null(strstr(body(req), "404 Not Found"));
    assert_non_null(strstr(aio_testing_log(t), "the error view for 404 failed on GET /nowhere: "
                                               "the error view broke"));
    aio_testing_request_free(req);
    assert_int_equal(serve(t, "GET", "/fail", &req), 500);
    assert_non_null(strstr(aio_testing_log(t), "the error view for 500 failed on GET /fail: "
                                               "it changed the status"));
    aio_testing_request_free(req);
}

/* ---- templates with sections and partials, from files -------------------------- */

static char asset_dir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", asset_dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh asset directory with templates/ holding these name, text pairs. */
static void make_templates(const char *name, ...)
{
    snprintf(asset_dir, sizeof(asset_dir), "/tmp/aio-tpl-XXXXXX");
    assert_non_null(mkdtemp(asset_dir));
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/templates", asset_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    va_list ap;
    va_start(ap, name);
    for (; name; name = va_arg(ap, const char *))
        write_file(name, va_arg(ap, const char *));
    va_end(ap);
}

static void remove_templates(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", asset_dir);
    assert_int_equal(system(cmd), 0);
}

static int list_page(aio_request *req)
{
    json_t *context = json_pack("{s:[{s:s,s:i},{s:s,s:i}], s:[]}", "notes", "title", "<milk>",
                                "id", 1, "title", "eggs", "id", 2, "done");
    int rc = aio_render_json(req, "templates/list.html", context);
    json_decref(context);
    return rc;
}

static int list_app(aio_config *cfg)
{
    aio_add_route(cfg, "list", "/list");
    return aio_add_view(cfg, "list", list_page, AIO_COROUTINE | AIO_GET);
}

static void template_sections_and_partials(void **state)
{
    make_templates("templates/list.html",
                   "<ul>{{#notes}}{{> templates/row.html}}{{/notes}}</ul>"
                   "{{^done}}<p>nothing done</p>{{/done}}",
                   "templates/row.html", "<li id=\"n{{id}}\">{{title}}</li>", NULL);
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "list", list_app, asset_dir), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *req;
    assert_int_equal(serve(t, "GET", "/list", &req), 200);
    assert_string_equal(body(req), "<ul><li id=\"n1\">&lt;milk&gt;</li><li id=\"n2\">eggs</li>"
                                   "</ul><p>nothing done</p>");
    assert_string_equal(header(req, "Content-Type"), "text/html; charset=utf-8");
    aio_testing_request_free(req);
    remove_templates();
}

static void a_missing_partial_stops_start_up(void **state)
{
    make_templates("templates/list.html", "<ul>\n{{#notes}}\n{{> templates/nope.html}}{{/notes}}",
                   NULL);
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "list", list_app, asset_dir), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "template templates/list.html: line 3: the "
                                                 "partial 'templates/nope.html' is not a "
                                                 "template of the module"));
    remove_templates();
}

static int twice(aio_config *cfg)
{
    aio_add_error_view(cfg, 404, not_found_json);
    return aio_add_error_view(cfg, 404, any_error_html);
}

static int out_of_range(aio_config *cfg)
{
    return aio_add_error_view(cfg, 302, any_error_html);
}

static void error_view_mistakes_are_configuration_errors(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    aio_testing_add_module(t, "twice", twice, ".");
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "a second error view for status 404"));
    aio_testing_free(t);
    t = *state = aio_testing_new();
    aio_testing_add_module(t, "range", out_of_range, ".");
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "from 400 to 599 (or 0: any), not 302"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(redirects, tear_down),
        cmocka_unit_test_teardown(cookies, tear_down),
        cmocka_unit_test_teardown(json_bodies, tear_down),
        cmocka_unit_test_teardown(tweens_read_the_response_and_bodies_default_to_plain_text,
                                  tear_down),
        cmocka_unit_test_teardown(paths_and_urls_of_routes, tear_down),
        cmocka_unit_test_teardown(views_chosen_by_predicates, tear_down),
        cmocka_unit_test_teardown(the_timing_tween_logs_slow_requests, tear_down),
        cmocka_unit_test_teardown(declared_parameters_are_checked_before_the_view, tear_down),
        cmocka_unit_test_teardown(bad_parameter_rules_stop_start_up, tear_down),
        cmocka_unit_test_teardown(a_websocket_handshake_is_checked_against_declared_parameters,
                                  tear_down),
        cmocka_unit_test_teardown(bad_predicates_are_configuration_errors, tear_down),
        cmocka_unit_test_teardown(error_views_make_the_error_pages, tear_down),
        cmocka_unit_test_teardown(a_failing_error_view_falls_back_to_the_builtin_page, tear_down),
        cmocka_unit_test_teardown(error_view_mistakes_are_configuration_errors, tear_down),
        cmocka_unit_test_teardown(template_sections_and_partials, tear_down),
        cmocka_unit_test_teardown(a_missing_partial_stops_start_up, tear_down),
    };
    return cmocka_run_group_tests_name("responses", tests, NULL, NULL);
}
