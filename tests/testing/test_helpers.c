/* Tests of libaio_testing (aio_testing.h): the helpers themselves, and
 * through them the engine in-process: dummy requests, coroutines run to
 * completion, the whole serving chain (tweens, authentication, ACLs,
 * traversal, renderers), websocket pairs, tasks, timeouts, teardown.
 * BUILD_DIR names the build with the modules (build/ or build/asan/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <uwsgi-aio/aio_testing.h>

#define SECRET "a-test-secret-that-is-long-enough-0123456789"
#define PROBE BUILD_DIR "/test-views/probe.so"
#define SECURE BUILD_DIR "/views/secure.so"
#define SUSPENDING BUILD_DIR "/test-views/suspending.so"
#define CHAT BUILD_DIR "/views/chat.so"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An application with these options (name, value pairs), started. */
static aio_testing *app(const char *name, ...)
{
    aio_testing *t = aio_testing_new();
    assert_non_null(t);
    va_list ap;
    va_start(ap, name);
    for (; name; name = va_arg(ap, const char *)) {
        const char *value = va_arg(ap, const char *);
        if (aio_testing_option(t, name, value) != AIO_OK)
            fail_msg("option %s=%s: %s", name, value, aio_testing_error(t));
    }
    va_end(ap);
    if (aio_testing_start(t) != AIO_OK)
        fail_msg("start: %s", aio_testing_error(t));
    return t;
}

static void free_app(void **state)
{
    aio_testing_free(*state);
    *state = NULL;
}

static int tear_down(void **state)
{
    if (*state)
        free_app(state);
    return 0;
}

/* ---- the application ------------------------------------------------------ */

static void one_application_at_a_time(void **state)
{
    aio_testing *t = aio_testing_new();
    assert_non_null(t);
    assert_null(aio_testing_new());
    aio_testing_free(t);
    t = aio_testing_new(); /* and another after it */
    assert_non_null(t);
    *state = t;
}

static void options_are_checked(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_option(t, "aio-frobnicate", "1"), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "unknown option 'aio-frobnicate'"));
    assert_int_equal(aio_testing_option(t, "aio-executor-threads", "0"), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "from 1 to 1024"));
    assert_int_equal(aio_testing_option(t, "websockets-max-size", "-3"), AIO_EINVAL);
    assert_int_equal(aio_testing_option(t, "aio-setting", "novalue"), AIO_EINVAL);
    assert_int_equal(aio_testing_option(t, "aio-views", BUILD_DIR "/views/nope.so"),
                     AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "nope.so"));
    assert_int_equal(aio_testing_option(t, "aio-views", PROBE), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-setting", "probe.greeting=hi"), AIO_OK);
    assert_null(aio_testing_request(t, "GET", "/")); /* not started */
    assert_non_null(strstr(aio_testing_error(t), "aio_testing_start"));
    assert_int_equal(aio_testing_start(t), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-max-tasks", "5"), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "too late"));
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
}

/* A module whose aio_main() attaches a view to a route nobody added. */
static int orphan_view(aio_request *req)
{
    return aio_respond_text(req, 200, "never\n");
}

static int broken_app(aio_config *cfg)
{
    return aio_add_view(cfg, "ghost", orphan_view, AIO_COROUTINE);
}

static void configuration_errors_say_what(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "broken", broken_app, "."), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "ghost"));
    assert_non_null(strstr(aio_testing_error(t), "configuration error"));
}

/* ---- the authentication policy's state ------------------------------------ */

struct policy_state {
    int frees;
};
/* Two states: the policy the application keeps, and one it refuses. */
static struct policy_state kept_state, refused_state;

static const char *nobody(aio_request *req, void *state)
{
    (void)req, (void)state;
    return NULL;
}

static int everyone(aio_request *req, void *state, aio_principals *out)
{
    (void)state;
    return aio_principals_add(req, out, AIO_EVERYONE);
}

static int no_remember(aio_request *req, void *state, const char *userid)
{
    (void)req, (void)state, (void)userid;
    return AIO_EINVAL;
}

static int no_forget(aio_request *req, void *state)
{
    (void)req, (void)state;
    return AIO_EINVAL;
}

static void free_policy_state(void *state)
{
    ((struct policy_state *)state)->frees++;
}

static struct aio_authn_policy policy_with(struct policy_state *state)
{
    return (struct aio_authn_policy){.unauthenticated_userid = nobody,
                                     .authenticated_userid = nobody,
                                     .effective_principals = everyone,
                                     .remember = no_remember,
                                     .forget = no_forget,
                                     .state = state,
                                     .free_state = free_policy_state};
}

static int policy_app(aio_config *cfg)
{
    struct aio_authn_policy policy = policy_with(&kept_state);
    return aio_set_authentication_policy(cfg, &policy);
}

