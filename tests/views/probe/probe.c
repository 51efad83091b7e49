/* A view module for the integration tests: each view exposes one piece of
 * the API over HTTP so the tests can check it on a real uwsgi. */
#define _DEFAULT_SOURCE /* usleep() */
#include <uwsgi-aio/aio.h>
#include <uwsgi-aio/aio_http.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

/* The loop thread (aio_main runs on it): executor views must not. */
static pthread_t loop_thread;
/* Only ever touched on the loop thread (coroutine views and tasks). */
static long background_done, heartbeats;

/* Results of calls made from aio_main(), outside any coroutine. */
static int main_sleep_rc = 1, main_wait_rc = 1, main_in_coroutine = -1;
static pid_t main_pid = -1;
/* A pipe nobody writes to: a shared fd two requests can try to wait on. */
static int idle_pipe[2] = {-1, -1};

/* GET/POST /probe/request: what the request looked like to the view. */
static int request_view(aio_request *req)
{
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    aio_printf(req, "method=%s\npath=%s\nquery=%s\nremote=%s\nroute=%s\n", aio_method(req),
               aio_path(req), aio_query_string(req), aio_remote_addr(req), aio_route_name(req));
    const char *x = aio_header(req, "X-Test");
    aio_printf(req, "x-test=%s\n", x ? x : "(none)");
    const char *names[] = {"a", "b", "msg", "sleep"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *values[8];
        size_t n = aio_params(req, names[i], values, 8);
        for (size_t k = 0; k < n && k < 8; k++)
            aio_printf(req, "param %s=%s\n", names[i], values[k]);
    }
    size_t len;
    aio_body(req, &len);
    aio_printf(req, "body-length=%zu\n", len);
    return AIO_OK;
}

/* /probe/match/{id}/{rest:.*} */
static int match_view(aio_request *req)
{
    return aio_printf(req, "id=%s rest=%s", aio_match(req, "id"), aio_match(req, "rest"));
}

/* POST /probe/body: the body, back. */
static int body_view(aio_request *req)
{
    size_t len;
    const char *body = aio_body(req, &len);
    aio_add_header(req, "Content-Type", "application/octet-stream");
    return aio_write_body(req, body, len);
}

static int fail_view(aio_request *req)
{
    aio_printf(req, "this partial output must not be sent");
    return aio_fail(req, "deliberate failure for the tests");
}

static int bare_error_view(aio_request *req)
{
    (void)req;
    return AIO_EINVAL;
}

/* /probe/scope: ScopeError outside coroutines, none inside. */
static int scope_view(aio_request *req)
{
    aio_request *other = aio_alloc(req, 1); /* not a request: wrong scope */
    (void)other;
    aio_printf(req, "main: sleep=%d wait=%d in_coroutine=%d\nview: in_coroutine=%d "
                    "sleep_null=%d sleep_nan=%d sleep_negative=%d\n",
               main_sleep_rc, main_wait_rc, main_in_coroutine, aio_in_coroutine(),
               aio_sleep(NULL, 0.01), aio_sleep(req, 0.0 / 0.0), aio_sleep(req, -1));
    return aio_printf(req, "view: sleep_ms_null=%d sleep_ms_negative=%d sleep_ms_over=%d\n",
                      aio_sleep_ms(NULL, 10), aio_sleep_ms(req, -1),
                      aio_sleep_ms(req, AIO_SLEEP_MAX_MS + 1));
}

/* /probe/sleep?s=seconds: reports what aio_sleep returned, on stderr too
 * (the log), because a cancelled request sends nothing. */
static int sleep_view(aio_request *req)
{
    double s = aio_param_double(req, "s", 1.0);
    int rc = aio_sleep(req, s);
    fprintf(stderr, "probe: sleep(%g) returned %d (%s)\n", s, rc, aio_strerror(rc));
    if (rc == AIO_ECANCELLED)
        return rc;
    return aio_printf(req, "slept rc=%d\n", rc);
}

