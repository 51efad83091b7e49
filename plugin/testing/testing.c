/* testing.c - libaio_testing (<uwsgi-aio/aio_testing.h>): the engine and
 * the framework hosted by a test process instead of uWSGI.
 *
 * The test's thread is the loop thread. A dummy request gets a task of its
 * own (a coroutine with its own stack); running it resumes the coroutine
 * until it first suspends, and the helpers that wait turn the libuv loop
 * until it has ended, exactly as a worker's loop would, so sleeps, fd
 * waits, executor jobs, spawned tasks, tweens and suspending callbacks all
 * run for real. A websocket test pair puts a socketpair where the client
 * connection would be: the server end goes through the engine's websocket
 * layer, the client end is driven by this file with the same frame codec. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uwsgi-aio/aio_testing.h>

#include "app/app.h"
#include "proto/http.h"
#include "proto/wsframe.h"

#define DEFAULT_TIMEOUT_MS 30000
/* Sec-WebSocket-Key of the handshake request (RFC 6455's example). */
#define HANDSHAKE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

enum run_mode { RUN_VIEW, RUN_FN, RUN_SERVE };

/* A dummy request and the coroutine that runs it. */
struct test_run {
    struct aio_task task; /* task.req is the request */
    struct aio_list node; /* in aio_testing.runs */
    enum run_mode mode;
    const struct aio_view *view; /* RUN_VIEW */
    aio_view_fn fn;              /* RUN_FN */
    int result;
    int started;
    int done;
    struct aio_testing_ws *pair; /* a websocket pair's handshake: the pair frees it */
};

struct aio_testing {
    struct aio_list runs;    /* every request not freed yet */
    struct aio_list sockets; /* websocket pairs not freed yet */
    int started;
    int timeout_ms;
    int verbose;
    struct aio_buf log;
    char error[512];
    uv_timer_t deadline;
    int expired;
};

struct aio_testing_ws {
    struct aio_list node; /* in aio_testing.sockets */
    aio_testing *t;
    struct test_run *run;    /* the handshake request, served for the session */
    struct aio_conn conn;    /* the server's end */
    int fd;                  /* the client's end */
    uv_poll_t client_poll;
    int client_events;
    struct aio_ws_parser parser; /* frames from the server */
    struct aio_buf out;          /* frames to the server, `written` of it out */
    size_t written;
    struct aio_list inbox;       /* the messages the client received */
    uint32_t mask_seed;
    int upgraded;
    int sent_close;
    int close_code;              /* the server's close, 0 while none */
};

static const char *const no_body = "";

/* ---- the host's log ------------------------------------------------------- */

/* The one application of this process (the engine is one), or NULL. */
static aio_testing *current;

static void log_to_test(const char *line)
{
    aio_testing *t = current;
    if (t && aio__buf_printf(&t->log, "%s\n", line) != AIO_OK)
        t = NULL; /* out of memory: at least say it on stderr */
    if (!t || t->verbose)
        fprintf(stderr, "aio: %s\n", line);
}

static int fail(aio_testing *t, int status, const char *fmt, ...) AIO_PRINTF(3, 4);

static int fail(aio_testing *t, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
    return status;
}

/* ---- turning the loop ------------------------------------------------------ */

static void on_deadline(uv_timer_t *timer)
{
    ((aio_testing *)timer->data)->expired = 1;
}