/* A second policy is a start-up error: the application keeps the first. */
static int two_policies_app(aio_config *cfg)
{
    struct aio_authn_policy first = policy_with(&kept_state), second = policy_with(&refused_state);
    assert_int_equal(aio_set_authentication_policy(cfg, &first), AIO_OK);
    assert_int_equal(aio_set_authentication_policy(cfg, &second), AIO_EINVAL);
    return 0;
}

static void policy_state_is_freed_once_with_the_app(void **state)
{
    kept_state.frees = 0;
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "policy", policy_app, "."), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_testing_serve(t, req), 404); /* requests use it, and do not free it */
    aio_testing_request_free(req);
    assert_int_equal(kept_state.frees, 0);
    free_app(state);
    assert_int_equal(kept_state.frees, 1);
}

static void policy_state_is_freed_when_start_up_fails(void **state)
{
    kept_state.frees = refused_state.frees = 0;
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "policies", two_policies_app, "."), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_EINVAL);
    assert_non_null(strstr(aio_testing_error(t), "a second authentication policy"));
    free_app(state);
    assert_int_equal(kept_state.frees, 1);
    assert_int_equal(refused_state.frees, 0); /* refused: still the module's */
}

/* ---- dummy requests ----------------------------------------------------------- */

static void dummy_requests(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    assert_null(aio_testing_request(t, "GET", "/bad%zzescape"));
    assert_non_null(strstr(aio_testing_error(t), "percent-escape"));
    assert_null(aio_testing_request(t, "G E T", "/"));
    assert_null(aio_testing_request(t, "GET", "no-slash"));

    aio_request *req = aio_testing_request(t, "POST", "/probe/request?a=1&a=2&msg=caf%C3%A9");
    assert_non_null(req);
    assert_int_equal(aio_testing_set_header(req, "X-Test", "one"), AIO_OK);
    assert_int_equal(aio_testing_set_header(req, "X-Test", "two"), AIO_OK);
    assert_int_equal(aio_testing_set_header(req, "Bad Name", "x"), AIO_EINVAL);
    assert_int_equal(aio_testing_set_header(req, "X-Evil", "a\r\nb"), AIO_EINVAL);
    const char form[] = "b=x+y&b=%21";
    assert_int_equal(aio_testing_set_body(req, "application/x-www-form-urlencoded", form,
                                          strlen(form)),
                     AIO_OK);
    assert_string_equal(aio_header(req, "content-type"), "application/x-www-form-urlencoded");
    assert_int_equal(aio_testing_serve(t, req), 200);
    const char *body = aio_testing_response_body(req, NULL);
    assert_non_null(strstr(body, "method=POST\npath=/probe/request\n"));
    assert_non_null(strstr(body, "remote=127.0.0.1\nroute=request\nx-test=one, two\n"));
    assert_non_null(strstr(body, "param a=1\nparam a=2\nparam b=x y\nparam b=!\n"));
    assert_non_null(strstr(body, "param msg=café\n"));
    assert_non_null(strstr(body, "body-length=11\n"));
    assert_int_equal(aio_testing_serve(t, req), AIO_EINVAL); /* a request runs once */
    aio_testing_request_free(req);
}

static void bad_params_are_400(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_request *req = aio_testing_request(t, "GET", "/probe/request?a=%4");
    assert_int_equal(aio_testing_serve(t, req), 400);
    assert_non_null(strstr(aio_testing_response_body(req, NULL), "400 Bad Request"));
    aio_testing_request_free(req);
}

static void run_view_fills_the_match_dict(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_request *req = aio_testing_request(t, "GET", "/probe/match/42/a/b");
    assert_int_equal(aio_testing_run_view(t, req, "match"), AIO_OK);
    assert_string_equal(aio_testing_response_body(req, NULL), "id=42 rest=a/b");
    aio_testing_request_free(req);
    /* a dummy whose path matches nothing: the match dict is what the test says */
    req = aio_testing_request(t, "GET", "/elsewhere");
    assert_int_equal(aio_testing_set_match(req, "id", "7"), AIO_OK);
    assert_int_equal(aio_testing_set_match(req, "rest", ""), AIO_OK);
    assert_int_equal(aio_testing_run_view(t, req, "match"), AIO_OK);
    assert_string_equal(aio_testing_response_body(req, NULL), "id=7 rest=");
    aio_testing_request_free(req);
    req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_testing_run_view(t, req, "no-such-route"), AIO_ENOTFOUND);
    assert_int_equal(aio_testing_run_view(t, req, "ws_echo"), AIO_EINVAL);
    aio_testing_request_free(req);
}

/* ---- coroutines run to completion ------------------------------------------ */