/* /probe/wait?mode=ready|timeout|shared&ms=N */
static int wait_view(aio_request *req)
{
    const char *mode = aio_param(req, "mode");
    long ms = aio_param_long(req, "ms", 100);
    int rc;
    if (mode && strcmp(mode, "shared") == 0) {
        rc = aio_wait_fd(req, idle_pipe[0], AIO_READ, (int)ms);
    } else {
        int fds[2];
        if (pipe(fds) != 0)
            return aio_fail(req, "pipe: %s", strerror(errno));
        if (mode && strcmp(mode, "ready") == 0 && write(fds[1], "x", 1) != 1)
            rc = AIO_ERROR;
        else
            rc = aio_wait_fd(req, fds[0], AIO_READ, (int)ms);
        close(fds[0]);
        close(fds[1]);
    }
    return aio_printf(req, "wait rc=%d (%s)\n", rc, rc > 0 ? "ready" : aio_strerror(rc));
}

/* /probe/big?n=bytes: a large response, to make the writes suspend. */
static int big_view(aio_request *req)
{
    long n = aio_param_long(req, "n", 1 << 20);
    if (n < 0 || n > (64L << 20))
        return aio_respond_text(req, 400, "n out of range\n");
    char chunk[4096];
    memset(chunk, 'z', sizeof(chunk));
    for (long done = 0; done < n; done += (long)sizeof(chunk)) {
        size_t len = (size_t)(n - done < (long)sizeof(chunk) ? n - done : (long)sizeof(chunk));
        if (aio_write_body(req, chunk, len) != AIO_OK)
            return AIO_ENOMEM;
    }
    return AIO_OK;
}

/* Uses about `kb` KiB of stack: how deep a view may go is aio-stack-size. */
static int burn_stack(long kb)
{
    volatile char frame[1024];
    frame[0] = (char)kb;
    frame[sizeof(frame) - 1] = 1;
    return kb <= 1 ? frame[0] : burn_stack(kb - 1) + frame[sizeof(frame) - 1];
}

static int deep_view(aio_request *req)
{
    long kb = aio_param_long(req, "kb", 10);
    return aio_printf(req, "deep %d\n", burn_stack(kb));
}

/* GET /probe/frame?kb=N: one frame of N KiB, sized from the request (a
 * VLA). Larger than the stack, it must fault in the guard region, never
 * write into the neighbouring coroutine's stack and answer. */
static int frame_view(aio_request *req)
{
    long kb = aio_param_long(req, "kb", 1);
    if (kb < 1 || kb > 65536)
        return aio_respond_text(req, 400, "kb must be from 1 to 65536\n");
    size_t size = (size_t)kb * 1024;
    volatile char frame[size];
    frame[0] = 'x'; /* the lowest byte first, as careless code would */
    frame[size - 1] = frame[0];
    return aio_printf(req, "frame %ld %c\n", kb, frame[size - 1]);
}

/* GET /probe/crash?how=segv|abort|fpe (&where=executor): a view that takes
 * the worker down, for the crash report. */
static int crash_now(const char *how)
{
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "fpe") == 0) {
        volatile int seven = 7, zero = 0; /* both unknown to the compiler: a real idiv */
        return seven / zero;
    }
    static volatile uintptr_t nowhere = 16; /* an address the compiler cannot see through */
    return *(volatile int *)nowhere;
}

static int crash_view(aio_request *req)
{
    const char *how = aio_param(req, "how") ? aio_param(req, "how") : "segv";
    return aio_printf(req, "survived %d\n", crash_now(how));
}

static int crash_in_thread(aio_request *req)
{
    return crash_view(req);
}

/* ---- executor ---------------------------------------------------------- */