/* Turns the loop until done(arg) or timeout_ms pass: AIO_OK or AIO_ETIMEDOUT. */
static int turn_until(aio_testing *t, int (*done)(const void *), const void *arg,
                      int timeout_ms)
{
    if (done(arg))
        return AIO_OK;
    t->expired = 0;
    uv_timer_start(&t->deadline, on_deadline, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
    while (!done(arg) && !t->expired)
        uv_run(&aio__engine.loop, UV_RUN_ONCE); /* the deadline keeps it from idling */
    uv_timer_stop(&t->deadline);
    return done(arg) ? AIO_OK : AIO_ETIMEDOUT;
}

static int never(const void *arg)
{
    (void)arg;
    return 0;
}

void aio_testing_run_for(aio_testing *t, int ms)
{
    if (t && t->started && !aio_in_coroutine())
        turn_until(t, never, NULL, ms);
}

/* ---- runs --------------------------------------------------------------------- */

#define run_of(req) aio__container_of((req)->task, struct test_run, task)

static int run_done(const void *arg)
{
    return ((const struct test_run *)arg)->done;
}

static void run_finished(struct aio_task *task)
{
    struct test_run *run = aio__container_of(task, struct test_run, task);
    run->done = 1;
    /* The server closes a connection once its request is over: the client
     * reads what is left, then the end. */
    if (run->pair)
        shutdown(run->pair->conn.fd, SHUT_RDWR);
}

static const struct aio_task_ops test_task_ops = {.finished = run_finished,
                                                 .cancelled = aio__request_cancelled};

static void run_main(void *arg)
{
    struct test_run *run = arg;
    struct aio_request *req = run->task.req;
    const char *why = NULL;
    if (aio__request_parse_params(req, &why) != AIO_OK) {
        aio__respond_error(req, 400, why);
        run->result = run->mode == RUN_SERVE ? 400 : AIO_EINVAL;
        return;
    }
    switch (run->mode) {
    case RUN_VIEW:
        run->result = aio__mapper_run(req, run->view);
        break;
    case RUN_FN:
        run->result = run->fn(req);
        break;
    case RUN_SERVE:
        aio__dispatch(req);
        run->result = aio_testing_status(req);
        break;
    }
}

/* Runs the request's coroutine until it first suspends (or ends). */
static int run_start(aio_testing *t, struct test_run *run, enum run_mode mode)
{
    if (run->started)
        return fail(t, AIO_EINVAL, "this request has been run already (a request runs once)");
    run->mode = mode;
    run->started = 1;
    aio__coro_prepare(&run->task.coro, run_main, run);
    aio__task_run(&run->task);
    return AIO_OK;
}

/* Cancels a running request and waits for its coroutine to end: its stack
 * and memory may only go once it has. */
static void run_stop(aio_testing *t, struct test_run *run)
{
    if (!run->started || run->done)
        return;
    aio__task_cancel(&run->task, NULL);
    if (turn_until(t, run_done, run, t->timeout_ms) != AIO_OK) {
        fprintf(stderr,
                "aio_testing: %s %s still runs %d ms after it was cancelled (a view that "
                "ignores AIO_ECANCELLED, or an executor job that never returns); giving up\n",
                run->task.req->method, run->task.req->path, t->timeout_ms);
        abort();
    }
}

static int run_to_end(aio_testing *t, struct test_run *run)
{
    int rc = turn_until(t, run_done, run, t->timeout_ms);
    if (rc == AIO_OK)
        return run->result;
    run_stop(t, run);
    return fail(t, AIO_ETIMEDOUT, "%s %s did not end within %d ms; it was cancelled",
                run->task.req->method, run->task.req->path, t->timeout_ms);
}

static void free_run_handle(uv_handle_t *timer)
{
    free(timer->data);
}

static void run_free(aio_testing *t, struct test_run *run)
{
    run_stop(t, run);
    aio__list_remove(&run->node);
    aio__request_free(run->task.req);
    aio__coro_destroy(&run->task.coro);
    run->task.timer.data = run;
    uv_close((uv_handle_t *)&run->task.timer, free_run_handle);
}

/* ---- the application -------------------------------------------------------- */

aio_testing *aio_testing_new(void)
{
    if (current)
        return NULL; /* one application at a time: the engine is one */
    aio_testing *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    current = t;
    aio__log_set_sink(log_to_test);
    aio__app_init();
    if (aio__engine_open() != AIO_OK) {
        aio__app_free();
        aio__log_set_sink(NULL);
        current = NULL;
        free(t);
        return NULL;
    }
    aio__app_open();
    aio__list_init(&t->runs);
    aio__list_init(&t->sockets);
    t->timeout_ms = DEFAULT_TIMEOUT_MS;
    t->verbose = getenv("AIO_TESTING_VERBOSE") != NULL;
    uv_timer_init(&aio__engine.loop, &t->deadline);
    t->deadline.data = t;
    return t;
}

/* uWSGI's own websocket options, which the server takes from uWSGI. */
static int websocket_option(aio_testing *t, const char *name, const char *value)
{
    static const struct {
        const char *name;
        long min, max;
    } ranges[] = {
        {"websockets-max-size", 1, 1024 * 1024},
        {"websockets-ping-freq", 0, 86400},
        {"websockets-pong-tolerance", 1, 86400},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (strcmp(name, ranges[i].name) != 0)
            continue;
        long n;
        if (aio__option_int(name, value, ranges[i].min, ranges[i].max, &n, t->error,
                           sizeof(t->error)) != AIO_OK)
            return AIO_EINVAL;
        if (i == 0)
            aio__app.opts.engine.ws_max_message = (size_t)n * 1024;
        else if (i == 1)
            aio__app.opts.engine.ws_ping_freq = n;
        else
            aio__app.opts.engine.ws_pong_tolerance = n;
        return AIO_OK;
    }
    return AIO_ENOTFOUND;
}

int aio_testing_option(aio_testing *t, const char *name, const char *value)
{
    if (!t || !name)
        return AIO_EINVAL;
    if (t->started)
        return fail(t, AIO_EINVAL, "option '%s' comes too late: set options before "
                                   "aio_testing_start()", name);
    int rc = websocket_option(t, name, value);
    if (rc != AIO_ENOTFOUND)
        return rc;
    t->error[0] = '\0';
    rc = aio__options_set(&aio__app.opts, &aio__app.registry, name, value, t->error,
                         sizeof(t->error));
    if (rc == AIO_ENOTFOUND)
        return fail(t, AIO_EINVAL, "unknown option '%s'", name);
    if (rc == AIO_ENOMEM)
        return fail(t, AIO_ENOMEM, "out of memory");
    if (rc == AIO_OK && strcmp(name, "aio-views") == 0 &&
        aio__registry_open_module(&aio__app.registry, value) != AIO_OK) {
        fail(t, AIO_EINVAL, "%s", aio__app.registry.error[0] ? aio__app.registry.error
                                                               : "out of memory");
        aio__app.registry.error[0] = '\0'; /* the test may go on without it */
        return AIO_EINVAL;
    }
    return rc;
}

int aio_testing_add_module(aio_testing *t, const char *name, int (*main_fn)(aio_config *cfg),
                           const char *asset_dir)
{
    if (!t || !name || !main_fn)
        return AIO_EINVAL;
    if (t->started)
        return fail(t, AIO_EINVAL, "module '%s' comes too late: add modules before "
                                   "aio_testing_start()", name);
    if (aio__registry_add_module(&aio__app.registry, name, asset_dir ? asset_dir : ".",
                                main_fn) != AIO_OK)
        return fail(t, AIO_ENOMEM, "out of memory");
    return AIO_OK;
}

int aio_testing_start(aio_testing *t)
{
    if (!t)
        return AIO_EINVAL;
    if (t->started)
        return fail(t, AIO_EINVAL, "the application is started already");
    aio__options_defaults(&aio__app.opts);
    aio__engine_configure(aio__app_engine_config());
    if (aio__registry_construct(&aio__app.registry) != AIO_OK)
        return fail(t, AIO_EINVAL, "configuration error: %s",
                    aio__app.registry.error[0] ? aio__app.registry.error : "out of memory");
    t->started = 1;
    aio__engine.running = 1;
    aio__tasks_start_pending();
    return AIO_OK;
}

const char *aio_testing_error(const aio_testing *t)
{
    return t ? t->error : "no application (aio_testing_new() failed)";
}

const char *aio_testing_log(const aio_testing *t)
{
    return t && t->log.data ? t->log.data : "";
}

void aio_testing_set_timeout(aio_testing *t, int timeout_ms)
{
    if (t && timeout_ms > 0)
        t->timeout_ms = timeout_ms;
}

static int no_tasks_left(const void *arg)
{
    (void)arg;
    return aio__app.ntasks == 0;
}

static void ws_free(aio_testing_ws *ws);

void aio_testing_free(aio_testing *t)
{
    if (!t)
        return;
    struct aio_list *node;
    while ((node = aio__list_first(&t->sockets)) != NULL)
        ws_free(aio__list_entry(node, aio_testing_ws, node));
    while ((node = aio__list_first(&t->runs)) != NULL)
        run_free(t, aio__list_entry(node, struct test_run, node)); /* cancels it if running */
    aio__engine_begin_stop(); /* spawning now fails with AIO_ECANCELLED */
    aio__tasks_cancel_all();
    if (turn_until(t, no_tasks_left, NULL, t->timeout_ms) != AIO_OK)
        fprintf(stderr, "aio_testing: %d spawned task(s) still run after being cancelled\n",
                aio__app.ntasks);
    uv_close((uv_handle_t *)&t->deadline, NULL);
    aio__engine.running = 0;
    aio__app_close();
    aio__engine_close();
    aio__app_free();
    aio__log_set_sink(NULL);
    current = NULL;
    aio__buf_free(&t->log);
    free(t);
}

/* ---- dummy requests ---------------------------------------------------------- */

static int set_target(struct aio_request *req, const char *method, const char *target,
                      const char **why)
{
    if (!method || !aio__http_is_token(method, strlen(method))) {
        *why = "the method must be an HTTP token";
        return AIO_EINVAL;
    }
    if (!target) {
        *why = "no request target";
        return AIO_EINVAL;
    }
    const char *path = NULL;
    if ((*why = aio__http_decode_target(&req->arena, target, strlen(target), &path)) != NULL)
        return AIO_EINVAL;
    const char *query = strchr(target, '?');
    if (aio__request_set_line(req, method, path, query ? query + 1 : "") != AIO_OK) {
        *why = "out of memory";
        return AIO_ENOMEM;
    }
    req->remote_addr = "127.0.0.1";
    return AIO_OK;
}

aio_request *aio_testing_request(aio_testing *t, const char *method, const char *target)
{
    if (!t)
        return NULL;
    if (!t->started) {
        fail(t, AIO_EINVAL, "call aio_testing_start() before making requests");
        return NULL;
    }
    struct test_run *run = calloc(1, sizeof(*run));
    struct aio_request *req = run ? aio__request_for_task(&run->task, aio__wall_us()) : NULL;
    if (!req || aio__coro_init(&run->task.coro, aio__app.opts.engine.stack_size) != AIO_OK) {
        if (req)
            aio__request_free(req);
        free(run);
        fail(t, AIO_ENOMEM, "out of memory (or of address space for a coroutine stack)");
        return NULL;
    }
    const char *why = NULL;
    if (set_target(req, method, target, &why) != AIO_OK) {
        aio__coro_destroy(&run->task.coro);
        aio__request_free(req);
        free(run);
        fail(t, AIO_EINVAL, "bad request %s %s: %s", method ? method : "(null)",
             target ? target : "(null)", why);
        return NULL;
    }
    aio__task_init(&run->task);
    run->task.ops = &test_task_ops;
    aio__list_append(&t->runs, &run->node);
    return req;
}

int aio_testing_set_header(aio_request *req, const char *name, const char *value)
{
    if (!req || !name || !value || !aio__http_is_token(name, strlen(name)) ||
        !aio__http_valid_header_value(value))
        return AIO_EINVAL;
    char *var = aio__http_cgi_var(&req->arena, name);
    if (!var)
        return AIO_ENOMEM;
    for (size_t i = 0; i < req->headers.count; i++) {
        struct aio_kv *kv = &req->headers.items[i];
        if (strcmp(kv->key, var) != 0)
            continue;
        /* repeated: one value, joined as the server joins them */
        size_t a = strlen(kv->value), b = strlen(value);
        char *joined = aio__arena_alloc(&req->arena, a + b + 3);
        if (!joined)
            return AIO_ENOMEM;
        sprintf(joined, "%s, %s", kv->value, value);
        kv->value = joined;
        return AIO_OK;
    }
    return aio__request_add_header_var(req, var, strlen(var), value, strlen(value));
}

int aio_testing_set_body(aio_request *req, const char *content_type, const void *body, size_t len)
{
    if (!req || (!body && len))
        return AIO_EINVAL;
    char *copy = aio__arena_alloc(&req->arena, len + 1);
    if (!copy)
        return AIO_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    req->body = copy;
    req->body_len = len;
    char length[32];
    snprintf(length, sizeof(length), "%zu", len);
    int rc = aio_testing_set_header(req, "Content-Length", length);
    if (rc == AIO_OK && content_type)
        rc = aio_testing_set_header(req, "Content-Type", content_type);
    return rc;
}

int aio_testing_set_match(aio_request *req, const char *name, const char *value)
{
    if (!req || !name || !value)
        return AIO_EINVAL;
    const char *k = aio__arena_strdup(&req->arena, name);
    const char *v = aio__arena_strdup(&req->arena, value);
    if (!k || !v)
        return AIO_ENOMEM;
    return aio__kvlist_add(&req->arena, &req->match, k, v);
}

void aio_testing_request_free(aio_request *req)
{
    aio_testing *t = current;
    if (!req || !t || req->task->ops != &test_task_ops || run_of(req)->pair ||
        aio_in_coroutine())
        return;
    run_free(t, run_of(req));
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT); /* the timer's close callback frees the run */
}