static int sleepy(aio_request *req)
{
    int rc = aio_sleep(req, 0.05);
    return rc == AIO_OK ? 7 : rc;
}

static void run_a_coroutine_to_completion(void **state)
{
    aio_testing *t = *state = app(NULL);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_sleep(req, 0.01), AIO_ESCOPE); /* not in its coroutine */
    double start = now();
    assert_int_equal(aio_testing_run(t, req, sleepy), 7);
    assert_true(now() - start >= 0.05);
    assert_true(aio_testing_done(req));
    aio_testing_request_free(req);
}

/* A streaming view: in-process its pieces are buffered into one response. */
static int streamer(aio_request *req)
{
    int rc = aio_sse_begin(req, 20);
    if (rc == AIO_OK)
        rc = aio_sse_send(req, &(struct aio_sse_event){.event = "tick", .id = "1",
                                                       .data = "a\nb"});
    if (rc == AIO_OK)
        rc = aio_sse_sleep_ms(req, 50); /* silent for 50 ms: heartbeats meanwhile */
    if (rc == AIO_OK)
        rc = aio_stream_write(req, "raw\n", 4);
    if (rc == AIO_OK)
        rc = aio_stream_end(req);
    if (rc == AIO_OK && aio_stream_write(req, "late", 4) != AIO_EINVAL)
        rc = AIO_ERROR; /* nothing after the end */
    return rc;
}

static void streams_are_buffered_in_process(void **state)
{
    aio_testing *t = *state = app(NULL);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_sse_sleep_ms(req, 10), AIO_ESCOPE); /* not in its coroutine */
    double start = now();
    assert_int_equal(aio_testing_run(t, req, streamer), AIO_OK);
    assert_true(now() - start >= 0.05);
    assert_string_equal(aio_testing_response_header(req, "Content-Type"),
                        "text/event-stream; charset=utf-8");
    assert_string_equal(aio_testing_response_header(req, "Cache-Control"), "no-cache");
    size_t len;
    const char *body = aio_testing_response_body(req, &len);
    /* buffered, nothing was written on the way: no heartbeat was due to
     * keep anything open, and the event is framed line by line */
    const char *want = "event: tick\nid: 1\ndata: a\ndata: b\n\nraw\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(body, want, len);
    aio_testing_request_free(req);
}

static char file_path[64];

static int file_sender(aio_request *req)
{
    if (aio_send_file(req, "/nonexistent/aio-file") != AIO_ENOTFOUND)
        return AIO_ERROR;
    if (aio_send_file(req, "/") != AIO_EINVAL) /* not a regular file */
        return AIO_ERROR;
    return aio_send_file(req, file_path);
}

static void files_are_sent_whole(void **state)
{
    aio_testing *t = *state = app(NULL);
    strcpy(file_path, "/tmp/aio-test-file-XXXXXX");
    int fd = mkstemp(file_path);
    assert_true(fd >= 0);
    char data[200000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
    close(fd);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_testing_run(t, req, file_sender), AIO_OK);
    size_t len;
    const char *body = aio_testing_response_body(req, &len);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(body, data, len);
    aio_testing_request_free(req);
    unlink(file_path);
}

/* What aio_sleep_ms() returned in its coroutine, call by call. */
static int sleep_ms_results[4];

static int sleepy_ms(aio_request *req)
{
    sleep_ms_results[0] = aio_sleep_ms(req, -1);
    sleep_ms_results[1] = aio_sleep_ms(req, AIO_SLEEP_MAX_MS + 1);
    sleep_ms_results[2] = aio_sleep_ms(req, 0);
    sleep_ms_results[3] = aio_sleep_ms(req, 50);
    return AIO_OK;
}

static void sleep_ms_checks_its_range_and_scope(void **state)
{
    aio_testing *t = *state = app(NULL);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_sleep_ms(req, 10), AIO_ESCOPE); /* not in its coroutine */
    assert_int_equal(aio_sleep_ms(NULL, 10), AIO_ESCOPE);
    assert_int_equal(aio_sleep_ms(req, -1), AIO_ESCOPE); /* the scope is checked first */
    double start = now();
    assert_int_equal(aio_testing_run(t, req, sleepy_ms), AIO_OK);
    assert_true(now() - start >= 0.05);
    assert_int_equal(sleep_ms_results[0], AIO_EINVAL);
    assert_int_equal(sleep_ms_results[1], AIO_EINVAL);
    assert_int_equal(sleep_ms_results[2], AIO_OK);
    assert_int_equal(sleep_ms_results[3], AIO_OK);
    aio_testing_request_free(req);
}