/* An executor view: blocks, and uses the request API from its thread. */
static int executor_view(aio_request *req)
{
    long ms = aio_param_long(req, "ms", 10);
    usleep((useconds_t)ms * 1000);
    int on_loop = pthread_equal(pthread_self(), loop_thread);
    aio_add_header(req, "X-Thread", on_loop ? "loop" : "executor");
    return aio_printf(req, "executor view: in_coroutine=%d sleep=%d who=%s\n", aio_in_coroutine(),
                      aio_sleep(req, 0.01), aio_param(req, "who") ? aio_param(req, "who") : "");
}

struct blocking_call {
    long ms;
    int fail;
    int on_loop;
};

static int blocking_work(void *arg)
{
    struct blocking_call *call = arg;
    usleep((useconds_t)call->ms * 1000);
    call->on_loop = pthread_equal(pthread_self(), loop_thread);
    return call->fail ? -42 : (int)call->ms * 2;
}

/* /probe/run?ms=N&fail=1: a coroutine view with one blocking call. */
static int run_view(aio_request *req)
{
    struct blocking_call call = {aio_param_long(req, "ms", 10), aio_param_long(req, "fail", 0) != 0,
                                 -1};
    int result = 0;
    int rc = aio_run_in_executor(req, blocking_work, &call, &result);
    if (rc == AIO_ECANCELLED || aio_is_cancelled(req))
        fprintf(stderr, "probe: run_in_executor(%ld) came back to a cancelled request\n", call.ms);
    if (rc != AIO_OK)
        return aio_printf(req, "run rc=%d (%s)\n", rc, aio_strerror(rc));
    return aio_printf(req, "result=%d on_loop=%d\n", result, call.on_loop);
}

/* ---- tasks ------------------------------------------------------------- */

static int background(aio_request *ctx, void *arg)
{
    long ms = (long)(intptr_t)arg;
    int rc = aio_sleep_ms(ctx, ms);
    if (rc != AIO_OK)
        return rc;
    background_done++;
    fprintf(stderr, "probe: background task done (count=%ld)\n", background_done);
    return AIO_OK;
}

/* /probe/spawn?ms=N: starts a task and answers at once. */
static int spawn_view(aio_request *req)
{
    long ms = aio_param_long(req, "ms", 100);
    int rc = aio_spawn("background", background, (void *)(intptr_t)ms, NULL);
    return aio_printf(req, "spawned rc=%d count=%ld\n", rc, background_done);
}

static int counter_view(aio_request *req)
{
    return aio_printf(req, "count=%ld heartbeats=%ld\n", background_done, heartbeats);
}

static int joined_task(aio_request *ctx, void *arg)
{
    struct blocking_call *call = arg;
    if (aio_sleep(ctx, 0.05) != AIO_OK)
        return AIO_ECANCELLED;
    int result = 0;
    int rc = aio_run_in_executor(ctx, blocking_work, call, &result); /* a task may use it too */
    return rc == AIO_OK ? result : rc;
}

/* /probe/join?ms=N: a task that sleeps then blocks in the executor, joined. */
static int join_view(aio_request *req)
{
    struct blocking_call call = {aio_param_long(req, "ms", 10), 0, -1};
    aio_task *task;
    int rc = aio_spawn("joined", joined_task, &call, &task);
    if (rc != AIO_OK)
        return aio_fail(req, "spawn: %s", aio_strerror(rc));
    int result = 0;
    rc = aio_join(req, task, &result);
    return aio_printf(req, "join rc=%d result=%d\n", rc, result);
}

static int failing_task(aio_request *ctx, void *arg)
{
    (void)arg;
    aio_sleep(ctx, 0.01);
    return aio_fail(ctx, "the background work went wrong");
}

static int spawn_fail_view(aio_request *req)
{
    return aio_printf(req, "spawned rc=%d\n", aio_spawn("failing", failing_task, NULL, NULL));
}

/* Started by aio_main(): runs until the worker stops (which cancels it). */
static int heartbeat(aio_request *ctx, void *arg)
{
    (void)arg;
    while (aio_sleep(ctx, 0.1) == AIO_OK)
        heartbeats++;
    fprintf(stderr, "probe: heartbeat stopped (cancelled=%d)\n", aio_is_cancelled(ctx));
    return AIO_OK;
}