/* ---- running views -------------------------------------------------------- */

/* The checks every run/serve helper makes: AIO_OK with *run set, or why not. */
static int runnable(aio_testing *t, aio_request *req, struct test_run **run)
{
    *run = NULL;
    if (!t || !req || req->task->ops != &test_task_ops)
        return AIO_EINVAL;
    if (aio_in_coroutine())
        return fail(t, AIO_ESCOPE, "the aio_testing helpers are for the test, not for coroutines");
    *run = run_of(req);
    return AIO_OK;
}

int aio_testing_run_view(aio_testing *t, aio_request *req, const char *route_name)
{
    struct test_run *run;
    int rc = runnable(t, req, &run);
    if (rc != AIO_OK)
        return rc;
    const struct aio_route *route = aio__registry_find_route(&aio__app.registry, route_name);
    if (!route)
        return fail(t, AIO_ENOTFOUND, "no route named '%s'", route_name ? route_name : "(null)");
    const struct aio_view *view = NULL;
    unsigned allowed = 0;
    if (aio__route_pick_view(route, req->method_bit, NULL, "", &view, &allowed) !=
        AIO_DISPATCH_FOUND)
        return fail(t, AIO_ENOTFOUND, "route '%s' has no view for %s", route->name,
                    req->method);
    if (view->flags & AIO_VIEW_WEBSOCKET)
        return fail(t, AIO_EINVAL, "the view of route '%s' is a websocket view: use "
                                   "aio_testing_ws_connect()", route->name);
    if (req->match.count == 0 && aio__pattern_match(&route->pattern, req->path, &req->arena,
                                                   &req->match) < 0)
        return fail(t, AIO_ENOMEM, "out of memory");
    req->route = route;
    req->view = view;
    run->view = view;
    rc = run_start(t, run, RUN_VIEW);
    return rc == AIO_OK ? run_to_end(t, run) : rc;
}