static void views_that_fail_are_500_and_logged(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_request *req = aio_testing_request(t, "GET", "/probe/fail");
    assert_int_equal(aio_testing_serve(t, req), 500);
    assert_null(strstr(aio_testing_response_body(req, NULL), "partial output"));
    assert_non_null(strstr(aio_testing_log(t), "view of route 'fail' failed on GET /probe/fail: "
                                               "deliberate failure for the tests"));
    aio_testing_request_free(req);
    /* run directly, the view's own status comes back */
    req = aio_testing_request(t, "GET", "/probe/fail");
    assert_int_equal(aio_testing_run_view(t, req, "fail"), AIO_ERROR);
    aio_testing_request_free(req);
}

static void routing_errors(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_request *req = aio_testing_request(t, "GET", "/nowhere");
    assert_int_equal(aio_testing_serve(t, req), 404);
    aio_testing_request_free(req);
    req = aio_testing_request(t, "GET", "/probe/only-post");
    assert_int_equal(aio_testing_serve(t, req), 405);
    assert_string_equal(aio_testing_response_header(req, "allow"), "POST");
    aio_testing_request_free(req);
    req = aio_testing_request(t, "HEAD", "/probe/match/1/2");
    assert_int_equal(aio_testing_serve(t, req), 200);
    size_t len = 99;
    assert_string_equal(aio_testing_response_body(req, &len), ""); /* HEAD: no body */
    assert_int_equal(len, 0);
    aio_testing_request_free(req);
}

static void a_hung_view_times_out_and_is_cancelled(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_testing_set_timeout(t, 100);
    aio_request *req = aio_testing_request(t, "GET", "/probe/sleep?s=30");
    double start = now();
    assert_int_equal(aio_testing_serve(t, req), AIO_ETIMEDOUT);
    assert_true(now() - start < 2.0);
    assert_non_null(strstr(aio_testing_error(t), "did not end within 100 ms"));
    assert_true(aio_testing_done(req)); /* cancelled: its sleep returned AIO_ECANCELLED */
    aio_testing_request_free(req);
}

static void executor_views_and_run_in_executor(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, "aio-executor-threads", "2", NULL);
    aio_request *req = aio_testing_request(t, "GET", "/probe/default-mapper?ms=10");
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_non_null(strstr(aio_testing_response_body(req, NULL), "executor view: in_coroutine=0 sleep=-2"));
    aio_testing_request_free(req);
    req = aio_testing_request(t, "GET", "/probe/join?ms=10");
    assert_int_equal(aio_testing_serve(t, req), 200);
    aio_testing_request_free(req);
}

/* Executor work that stays in its thread until the test opens the gate,
 * so that the test knows what is running and what is queued. */
static atomic_int gate_open, gate_entered;

static int gated_work(void *arg)
{
    atomic_fetch_add(&gate_entered, 1);
    while (!atomic_load(&gate_open))
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    return (int)(intptr_t)arg;
}

/* GET /run: fn's own value is -10, the number of AIO_EFULL: it comes back
 * in *result, never as the call's status. */
static int run_gated(aio_request *req)
{
    int result = 1;
    int rc = aio_run_in_executor(req, gated_work, (void *)(intptr_t)AIO_EFULL, &result);
    return aio_printf(req, "rc=%d result=%d", rc, result);
}

static int run_gated_app(aio_config *cfg)
{
    aio_add_route(cfg, "run", "/run");
    return aio_add_view(cfg, "run", run_gated, AIO_COROUTINE | AIO_GET);
}

static int open_gate_and_tear_down(void **state)
{
    atomic_store(&gate_open, 1); /* a failed test must not leave a thread blocked */
    return tear_down(state);
}

static aio_request *start_run(aio_testing *t)
{
    aio_request *req = aio_testing_request(t, "GET", "/run");
    assert_int_equal(aio_testing_start_request(t, req), AIO_OK);
    return req;
}

static void run_in_executor_status_is_not_the_result(void **state)
{
    atomic_store(&gate_open, 0);
    atomic_store(&gate_entered, 0);
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "gated", run_gated_app, "."), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-executor-threads", "1"), AIO_OK);
    assert_int_equal(aio_testing_option(t, "aio-executor-queue", "1"), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *running = start_run(t);
    for (int i = 0; i < 500 && !atomic_load(&gate_entered); i++)
        aio_testing_run_for(t, 10);
    assert_int_equal(atomic_load(&gate_entered), 1); /* the one thread runs it ... */
    aio_request *queued = start_run(t);              /* ... this one fills the queue ... */
    aio_request *refused = start_run(t);             /* ... and this one finds it full */
    assert_int_equal(aio_testing_wait(t, refused, 5000), 200);
    assert_string_equal(aio_testing_response_body(refused, NULL), "rc=-10 result=1");
    atomic_store(&gate_open, 1);
    assert_int_equal(aio_testing_wait(t, running, 5000), 200);
    assert_string_equal(aio_testing_response_body(running, NULL), "rc=0 result=-10");
    assert_int_equal(aio_testing_wait(t, queued, 5000), 200);
    assert_string_equal(aio_testing_response_body(queued, NULL), "rc=0 result=-10");
    aio_testing_request_free(running);
    aio_testing_request_free(queued);
    aio_testing_request_free(refused);
}