/* ---- websockets -------------------------------------------------------- */

/* /probe/ws/echo: echo, plus a few commands to exercise the API. */
static int ws_echo(aio_ws *ws)
{
    aio_msg *msg;
    while ((msg = aio_ws_recv(ws)) != NULL) {
        size_t len;
        const char *data = aio_msg_data(msg, &len);
        int rc;
        if (strcmp(data, "close-4000") == 0) {
            aio_msg_free(msg);
            aio_ws_close(ws, 4000, "bye now");
            fprintf(stderr, "probe: ws closed by the view, code %d\n", aio_ws_close_code(ws));
            return AIO_OK;
        } else if (strcmp(data, "sleep") == 0) {
            rc = aio_sleep(aio_ws_request(ws), 30);
            fprintf(stderr, "probe: ws sleep returned %d\n", rc);
        } else if (strcmp(data, "fail") == 0) {
            aio_msg_free(msg);
            return aio_fail(aio_ws_request(ws), "deliberate websocket failure");
        } else if (strcmp(data, "info") == 0) {
            char info[256];
            const char *ua = aio_header(aio_ws_request(ws), "User-Agent");
            snprintf(info, sizeof(info), "route=%s id=%s ua=%s open=%d",
                     aio_route_name(aio_ws_request(ws)), aio_match(aio_ws_request(ws), "id"),
                     ua ? ua : "", aio_ws_is_open(ws));
            rc = aio_ws_send_text(ws, info);
        } else if (strcmp(data, "pid") == 0) {
            char pid[32];
            snprintf(pid, sizeof(pid), "pid=%d", (int)getpid());
            rc = aio_ws_send_text(ws, pid);
        } else if (strcmp(data, "bad-text") == 0) {
            rc = aio_ws_send_text(ws, "\xc0\xaf");
            aio_ws_send_text(ws, rc == AIO_EINVAL ? "refused invalid UTF-8" : "sent invalid UTF-8");
        } else {
            rc = aio_ws_send(ws, msg);
        }
        aio_msg_free(msg);
        if (rc == AIO_ECLOSED)
            return rc;
    }
    return AIO_OK;
}

/* /probe/ws/flood: sends until the socket closes, then returns AIO_ECLOSED
 * (quiet with aio-ignore-websocket-closed). */
static int ws_flood(aio_ws *ws)
{
    char chunk[1024];
    memset(chunk, 'f', sizeof(chunk));
    int rc;
    while ((rc = aio_ws_send_binary(ws, chunk, sizeof(chunk))) == AIO_OK)
        if (aio_sleep(aio_ws_request(ws), 0.001) != AIO_OK)
            break;
    if (rc == AIO_OK) /* the sleep was cancelled: the peer is gone */
        rc = aio_ws_is_open(ws) ? AIO_ECANCELLED : AIO_ECLOSED;
    fprintf(stderr, "probe: flood ended with %d\n", rc);
    return rc;
}

static int cb_open(aio_ws *ws)
{
    return aio_ws_send_text(ws, "welcome");
}

/* Echoes, except for a few commands that show what a callback may do in
 * a later turn: read its request, suspend, fail, close. */
static int cb_message(aio_ws *ws, const aio_msg *msg)
{
    const char *text = aio_msg_data(msg, NULL);
    aio_request *req = aio_ws_request(ws);
    if (strcmp(text, "request") == 0) {
        const char *tag = aio_param(req, "tag");
        char line[256];
        snprintf(line, sizeof(line), "path=%s tag=%s remote=%s", aio_path(req),
                 tag ? tag : "-", aio_remote_addr(req));
        return aio_ws_send_text(ws, line);
    }
    if (strcmp(text, "sleep") == 0) {
        int rc = aio_sleep(req, 0.3);
        return rc == AIO_OK ? aio_ws_send_text(ws, "slept") : rc;
    }
    if (strcmp(text, "fail") == 0)
        return aio_fail(req, "deliberate callback failure");
    if (strcmp(text, "close") == 0)
        return aio_ws_close(ws, 4000, "asked to");
    return aio_ws_send(ws, msg);
}

