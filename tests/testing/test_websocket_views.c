/* Websocket views declared through aio_add_view_spec(): a permission guards
 * the handshake like any view's, a traversal view name selects the view,
 * and mistakes in the spec are configuration errors. Reading a connection
 * from outside its coroutine stops the worker. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <uwsgi-aio/aio_testing.h>

/* The claimed user is the X-User header; every claim is believed. */
static const char *header_user(aio_request *req, void *state)
{
    (void)state;
    return aio_header(req, "X-User");
}

static int principals(aio_request *req, void *state, aio_principals *out)
{
    const char *user = header_user(req, state);
    int rc = aio_principals_add(req, out, AIO_EVERYONE);
    if (rc == AIO_OK && user)
        rc = aio_principals_add(req, out, user);
    return rc;
}

static int no_cookie(aio_request *req, void *state, const char *userid)
{
    (void)req, (void)state, (void)userid;
    return AIO_OK;
}

static int no_forget(aio_request *req, void *state)
{
    (void)req, (void)state;
    return AIO_OK;
}

static const struct aio_ace only_alice[] = {{AIO_ALLOW, "alice", "talk"}};

static int root_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *count)
{
    (void)req, (void)context;
    *acl = only_alice;
    *count = 1;
    return AIO_OK;
}

static int echo(aio_ws *ws)
{
    aio_msg *msg;
    while ((msg = aio_ws_recv(ws)) != NULL) {
        int rc = aio_ws_send(ws, msg);
        aio_msg_free(msg);
        if (rc != AIO_OK)
            return aio_ws_ignore_closed(rc);
    }
    return AIO_OK;
}

static int greet(aio_ws *ws)
{
    return aio_ws_ignore_closed(aio_ws_send_text(ws, "hello from a callback view"));
}

static const struct aio_ws_callbacks greeter = {.on_open = greet, .on_message = NULL};

static int ignore_message(aio_ws *ws, const aio_msg *msg)
{
    (void)ws, (void)msg;
    return AIO_OK;
}

static const struct aio_ws_callbacks greeter_cb = {.on_open = greet,
                                                   .on_message = ignore_message};

static int guarded_main(aio_config *cfg)
{
    struct aio_authn_policy policy = {
        .unauthenticated_userid = header_user,
        .authenticated_userid = header_user,
        .effective_principals = principals,
        .remember = no_cookie,
        .forget = no_forget,
    };
    int rc = aio_set_authentication_policy(cfg, &policy);
    rc = rc ? rc : aio_set_root_acl(cfg, root_acl);
    rc = rc ? rc : aio_add_route(cfg, "talk", "/talk");
    rc = rc ? rc : aio_add_view_spec(cfg, &(struct aio_view_spec){
                                              .route = "talk", .websocket = echo,
                                              .permission = "talk"});
    rc = rc ? rc : aio_add_route(cfg, "hello", "/hello");
    rc = rc ? rc : aio_add_view_spec(cfg, &(struct aio_view_spec){
                                              .route = "hello", .ws_callbacks = &greeter_cb});
    return rc;
}

static aio_testing *started(int (*main_fn)(aio_config *))
{
    aio_testing *t = aio_testing_new();
    assert_non_null(t);
    assert_int_equal(aio_testing_add_module(t, "wsviews", main_fn, NULL), AIO_OK);
    return t;
}

static void permission_guards_the_handshake(void **state)
{
    (void)state;
    aio_testing *t = started(guarded_main);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    int status = 0;
    assert_null(aio_testing_ws_connect(t, "/talk", &status, NULL));
    assert_int_equal(status, 403);
    assert_null(aio_testing_ws_connect(t, "/talk", &status, "X-User", "bob", NULL));
    assert_int_equal(status, 403);
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/talk", &status, "X-User", "alice", NULL);
    assert_non_null(ws);
    assert_int_equal(status, 101);
    assert_int_equal(aio_testing_ws_send_text(ws, "hi"), AIO_OK);
    aio_msg *msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_string_equal(aio_msg_data(msg, NULL), "hi");
    aio_msg_free(msg);
    assert_int_equal(aio_testing_ws_close(ws, 1000, NULL), 1000);
    aio_testing_ws_free(ws);
    aio_testing_free(t);
}

static void callbacks_through_the_spec(void **state)
{
    (void)state;
    aio_testing *t = started(guarded_main);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    int status = 0;
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/hello", &status, NULL);
    assert_non_null(ws);
    aio_msg *msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_string_equal(aio_msg_data(msg, NULL), "hello from a callback view");
    aio_msg_free(msg);
    aio_testing_ws_free(ws);
    aio_testing_free(t);
}

static int both_main(aio_config *cfg)
{
    aio_add_route(cfg, "x", "/x");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "x", .websocket = echo,
                                                          .ws_callbacks = &greeter_cb});
}

static int renderer_main(aio_config *cfg)
{
    aio_add_route(cfg, "x", "/x");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "x", .websocket = echo,
                                                          .renderer = "json"});
}

static int no_message_main(aio_config *cfg)
{
    aio_add_route(cfg, "x", "/x");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "x", .ws_callbacks = &greeter});
}

static aio_ws *kept;

static int keep_and_echo(aio_ws *ws)
{
    kept = ws;
    return echo(ws);
}

static int keeper_main(aio_config *cfg)
{
    int rc = aio_add_route(cfg, "keep", "/keep");
    return rc ? rc : aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "keep",
                                                                     .websocket = keep_and_echo});
}

/* In a child: a view reads its connection (and waits in aio_ws_recv), then
 * the test reads the same connection from outside any coroutine. */
static void misuse_in_child(int with_null)
{
    aio_testing *t = started(keeper_main);
    if (aio_testing_start(t) != AIO_OK)
        _exit(2);
    int status = 0;
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/keep", &status, NULL);
    if (!ws || !kept)
        _exit(3);
    aio_ws_recv(with_null ? NULL : kept); /* aborts */
    _exit(4);
}

static void recv_outside_the_connections_coroutine_aborts(void **state)
{
    (void)state;
    for (int with_null = 0; with_null < 2; with_null++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            misuse_in_child(with_null);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
            fail_msg("misuse %d: the child ended with status 0x%x, not SIGABRT", with_null,
                     status);
    }
}

static void spec_mistakes_are_configuration_errors(void **state)
{
    (void)state;
    static const struct {
        int (*main_fn)(aio_config *);
        const char *says;
    } cases[] = {
        {both_main, "one of them"},
        {renderer_main, "a websocket view has no renderer"},
        {no_message_main, "the view function is NULL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aio_testing *t = started(cases[i].main_fn);
        assert_int_equal(aio_testing_start(t), AIO_EINVAL);
        if (!strstr(aio_testing_error(t), cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, aio_testing_error(t), cases[i].says);
        aio_testing_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(permission_guards_the_handshake),
        cmocka_unit_test(callbacks_through_the_spec),
        cmocka_unit_test(spec_mistakes_are_configuration_errors),
        cmocka_unit_test(recv_outside_the_connections_coroutine_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