/* The call's own checks, and a NULL result (fn's value is not wanted). */
static int run_checks(aio_request *req)
{
    int result = 5;
    if (aio_run_in_executor(req, NULL, NULL, &result) != AIO_EINVAL || result != 5)
        return 1;
    if (aio_run_in_executor(NULL, gated_work, NULL, &result) != AIO_ESCOPE)
        return 2;
    return aio_run_in_executor(req, gated_work, (void *)(intptr_t)7, NULL);
}

static void run_in_executor_checks_its_arguments(void **state)
{
    atomic_store(&gate_open, 1);
    aio_testing *t = *state = app(NULL);
    aio_request *req = aio_testing_request(t, "GET", "/");
    int result = 5;
    assert_int_equal(aio_run_in_executor(req, gated_work, NULL, &result), AIO_ESCOPE);
    assert_int_equal(result, 5);
    assert_int_equal(aio_testing_run(t, req, run_checks), AIO_OK);
    aio_testing_request_free(req);
}

static int sleeping_task(aio_request *ctx, void *arg)
{
    (void)arg;
    return aio_sleep_ms(ctx, 60000) == AIO_ECANCELLED ? AIO_OK : AIO_ERROR;
}

/* Spawns two tasks, returns what the second spawn said. */
static int spawn_two(aio_request *req)
{
    (void)req;
    int rc = aio_spawn("first", sleeping_task, NULL, NULL);
    return rc == AIO_OK ? aio_spawn("second", sleeping_task, NULL, NULL) : 1000 + rc;
}

static void spawn_over_max_tasks_is_efull(void **state)
{
    aio_testing *t = *state = app("aio-max-tasks", "1", NULL);
    aio_request *req = aio_testing_request(t, "GET", "/");
    assert_int_equal(aio_testing_run(t, req, spawn_two), AIO_EFULL); /* not AIO_EBUSY */
    aio_testing_request_free(req);
}

static void spawned_tasks_run_and_stop_with_the_app(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    aio_request *req = aio_testing_request(t, "GET", "/probe/spawn?ms=30");
    assert_int_equal(aio_testing_serve(t, req), 200);
    aio_testing_request_free(req);
    aio_testing_run_for(t, 100); /* the task sleeps 30 ms, then counts */
    req = aio_testing_request(t, "GET", "/probe/counter");
    assert_int_equal(aio_testing_serve(t, req), 200);
    long count = -1;
    assert_int_equal(sscanf(aio_testing_response_body(req, NULL), "count=%ld", &count), 1);
    assert_true(count >= 1);
    aio_testing_request_free(req);
    /* one more, left sleeping: aio_testing_free() cancels it */
    req = aio_testing_request(t, "GET", "/probe/spawn?ms=60000");
    assert_int_equal(aio_testing_serve(t, req), 200);
    aio_testing_request_free(req);
    double start = now();
    free_app(state);
    assert_true(now() - start < 2.0);
}

/* ---- renderers and what the router answers by itself ------------------------------ */

/* GET /list: a top-level JSON list; GET /refuse: an explicit 400 from a
 * view that has the json renderer; /items: GET and POST only. */
static int list_view(aio_request *req)
{
    json_t *list = json_pack("[iis]", 1, 2, "three");
    return list ? aio_set_result(req, list) : AIO_ENOMEM;
}

static int refusing_view(aio_request *req)
{
    aio_result_set_string(req, "never", "rendered");
    return aio_respond_text(req, 400, "q is required\n");
}

static int plain_view(aio_request *req)
{
    aio_log(req, "listing %d item(s)\r\nforged: line", 3);
    return aio_respond_text(req, 200, "items\n");
}

static int renderers_app(aio_config *cfg)
{
    aio_add_route(cfg, "list", "/list");
    aio_add_route(cfg, "refuse", "/refuse");
    aio_add_route(cfg, "items", "/items");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "list", .view = list_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "refuse", .view = refusing_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "json"});
    return aio_add_view(cfg, "items", plain_view, AIO_COROUTINE | AIO_GET | AIO_POST);
}