static void cb_close(aio_ws *ws, int code)
{
    fprintf(stderr, "probe: callback view closed with %d (id %llu)\n", code,
            (unsigned long long)aio_ws_id(ws));
}

static int setting_view(aio_request *req)
{
    const char *key = aio_param(req, "key");
    const char *value = key ? aio_setting(req, key) : NULL;
    return aio_printf(req, "%s=%s\n", key ? key : "", value ? value : "(unset)");
}

/* /probe/file: the file named by the setting probe.file (404 without). */
static int file_view(aio_request *req)
{
    const char *path = aio_setting(req, "probe.file");
    aio_add_header(req, "Content-Type", "application/octet-stream");
    int rc = path ? aio_send_file(req, path) : AIO_ENOTFOUND;
    if (rc == AIO_ENOTFOUND)
        return aio_respond_text(req, 404, "no probe.file\n");
    return rc;
}

static int only_post(aio_request *req)
{
    return aio_respond_text(req, 200, "posted\n");
}

/* GET /probe/redirect?to=...: a 303 there (400 when aio_redirect refuses) */
static int redirect_view(aio_request *req)
{
    if (aio_redirect(req, 303, aio_param(req, "to")) != AIO_OK)
        return aio_respond_text(req, 400, "not a redirect target\n");
    return AIO_OK;
}

/* GET /probe/cookies: two cookies set, one deleted */
static int cookies_view(aio_request *req)
{
    int rc = aio_set_cookie(req, "theme", "dark",
                            &(struct aio_cookie_options){.max_age_s = 86400, .http_only = 1,
                                                         .same_site = "Lax"});
    if (rc == AIO_OK)
        rc = aio_set_cookie(req, "lang", "fr", NULL);
    if (rc == AIO_OK)
        rc = aio_delete_cookie(req, "old", NULL);
    return rc == AIO_OK ? aio_respond_text(req, 200, "cookies\n") : rc;
}

/* POST /probe/notes: echoes the JSON body's "title" */
static int notes_view(aio_request *req)
{
    json_t *note;
    int rc = aio_json_body(req, &note);
    if (rc != AIO_OK)
        return rc;
    const char *title = json_string_value(json_object_get(note, "title"));
    return aio_printf(req, "title=%s\n", title ? title : "-");
}

/* GET /probe/negotiate: JSON or HTML, as the client's Accept prefers
 * (two views, told apart by their accept predicates) */
static int negotiate_json(aio_request *req)
{
    aio_add_header(req, "Content-Type", "application/json");
    return aio_printf(req, "{\"as\":\"json\"}");
}

static int negotiate_html(aio_request *req)
{
    aio_add_header(req, "Content-Type", "text/html; charset=utf-8");
    return aio_printf(req, "<p>as html</p>");
}

/* GET /probe/queries?queries=N&name=W: declared parameters, checked
 * before the view runs (1 <= N <= 500; W letters only) */
static int queries_view(aio_request *req)
{
    long n = 0;
    aio_param_to_long(req, "queries", &n);
    return aio_printf(req, "queries=%ld\n", n);
}

static const struct aio_param_rule queries_rules[] = {
    {.name = "queries", .flags = AIO_PARAM_REQUIRED | AIO_PARAM_INTEGER | AIO_PARAM_RANGE,
     .min = 1, .max = 500},
    {.name = "name", .regex = "[A-Za-z]+"},
    {0},
};

