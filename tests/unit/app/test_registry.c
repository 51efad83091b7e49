/* The view registry: routes and views from aio_main(), configuration errors
 * naming the culprit, and dispatch (404, 405 + Allow, HEAD via GET). */
#define _GNU_SOURCE
#include "unit/testing.h"

#include <dlfcn.h>
#include <math.h>

#include <uwsgi-aio/aio.h>
#include "app/registry.h"

static int view_a(aio_request *req) { (void)req; return AIO_OK; }
static int view_b(aio_request *req) { (void)req; return AIO_OK; }

static struct aio_registry reg;

static int setup(void **state)
{
    (void)state;
    aio__registry_init(&reg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aio__registry_free(&reg);
    return 0;
}

static int build(int (*main_fn)(aio_config *))
{
    assert_int_equal(aio__registry_add_module(&reg, "mod.so", "/nonexistent", main_fn), AIO_OK);
    return aio__registry_construct(&reg);
}

static enum aio_dispatch dispatch(unsigned method, const char *path, const struct aio_view **view,
                                  unsigned *allowed, struct aio_kvlist *match)
{
    static struct aio_arena arena;
    aio__arena_release(&arena);
    memset(match, 0, sizeof(*match));
    *view = NULL;
    *allowed = 0;
    return aio__registry_dispatch(&reg, method, path, &arena, match, view, allowed);
}

static int app(aio_config *cfg)
{
    aio_add_route(cfg, "home", "/");
    aio_add_route(cfg, "user", "/users/{id}");
    aio_add_route(cfg, "any", "/any");
    aio_add_view(cfg, "home", view_a, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "user", view_a, AIO_GET);
    aio_add_view(cfg, "user", view_b, AIO_POST | AIO_DELETE);
    aio_add_view(cfg, "any", view_b, AIO_COROUTINE);
    aio_add_route(cfg, "blocking", "/blocking");
    aio_add_view(cfg, "blocking", view_b, AIO_EXECUTOR | AIO_GET);
    return 0;
}

static void routing(void **state)
{
    (void)state;
    assert_int_equal(build(app), AIO_OK);
    assert_str(reg.error, "");
    const struct aio_view *view;
    unsigned allowed;
    struct aio_kvlist match;

    assert_int_equal(dispatch(AIO_GET, "/", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_a);
    assert_str(view->route->name, "home");

    assert_int_equal(dispatch(AIO_GET, "/users/7", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_a);
    assert_str(aio__kvlist_get(&match, "id"), "7");
    assert_int_equal(dispatch(AIO_DELETE, "/users/7", &view, &allowed, &match),
                     AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_b);

    /* HEAD is answered by the GET view */
    assert_int_equal(dispatch(AIO_HEAD, "/", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_a);

    assert_int_equal(dispatch(AIO_GET, "/nowhere", &view, &allowed, &match),
                     AIO_DISPATCH_NOT_FOUND);
    assert_int_equal(dispatch(AIO_GET, "/users/", &view, &allowed, &match),
                     AIO_DISPATCH_NOT_FOUND);

    assert_int_equal(dispatch(AIO_PUT, "/users/7", &view, &allowed, &match),
                     AIO_DISPATCH_METHOD_NOT_ALLOWED);
    assert_int_equal(allowed, AIO_GET | AIO_HEAD | AIO_POST | AIO_DELETE);
    assert_int_equal(dispatch(AIO_POST, "/", &view, &allowed, &match),
                     AIO_DISPATCH_METHOD_NOT_ALLOWED);
    assert_int_equal(allowed, AIO_GET | AIO_HEAD);
    /* a method we have no bit for (PROPFIND) is only answered by any-method views */
    assert_int_equal(dispatch(0, "/", &view, &allowed, &match), AIO_DISPATCH_METHOD_NOT_ALLOWED);
    assert_int_equal(dispatch(0, "/any", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    /* the mapper is kept on the view */
    assert_int_equal(dispatch(AIO_GET, "/blocking", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_int_equal(view->flags & (AIO_COROUTINE | AIO_EXECUTOR), AIO_EXECUTOR);
    assert_int_equal(dispatch(AIO_GET, "/", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_int_equal(view->flags & (AIO_COROUTINE | AIO_EXECUTOR), AIO_COROUTINE);
}

static int app_order(aio_config *cfg)
{
    aio_add_route(cfg, "specific", "/items/new");
    aio_add_route(cfg, "generic", "/items/{id}");
    aio_add_view(cfg, "generic", view_b, 0); /* views may come before or after routes */
    aio_add_view(cfg, "specific", view_a, 0);
    return 0;
}

static void first_route_wins(void **state)
{
    (void)state;
    assert_int_equal(build(app_order), AIO_OK);
    const struct aio_view *view;
    unsigned allowed;
    struct aio_kvlist match;
    assert_int_equal(dispatch(AIO_GET, "/items/new", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_a);
    assert_int_equal(dispatch(AIO_GET, "/items/3", &view, &allowed, &match), AIO_DISPATCH_FOUND);
    assert_ptr_equal(view->fn, view_b);
}

#define BAD_APP(name, body)                                                                     \
    static int name(aio_config *cfg)                                                            \
    {                                                                                           \
        body;                                                                                   \
        return 0;                                                                               \
    }

BAD_APP(app_no_view, aio_add_route(cfg, "lonely", "/lonely"))
BAD_APP(app_unknown_route, aio_add_route(cfg, "r", "/r"); aio_add_view(cfg, "r", view_a, 0);
        aio_add_view(cfg, "ghost", view_a, 0))
BAD_APP(app_duplicate, aio_add_route(cfg, "r", "/r"); aio_add_route(cfg, "r", "/s");
        aio_add_view(cfg, "r", view_a, 0))
BAD_APP(app_bad_pattern, assert_int_equal(aio_add_route(cfg, "broken", "/x/{id"), AIO_EINVAL);
        aio_add_view(cfg, "broken", view_a, 0))
BAD_APP(app_conflict, aio_add_route(cfg, "r", "/r"); aio_add_view(cfg, "r", view_a, AIO_GET);
        aio_add_view(cfg, "r", view_b, AIO_GET | AIO_POST))
BAD_APP(app_any_conflict, aio_add_route(cfg, "r", "/r"); aio_add_view(cfg, "r", view_a, 0);
        aio_add_view(cfg, "r", view_b, AIO_POST))
BAD_APP(app_bad_flags, aio_add_route(cfg, "r", "/r"); aio_add_view(cfg, "r", view_a, 0x80000000u))
BAD_APP(app_null_view, aio_add_route(cfg, "r", "/r"); aio_add_view(cfg, "r", NULL, 0))
BAD_APP(app_two_mappers, aio_add_route(cfg, "r", "/r");
        aio_add_view(cfg, "r", view_a, AIO_COROUTINE | AIO_EXECUTOR))

static int app_reports(aio_config *cfg)
{
    return aio_config_fail(cfg, "setting '%s' is missing", "db.url");
}

static int app_fails(aio_config *cfg)
{
    (void)cfg;
    return 3;
}

static void expect_error(int (*main_fn)(aio_config *), const char *needle1, const char *needle2)
{
    aio__registry_free(&reg);
    aio__registry_init(&reg);
    assert_int_equal(build(main_fn), AIO_EINVAL);
    if (!strstr(reg.error, needle1) || !strstr(reg.error, needle2))
        fail_msg("error '%s' lacks '%s' or '%s'", reg.error, needle1, needle2);
    assert_non_null(strstr(reg.error, "mod.so")); /* always names the module */
}

static void configuration_errors(void **state)
{
    (void)state;
    expect_error(app_no_view, "'lonely'", "no view");
    expect_error(app_unknown_route, "'ghost'", "does not exist");
    expect_error(app_duplicate, "duplicate route name", "'r'");
    expect_error(app_bad_pattern, "'broken'", "unclosed");
    expect_error(app_conflict, "two views", "GET");
    expect_error(app_any_conflict, "two views", "POST");
    expect_error(app_bad_flags, "unknown view flags", "'r'");
    expect_error(app_null_view, "NULL", "'r'");
    expect_error(app_two_mappers, "not both", "AIO_EXECUTOR");
    expect_error(app_fails, "aio_main() returned 3", "");
    expect_error(app_reports, "setting 'db.url' is missing", "");
}

static void missing_module(void **state)
{
    (void)state;
    assert_int_equal(aio__registry_open_module(&reg, "/no/such/module.so"), AIO_EINVAL);
    assert_non_null(strstr(reg.error, "/no/such/module.so"));
    assert_non_null(strstr(reg.error, "No such file"));
}

static void not_a_module(void **state)
{
    (void)state;
    /* libm is a fine shared object, but has no aio_main() */
    Dl_info info;
    assert_true(dladdr((void *)&cos, &info));
    assert_int_equal(aio__registry_open_module(&reg, info.dli_fname), AIO_EINVAL);
    assert_non_null(strstr(reg.error, "no aio_main()"));
}

static void settings(void **state)
{
    (void)state;
    assert_int_equal(aio__registry_add_setting(&reg, "db", "one"), AIO_OK);
    assert_int_equal(aio__registry_add_setting(&reg, "other", "x"), AIO_OK);
    assert_int_equal(aio__registry_add_setting(&reg, "db", "two"), AIO_OK); /* last wins */
    assert_str(aio__registry_setting(&reg, "db"), "two");
    assert_str(aio__registry_setting(&reg, "other"), "x");
    assert_null(aio__registry_setting(&reg, "missing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(routing, setup, teardown),
        cmocka_unit_test_setup_teardown(first_route_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(configuration_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_module, setup, teardown),
        cmocka_unit_test_setup_teardown(not_a_module, setup, teardown),
        cmocka_unit_test_setup_teardown(settings, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    const struct aio_view *view;
    unsigned allowed;
    struct aio_kvlist match;
    dispatch(0, "/", &view, &allowed, &match); /* releases the static arena */
    return failed;
}