static void renderers_and_router_answers(void **state)
{
    aio_testing *t = *state = aio_testing_new();
    assert_int_equal(aio_testing_add_module(t, "renderers", renderers_app, "."), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *req = aio_testing_request(t, "GET", "/list");
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(aio_testing_response_body(req, NULL), "[1,2,\"three\"]");
    assert_string_equal(aio_testing_response_header(req, "Content-Type"), "application/json");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "GET", "/refuse"); /* the view's answer, not the renderer's */
    assert_int_equal(aio_testing_serve(t, req), 400);
    assert_string_equal(aio_testing_response_body(req, NULL), "q is required\n");
    assert_string_equal(aio_testing_response_header(req, "Content-Type"),
                        "text/plain; charset=utf-8");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "OPTIONS", "/items"); /* no OPTIONS view: the methods */
    assert_int_equal(aio_testing_serve(t, req), 200);
    assert_string_equal(aio_testing_response_header(req, "Allow"), "GET, HEAD, POST, OPTIONS");
    assert_string_equal(aio_testing_response_body(req, NULL), "");
    aio_testing_request_free(req);

    req = aio_testing_request(t, "GET", "/items"); /* aio_log: one line, naming the request */
    assert_int_equal(aio_testing_serve(t, req), 200);
    char line[128];
    snprintf(line, sizeof(line), "GET /items (route 'items', request %llu): listing 3 item(s)  "
             "forged: line\n", (unsigned long long)aio_request_id(req));
    assert_non_null(strstr(aio_testing_log(t), line));
    assert_true(aio_request_id(req) > 0);
    assert_int_equal(aio_request_id(NULL), 0);
    aio_testing_request_free(req);

    req = aio_testing_request(t, "DELETE", "/items"); /* still 405 for the others */
    assert_int_equal(aio_testing_serve(t, req), 405);
    assert_string_equal(aio_testing_response_header(req, "Allow"), "GET, HEAD, POST");
    aio_testing_request_free(req);
    assert_int_equal(aio_set_result(NULL, NULL), AIO_EINVAL);
}

/* ---- authentication, authorization, traversal, renderers ------------------------ */

/* The cookie a response set ("auth_tkt=..."), for the next request. */
static const char *cookie_of(aio_request *res, char *out, size_t size)
{
    const char *set = aio_testing_response_header(res, "Set-Cookie");
    assert_non_null(set);
    size_t n = strcspn(set, ";");
    assert_true(n < size);
    memcpy(out, set, n);
    out[n] = '\0';
    return out;
}

static int serve_as(aio_testing *t, const char *method, const char *target, const char *cookie,
                    char *body, size_t size)
{
    aio_request *req = aio_testing_request(t, method, target);
    if (cookie)
        aio_testing_set_header(req, "Cookie", cookie);
    int status = aio_testing_serve(t, req);
    snprintf(body, size, "%s", aio_testing_response_body(req, NULL));
    aio_testing_request_free(req);
    return status;
}