int aio_testing_run(aio_testing *t, aio_request *req, aio_view_fn fn)
{
    struct test_run *run;
    int rc = fn ? runnable(t, req, &run) : AIO_EINVAL;
    if (rc != AIO_OK)
        return rc;
    run->fn = fn;
    rc = run_start(t, run, RUN_FN);
    return rc == AIO_OK ? run_to_end(t, run) : rc;
}

int aio_testing_start_request(aio_testing *t, aio_request *req)
{
    struct test_run *run;
    int rc = runnable(t, req, &run);
    return rc == AIO_OK ? run_start(t, run, RUN_SERVE) : rc;
}

int aio_testing_wait(aio_testing *t, aio_request *req, int timeout_ms)
{
    struct test_run *run;
    int rc = runnable(t, req, &run);
    if (rc != AIO_OK)
        return rc;
    if (!run->started)
        return AIO_EINVAL;
    rc = turn_until(t, run_done, run, timeout_ms);
    return rc == AIO_OK ? run->result : rc;
}

int aio_testing_serve(aio_testing *t, aio_request *req)
{
    int rc = aio_testing_start_request(t, req);
    return rc == AIO_OK ? run_to_end(t, run_of(req)) : rc;
}

int aio_testing_done(const aio_request *req)
{
    return req && req->task->ops == &test_task_ops && run_of(req)->done;
}