/* With probe.error-pages = json: the application's error pages, as JSON. */
static int json_error_page(aio_request *req, int status, const char *detail)
{
    json_t *page = json_pack("{s:i, s:s?}", "error", status, "detail", detail);
    char *text = page ? json_dumps(page, JSON_COMPACT) : NULL;
    json_decref(page);
    int rc = text ? aio_add_header(req, "Content-Type", "application/json") : AIO_ENOMEM;
    if (rc == AIO_OK)
        rc = aio_printf(req, "%s", text);
    free(text);
    return rc;
}

/* GET /probe/pid: which process answered, the process aio_main() ran in, and
 * the beats of the task aio_main() spawned. */
static int pid_view(aio_request *req)
{
    return aio_printf(req, "pid=%d main_pid=%d heartbeats=%ld\n", (int)getpid(), (int)main_pid,
                      heartbeats);
}

/* GET /probe/fetch?url=U&method=M&body=B&header=H&max=N: one outbound
 * request (aio_http.h); answers what came back (status, the upstream's
 * Content-Type, the body), or the failing call's status and failure. */
static int fetch_view(aio_request *req)
{
    const char *header = aio_param(req, "header");
    const char *headers[] = {header, NULL};
    const char *body = aio_param(req, "body");
    struct aio_http_options options = {
        .url = aio_param(req, "url"), .method = aio_param(req, "method"),
        .headers = header ? headers : NULL, .body = body, .body_len = body ? strlen(body) : 0,
        .max_response = (size_t)aio_param_long(req, "max", 0), .timeout_ms = 5000};
    aio_http_response *res;
    int rc = aio_http_request(req, &options, &res);
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    if (rc != AIO_OK)
        return aio_printf(req, "rc=%d %s\n", rc, aio_failure(req) ? aio_failure(req) : "");
    const char *type = aio_http_get_header(res, "content-type");
    return aio_printf(req, "status=%d type=%s headers=%zu\n%s", res->status, type ? type : "-",
                      res->nheaders, res->body);
}