static void secure_flow(void **state)
{
    aio_testing *t = *state = app("aio-views", SECURE, "aio-setting", "secure.secret=" SECRET,
                                  "aio-tweens", "timing", NULL);
    char body[512], cookie[512];
    assert_int_equal(serve_as(t, "GET", "/whoami", NULL, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"userid\":null}");
    assert_int_equal(serve_as(t, "GET", "/secret", NULL, body, sizeof(body)), 403);

    aio_request *login = aio_testing_request(t, "POST", "/login");
    aio_testing_set_body(login, "application/x-www-form-urlencoded", "user=alice", 10);
    assert_int_equal(aio_testing_serve(t, login), 200);
    assert_non_null(strstr(aio_testing_response_header(login, "Set-Cookie"), "HttpOnly"));
    assert_non_null(aio_testing_response_header(login, "X-Response-Time")); /* the tween */
    cookie_of(login, cookie, sizeof(cookie));
    aio_testing_request_free(login);

    assert_int_equal(serve_as(t, "GET", "/whoami", cookie, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"userid\":\"alice\"}");
    assert_int_equal(serve_as(t, "GET", "/secret", cookie, body, sizeof(body)), 200);
    assert_string_equal(body, "the secret is 42, alice\n");
    assert_int_equal(serve_as(t, "GET", "/admin", cookie, body, sizeof(body)), 403);
    assert_int_equal(serve_as(t, "GET", "/tree/private/plans", cookie, body, sizeof(body)),
                     403);
    assert_int_equal(serve_as(t, "GET", "/tree/docs/readme/history/v1", cookie, body,
                              sizeof(body)),
                     200);
    assert_non_null(strstr(body, "\"subpath\":\"v1\""));

    /* a tampered ticket is nobody */
    char tampered[512];
    snprintf(tampered, sizeof(tampered), "%s", cookie);
    char *at = strchr(tampered, '=') + 3;
    *at = *at == 'a' ? 'b' : 'a';
    assert_int_equal(serve_as(t, "GET", "/whoami", tampered, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"userid\":null}");

    aio_request *as_admin = aio_testing_request(t, "POST", "/login");
    aio_testing_set_body(as_admin, "application/x-www-form-urlencoded", "user=admin", 10);
    assert_int_equal(aio_testing_serve(t, as_admin), 200);
    cookie_of(as_admin, cookie, sizeof(cookie));
    aio_testing_request_free(as_admin);
    assert_int_equal(serve_as(t, "GET", "/admin", cookie, body, sizeof(body)), 200);
    assert_int_equal(serve_as(t, "GET", "/tree/private/plans", cookie, body, sizeof(body)),
                     200);
    assert_non_null(strstr(body, "World domination"));

    aio_request *logout = aio_testing_request(t, "POST", "/logout");
    aio_testing_set_header(logout, "Cookie", cookie);
    assert_int_equal(aio_testing_serve(t, logout), 200);
    assert_non_null(strstr(aio_testing_response_header(logout, "Set-Cookie"), "Max-Age=0"));
    aio_testing_request_free(logout);
}

/* Userids spelled like other principals do not log in: the module's login
 * answers 400 (aio_remember refused them) and sets no cookie. */
static void reserved_userids_do_not_log_in(void **state)
{
    aio_testing *t = *state = app("aio-views", SECURE, "aio-setting", "secure.secret=" SECRET,
                                  NULL);
    const char *forms[] = {"user=system.Everyone", "user=system.Authenticated",
                           "user=group%3Aadmins", NULL};
    for (int i = 0; forms[i]; i++) {
        aio_request *login = aio_testing_request(t, "POST", "/login");
        aio_testing_set_body(login, "application/x-www-form-urlencoded", forms[i],
                             strlen(forms[i]));
        if (aio_testing_serve(t, login) != 400)
            fail_msg("%s: not refused", forms[i]);
        assert_null(aio_testing_response_header(login, "Set-Cookie"));
        aio_testing_request_free(login);
    }
    assert_null(strstr(aio_testing_log(t), "example secret")); /* SECRET is not it */
}

/* The secret example.ini publishes is warned about at start-up. */
static void example_secret_is_warned_about(void **state)
{
    aio_testing *t = *state = app("aio-views", SECURE, "aio-setting",
                                  "secure.secret=example-only-secret-change-me-0123456789", NULL);
    assert_non_null(strstr(aio_testing_log(t), "authtkt: WARNING: the secret is the published "
                                               "example secret"));
}

/* The proof, in-process: 100 requests whose tween, traversal
 * lookup, groupfinder and ACL each sleep 100 ms finish together. */
static void suspending_callbacks_run_concurrently(void **state)
{
    aio_testing *t = *state = app("aio-views", SUSPENDING, "aio-setting",
                                  "slow.secret=" SECRET, NULL);
    char body[256], cookie[512];
    aio_request *login = aio_testing_request(t, "POST", "/login");
    assert_int_equal(aio_testing_serve(t, login), 200);
    cookie_of(login, cookie, sizeof(cookie));
    aio_testing_request_free(login);

    double start = now();
    assert_int_equal(serve_as(t, "GET", "/items/item", cookie, body, sizeof(body)), 200);
    assert_string_equal(body, "sleeper\n");
    assert_true(now() - start >= 0.4); /* four 100 ms pauses, one after another */

    enum { N = 100 };
    aio_request *reqs[N];
    start = now();
    for (int i = 0; i < N; i++) {
        reqs[i] = aio_testing_request(t, "GET", "/items/item");
        aio_testing_set_header(reqs[i], "Cookie", cookie);
        assert_int_equal(aio_testing_start_request(t, reqs[i]), AIO_OK);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(aio_testing_wait(t, reqs[i], 5000), 200);
        assert_string_equal(aio_testing_response_body(reqs[i], NULL), "sleeper\n");
        aio_testing_request_free(reqs[i]);
    }
    double elapsed = now() - start;
    assert_true(elapsed >= 0.4);
    assert_true(elapsed < 0.8);
}

/* ---- websocket pairs ---------------------------------------------------------- */

static aio_msg *recv_text(aio_testing_ws *ws, const char *expected)
{
    aio_msg *msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_int_equal(aio_msg_type(msg), AIO_MSG_TEXT);
    if (expected)
        assert_string_equal(aio_msg_data(msg, NULL), expected);
    return msg;
}

static void websocket_pairs_broadcast(void **state)
{
    aio_testing *t = *state = app("aio-views", CHAT, NULL);
    int status = 0;
    aio_testing_ws *a = aio_testing_ws_connect(t, "/chat/ws", &status, NULL);
    aio_testing_ws *b = aio_testing_ws_connect(t, "/chat/ws", &status, NULL);
    assert_non_null(a);
    assert_non_null(b);
    aio_msg_free(recv_text(a, NULL)); /* "* you are #n" */
    aio_msg_free(recv_text(b, NULL));
    assert_int_equal(aio_testing_ws_send_text(a, "hello room"), AIO_OK);
    aio_msg_free(recv_text(a, "hello room"));
    aio_msg_free(recv_text(b, "hello room"));
    /* b leaves without a word: a keeps talking, to itself now */
    aio_testing_ws_free(b);
    assert_int_equal(aio_testing_ws_send_text(a, "anyone?"), AIO_OK);
    aio_msg_free(recv_text(a, "anyone?"));
    assert_int_equal(aio_testing_ws_close(a, 1001, "going"), 1001);
    assert_int_equal(aio_testing_ws_send_text(a, "too late"), AIO_ECLOSED);
    aio_testing_ws_free(a);
}

static void websocket_refusals(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, NULL);
    int status = 0;
    assert_null(aio_testing_ws_connect(t, "/nowhere", &status, NULL));
    assert_int_equal(status, 404);
    assert_null(aio_testing_ws_connect(t, "/probe/only-post", &status, NULL));
    assert_int_equal(status, 405);
    assert_null(aio_testing_ws_connect(t, "/probe/ws/echo/1", &status, "Sec-WebSocket-Version",
                                       "8", NULL));
    assert_int_equal(status, 426); /* the version, joined after 13, is not 13 */
}

static void websocket_pair_bytes_and_protocol(void **state)
{
    aio_testing *t = *state = app("aio-views", PROBE, "websockets-max-size", "1", NULL);
    int status = 0;
    aio_testing_ws *ws = aio_testing_ws_connect(t, "/probe/ws/bytes", &status, NULL);
    assert_non_null(ws);
    assert_int_equal(aio_testing_ws_send_text(ws, "as bytes"), AIO_OK);
    aio_msg *msg = aio_testing_ws_recv(ws, 5000);
    assert_non_null(msg);
    assert_int_equal(aio_msg_type(msg), AIO_MSG_BINARY); /* AIO_WS_BYTES */
    aio_msg_free(msg);
    /* over websockets-max-size (1 KiB): the server closes with 1009 */
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(aio_testing_ws_send_text(ws, big), AIO_OK);
    assert_null(aio_testing_ws_recv(ws, 5000));
    assert_int_equal(aio_testing_ws_close_code(ws), 1009);
    aio_testing_ws_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(one_application_at_a_time, tear_down),
        cmocka_unit_test_teardown(options_are_checked, tear_down),
        cmocka_unit_test_teardown(configuration_errors_say_what, tear_down),
        cmocka_unit_test_teardown(policy_state_is_freed_once_with_the_app, tear_down),
        cmocka_unit_test_teardown(policy_state_is_freed_when_start_up_fails, tear_down),
        cmocka_unit_test_teardown(dummy_requests, tear_down),
        cmocka_unit_test_teardown(bad_params_are_400, tear_down),
        cmocka_unit_test_teardown(run_view_fills_the_match_dict, tear_down),
        cmocka_unit_test_teardown(run_a_coroutine_to_completion, tear_down),
        cmocka_unit_test_teardown(sleep_ms_checks_its_range_and_scope, tear_down),
        cmocka_unit_test_teardown(streams_are_buffered_in_process, tear_down),
        cmocka_unit_test_teardown(files_are_sent_whole, tear_down),
        cmocka_unit_test_teardown(views_that_fail_are_500_and_logged, tear_down),
        cmocka_unit_test_teardown(routing_errors, tear_down),
        cmocka_unit_test_teardown(a_hung_view_times_out_and_is_cancelled, tear_down),
        cmocka_unit_test_teardown(executor_views_and_run_in_executor, tear_down),
        cmocka_unit_test_teardown(run_in_executor_status_is_not_the_result,
                                  open_gate_and_tear_down),
        cmocka_unit_test_teardown(run_in_executor_checks_its_arguments, tear_down),
        cmocka_unit_test_teardown(spawned_tasks_run_and_stop_with_the_app, tear_down),
        cmocka_unit_test_teardown(spawn_over_max_tasks_is_efull, tear_down),
        cmocka_unit_test_teardown(secure_flow, tear_down),
        cmocka_unit_test_teardown(reserved_userids_do_not_log_in, tear_down),
        cmocka_unit_test_teardown(example_secret_is_warned_about, tear_down),
        cmocka_unit_test_teardown(suspending_callbacks_run_concurrently, tear_down),
        cmocka_unit_test_teardown(websocket_pairs_broadcast, tear_down),
        cmocka_unit_test_teardown(websocket_refusals, tear_down),
        cmocka_unit_test_teardown(websocket_pair_bytes_and_protocol, tear_down),
        cmocka_unit_test_teardown(renderers_and_router_answers, tear_down),
    };
    return cmocka_run_group_tests_name("libaio_testing", tests, NULL, NULL);
}