/* ---- the response, as the server would send it ---------------------------- */

int aio_testing_status(const aio_request *req)
{
    return req ? (req->upgraded ? 101 : req->status) : 0;
}

const char *aio_testing_response_header(const aio_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->response_headers.count; i++)
        if (strcasecmp(req->response_headers.items[i].key, name) == 0)
            return req->response_headers.items[i].value;
    /* what the server adds itself */
    if (strcasecmp(name, "Content-Type") == 0 && req->response_body.len &&
        aio__response_has_body(req))
        return AIO_HTML_TYPE;
    return NULL;
}

const char *aio_testing_response_body(const aio_request *req, size_t *len)
{
    size_t n = req && aio__response_has_body(req) && req->method_bit != AIO_HEAD
                   ? req->response_body.len
                   : 0;
    if (len)
        *len = n;
    return n ? req->response_body.data : no_body;
}

/* ---- the websocket test pair: the server's end ------------------------------- */

#define ws_of_conn(c) aio__container_of(c, aio_testing_ws, conn)

static void server_event(struct aio_conn *conn, int status, int events)
{
    struct aio_task *task = &ws_of_conn(conn)->run->task;
    if (task->state == AIO_TASK_WAITING)
        aio__task_conn_event(task, status, events);
    else
        aio__conn_watch(conn, 0);
}