int aio_main(aio_config *cfg)
{
    loop_thread = pthread_self();
    main_pid = getpid();
    main_sleep_rc = aio_sleep(NULL, 0.01);
    main_wait_rc = aio_wait_fd(NULL, 0, AIO_READ, 10);
    main_in_coroutine = aio_in_coroutine();
    if (pipe(idle_pipe) != 0)
        return 1;
    const char *greeting = aio_config_setting(cfg, "probe.greeting");
    if (greeting && strcmp(greeting, "fail") == 0)
        return 7; /* lets a test make aio_main() fail */
    /* lets a test make aio_main() slow, as one that connects to a database */
    const char *delay = aio_config_setting(cfg, "probe.main-delay");
    if (delay)
        usleep((useconds_t)(atof(delay) * 1e6));

    aio_add_route(cfg, "request", "/probe/request");
    aio_add_route(cfg, "fetch", "/probe/fetch");
    aio_add_view(cfg, "fetch", fetch_view, AIO_COROUTINE | AIO_GET);
    aio_add_route(cfg, "match", "/probe/match/{id}/{rest:.*}");
    aio_add_route(cfg, "body", "/probe/body");
    aio_add_route(cfg, "fail", "/probe/fail");
    aio_add_route(cfg, "bare_error", "/probe/bare-error");
    aio_add_route(cfg, "scope", "/probe/scope");
    aio_add_route(cfg, "sleep", "/probe/sleep");
    aio_add_route(cfg, "wait", "/probe/wait");
    aio_add_route(cfg, "big", "/probe/big");
    aio_add_route(cfg, "setting", "/probe/setting");
    aio_add_route(cfg, "file", "/probe/file");
    aio_add_route(cfg, "only_post", "/probe/only-post");
    aio_add_route(cfg, "deep", "/probe/deep");
    aio_add_route(cfg, "frame", "/probe/frame");
    aio_add_route(cfg, "quick", "/probe/quick");
    aio_add_route(cfg, "long_poll", "/probe/long-poll");
    aio_add_route(cfg, "crash", "/probe/crash");
    aio_add_route(cfg, "crash_executor", "/probe/crash/executor");
    aio_add_route(cfg, "executor", "/probe/executor");
    aio_add_route(cfg, "default_mapper", "/probe/default-mapper");
    aio_add_route(cfg, "run", "/probe/run");
    aio_add_route(cfg, "spawn", "/probe/spawn");
    aio_add_route(cfg, "counter", "/probe/counter");
    aio_add_route(cfg, "join", "/probe/join");
    aio_add_route(cfg, "spawn_fail", "/probe/spawn-fail");
    aio_add_route(cfg, "ws_echo", "/probe/ws/echo/{id}");
    aio_add_route(cfg, "ws_bytes", "/probe/ws/bytes");
    aio_add_route(cfg, "ws_flood", "/probe/ws/flood");
    aio_add_route(cfg, "ws_callbacks", "/probe/ws/callbacks");
    aio_add_route(cfg, "pid", "/probe/pid");
    aio_add_route(cfg, "redirect", "/probe/redirect");
    aio_add_route(cfg, "cookies", "/probe/cookies");
    aio_add_route(cfg, "notes", "/probe/notes");
    aio_add_route(cfg, "negotiate", "/probe/negotiate");
    aio_add_route(cfg, "queries", "/probe/queries");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "queries", .view = queries_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .params = queries_rules});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "negotiate", .view = negotiate_json,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .accept = "application/json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "negotiate", .view = negotiate_html,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .accept = "text/html"});
    aio_add_view(cfg, "redirect", redirect_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "cookies", cookies_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "notes", notes_view, AIO_COROUTINE | AIO_POST);
    const char *pages = aio_config_setting(cfg, "probe.error-pages");
    if (pages && strcmp(pages, "json") == 0)
        aio_add_error_view(cfg, 0, json_error_page);

    aio_add_view(cfg, "request", request_view, AIO_COROUTINE);
    aio_add_view(cfg, "match", match_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "body", body_view, AIO_COROUTINE | AIO_POST | AIO_PUT);
    aio_add_view(cfg, "fail", fail_view, AIO_COROUTINE);
    aio_add_view(cfg, "bare_error", bare_error_view, AIO_COROUTINE);
    aio_add_view(cfg, "scope", scope_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "sleep", sleep_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "wait", wait_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "big", big_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "setting", setting_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "file", file_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "only_post", only_post, AIO_COROUTINE | AIO_POST);
    aio_add_view(cfg, "deep", deep_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "frame", frame_view, AIO_COROUTINE | AIO_GET);
    /* deadlines of their own: 200 ms, and none whatever aio-request-timeout says */
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "quick", .view = sleep_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .timeout_ms = 200});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "long_poll", .view = sleep_view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .timeout_ms = AIO_NO_TIMEOUT});
    aio_add_view(cfg, "crash", crash_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "crash_executor", crash_in_thread, AIO_GET);
    aio_add_view(cfg, "executor", executor_view, AIO_EXECUTOR | AIO_GET);
    aio_add_view(cfg, "default_mapper", executor_view, AIO_GET); /* not a coroutine */
    aio_add_view(cfg, "run", run_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "spawn", spawn_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "counter", counter_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "join", join_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "spawn_fail", spawn_fail_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "pid", pid_view, AIO_COROUTINE | AIO_GET);
    static const struct aio_ws_callbacks callbacks = {cb_open, cb_message, cb_close};
    aio_add_websocket_view(cfg, "ws_echo", ws_echo, 0);
    aio_add_websocket_view(cfg, "ws_bytes", ws_echo, AIO_WS_BYTES);
    aio_add_websocket_view(cfg, "ws_flood", ws_flood, 0);
    aio_add_websocket_callbacks(cfg, "ws_callbacks", &callbacks, 0);
    int rc = aio_spawn("heartbeat", heartbeat, NULL, NULL);
    if (rc != AIO_OK)
        return 10 - rc;
    if (delay)
        fprintf(stderr, "probe: aio_main() done in %d\n", (int)getpid());
    return 0;
}