/* The handshake was checked by the engine; nothing goes over the pair: the
 * client's end starts in the open state. */
static int server_upgrade(struct aio_conn *conn, struct aio_request *req)
{
    (void)req;
    ws_of_conn(conn)->upgraded = 1;
    return AIO_OK;
}

static ssize_t server_read(struct aio_conn *conn, char *buf, size_t len)
{
    return read(conn->fd, buf, len);
}

static enum aio_io_status server_write(struct aio_conn *conn, const char *data, size_t len,
                                       size_t *pos)
{
    ssize_t n = send(conn->fd, data + *pos, len - *pos, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? AIO_IO_AGAIN
                                                                         : AIO_IO_FAILED;
    *pos += (size_t)n;
    return *pos == len ? AIO_IO_DONE : AIO_IO_AGAIN;
}

static const struct aio_conn_ops pair_conn_ops = {
    .event = server_event,
    .upgrade = server_upgrade,
    .read = server_read,
    .write = server_write,
};

/* ---- the websocket test pair: the client's end --------------------------------- */

static void on_client_event(uv_poll_t *poll, int status, int events);

static void client_watch(aio_testing_ws *ws)
{
    int events = UV_READABLE | (ws->out.len > ws->written ? UV_WRITABLE : 0);
    if (events == ws->client_events)
        return;
    if (events)
        uv_poll_start(&ws->client_poll, events, on_client_event);
    else
        uv_poll_stop(&ws->client_poll);
    ws->client_events = events;
}

static void client_flush(aio_testing_ws *ws)
{
    while (ws->written < ws->out.len) {
        ssize_t n = send(ws->fd, ws->out.data + ws->written, ws->out.len - ws->written,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ws->written = ws->out.len; /* the server's end is gone: drop it */
            break;
        }
        ws->written += (size_t)n;
    }
    if (ws->written == ws->out.len) {
        aio__buf_reset(&ws->out);
        ws->written = 0;
    }
    client_watch(ws);
}

/* Clients mask every frame (RFC 6455 §5.3), with a key that varies. */
static int client_queue_frame(aio_testing_ws *ws, int opcode, const void *data, size_t len)
{
    uint8_t mask[4], header[14];
    ws->mask_seed = ws->mask_seed * 1103515245u + 12345u;
    memcpy(mask, &ws->mask_seed, sizeof(mask));
    size_t n = aio__ws_frame_header(header, 1, opcode, len, mask);
    if (aio__buf_reserve(&ws->out, n + len) != AIO_OK)
        return AIO_ENOMEM;
    aio__buf_append(&ws->out, header, n);
    size_t start = ws->out.len;
    aio__buf_append(&ws->out, data, len);
    aio__ws_mask((uint8_t *)ws->out.data + start, len, mask, 0);
    client_flush(ws);
    return AIO_OK;
}

static void client_queue_close(aio_testing_ws *ws, int code, const char *reason)
{
    uint8_t payload[125];
    client_queue_frame(ws, AIO_WS_OP_CLOSE, payload, aio__ws_close_payload(payload, code, reason));
    ws->sent_close = 1;
}

static void client_handle(aio_testing_ws *ws, struct aio_ws_event *ev)
{
    switch (ev->kind) {
    case AIO_WS_EV_MESSAGE: {
        aio_msg *msg = aio__msg_new(ev->opcode == AIO_WS_OP_TEXT ? AIO_MSG_TEXT : AIO_MSG_BINARY,
                                   ev->data, ev->len);
        if (msg)
            aio__list_append(&ws->inbox, &msg->node);
        else
            aio__log("websocket test client: out of memory, a message is lost");
        break;
    }
    case AIO_WS_EV_PING:
        client_queue_frame(ws, AIO_WS_OP_PONG, ev->data, ev->len);
        break;
    case AIO_WS_EV_CLOSE:
        ws->close_code = ev->code;
        if (!ws->sent_close) /* echo it, as a client should */
            client_queue_close(ws, ev->code, "");
        break;
    case AIO_WS_EV_ERROR:
        aio__log("websocket test client: the server broke the protocol: %s", ev->reason);
        ws->close_code = ev->code;
        break;
    case AIO_WS_EV_PONG:
    case AIO_WS_EV_NONE:
        break;
    }
}

static void client_read(aio_testing_ws *ws)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(ws->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) { /* the server's end closed */
            if (!ws->close_code)
                ws->close_code = AIO_WS_ABNORMAL;
            uv_poll_stop(&ws->client_poll);
            ws->client_events = 0;
            return;
        }
        if (aio__ws_parser_feed(&ws->parser, buf, (size_t)n) != AIO_OK) {
            aio__log("websocket test client: out of memory");
            return;
        }
        struct aio_ws_event ev;
        do {
            aio__ws_parser_next(&ws->parser, &ev);
            client_handle(ws, &ev);
        } while (ev.kind != AIO_WS_EV_NONE);
    }
}

static void on_client_event(uv_poll_t *poll, int status, int events)
{
    aio_testing_ws *ws = poll->data;
    if (status < 0) {
        if (!ws->close_code)
            ws->close_code = AIO_WS_ABNORMAL;
        return;
    }
    if (events & UV_WRITABLE)
        client_flush(ws);
    if (events & (UV_READABLE | UV_DISCONNECT))
        client_read(ws);
}

/* ---- the websocket test pair: the test's API ------------------------------------- */

static int pair_open(aio_testing_ws *ws)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return AIO_ERROR;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    ws->conn.fd = fds[0];
    ws->conn.ops = &pair_conn_ops;
    ws->fd = fds[1];
    if (uv_poll_init(&aio__engine.loop, &ws->client_poll, ws->fd) != 0) {
        close(fds[0]);
        close(fds[1]);
        return AIO_ERROR;
    }
    ws->client_poll.data = ws;
    client_watch(ws);
    return AIO_OK;
}

static int handshake_headers(aio_request *req, va_list ap)
{
    int rc = aio_testing_set_header(req, "Upgrade", "websocket");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Connection", "Upgrade");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Sec-WebSocket-Version", "13");
    if (rc == AIO_OK)
        rc = aio_testing_set_header(req, "Sec-WebSocket-Key", HANDSHAKE_KEY);
    const char *name;
    while (rc == AIO_OK && (name = va_arg(ap, const char *)) != NULL)
        rc = aio_testing_set_header(req, name, va_arg(ap, const char *));
    return rc;
}

static int upgraded_or_done(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return ws->upgraded || ws->run->done;
}

static void free_pair(uv_handle_t *poll)
{
    free(poll->data);
}

/* Drops the connection if open, waits for the session to end, frees. */
static void ws_free(aio_testing_ws *ws)
{
    aio_testing *t = ws->t;
    if (!ws->run->done) {
        shutdown(ws->fd, SHUT_RDWR); /* the server sees the connection drop */
        turn_until(t, run_done, ws->run, t->timeout_ms);
    }
    run_free(t, ws->run); /* cancels it first if still running */
    aio__conn_unwatch(&ws->conn);
    close(ws->conn.fd);
    close(ws->fd);
    aio__ws_parser_free(&ws->parser);
    aio__buf_free(&ws->out);
    struct aio_list *node;
    while ((node = aio__list_first(&ws->inbox)) != NULL) {
        aio__list_remove(node);
        aio_msg_free(aio__list_entry(node, aio_msg, node));
    }
    aio__list_remove(&ws->node);
    uv_close((uv_handle_t *)&ws->client_poll, free_pair);
}

aio_testing_ws *aio_testing_ws_connect(aio_testing *t, const char *target, int *status, ...)
{
    int ignored;
    status = status ? status : &ignored;
    *status = AIO_EINVAL;
    if (!t || aio_in_coroutine())
        return NULL;
    aio_request *req = aio_testing_request(t, "GET", target);
    if (!req)
        return NULL;
    va_list ap;
    va_start(ap, status);
    int rc = handshake_headers(req, ap);
    va_end(ap);
    aio_testing_ws *ws = rc == AIO_OK ? calloc(1, sizeof(*ws)) : NULL;
    if (!ws || pair_open(ws) != AIO_OK) {
        free(ws);
        aio_testing_request_free(req);
        *status = rc == AIO_OK ? AIO_ENOMEM : rc;
        fail(t, *status, "cannot open a websocket test pair: %s", aio_strerror(*status));
        return NULL;
    }
    ws->t = t;
    ws->run = run_of(req);
    ws->run->task.conn = &ws->conn;
    ws->run->pair = ws;
    ws->mask_seed = 0x5eed1234u;
    aio__list_init(&ws->inbox);
    aio__ws_parser_init(&ws->parser, AIO_WS_CLIENT, 0);
    aio__list_append(&t->sockets, &ws->node);
    run_start(t, ws->run, RUN_SERVE);
    rc = turn_until(t, upgraded_or_done, ws, t->timeout_ms);
    if (ws->upgraded) {
        *status = 101;
        return ws;
    }
    *status = rc == AIO_OK ? ws->run->result : AIO_ETIMEDOUT;
    fail(t, *status, "the websocket upgrade of %s was refused: %d", target, *status);
    ws_free(ws);
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT);
    return NULL;
}

int aio_testing_ws_send_text(aio_testing_ws *ws, const char *text)
{
    if (!ws || !text)
        return AIO_EINVAL;
    if (ws->sent_close || ws->close_code)
        return AIO_ECLOSED;
    return client_queue_frame(ws, AIO_WS_OP_TEXT, text, strlen(text));
}

int aio_testing_ws_send_binary(aio_testing_ws *ws, const void *data, size_t len)
{
    if (!ws || (!data && len))
        return AIO_EINVAL;
    if (ws->sent_close || ws->close_code)
        return AIO_ECLOSED;
    return client_queue_frame(ws, AIO_WS_OP_BINARY, data, len);
}

static int message_or_closed(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return !aio__list_empty(&ws->inbox) || ws->close_code;
}

aio_msg *aio_testing_ws_recv(aio_testing_ws *ws, int timeout_ms)
{
    if (!ws || aio_in_coroutine())
        return NULL;
    turn_until(ws->t, message_or_closed, ws, timeout_ms);
    struct aio_list *node = aio__list_first(&ws->inbox);
    if (!node)
        return NULL;
    aio__list_remove(node);
    return aio__list_entry(node, aio_msg, node);
}

/* The view's session ended and the client has read all it was sent. */
static int session_over(const void *arg)
{
    const aio_testing_ws *ws = arg;
    return ws->run->done && ws->close_code;
}

int aio_testing_ws_close(aio_testing_ws *ws, int code, const char *reason)
{
    if (!ws || !aio__ws_close_code_valid(code) || (reason && strlen(reason) > 123))
        return AIO_EINVAL;
    if (aio_in_coroutine())
        return AIO_ESCOPE;
    if (!ws->sent_close && !ws->close_code)
        client_queue_close(ws, code, reason);
    if (turn_until(ws->t, session_over, ws, ws->t->timeout_ms) != AIO_OK)
        return fail(ws->t, AIO_ETIMEDOUT, "the websocket session did not end within %d ms",
                    ws->t->timeout_ms);
    return ws->close_code;
}

int aio_testing_ws_close_code(const aio_testing_ws *ws)
{
    return ws ? ws->close_code : 0;
}

aio_request *aio_testing_ws_request(aio_testing_ws *ws)
{
    return ws ? ws->run->task.req : NULL;
}

void aio_testing_ws_free(aio_testing_ws *ws)
{
    if (!ws || aio_in_coroutine())
        return;
    ws_free(ws);
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT); /* the close callbacks free it */
}
