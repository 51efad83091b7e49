/* request.c - libaio_testing's dummy requests: making them, running them
 * in their own coroutines, reading their responses (testing.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http.h"
#include "testing/testing.h"

static const char *const no_body = "";

/* ---- runs --------------------------------------------------------------------- */

int aio__testing_run_done(const void *arg)
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
int aio__testing_run_start(aio_testing *t, struct test_run *run, enum run_mode mode)
{
    if (run->started)
        return aio__testing_fail(t, AIO_EINVAL, "this request has been run already (a request runs once)");
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
    if (aio__testing_turn_until(t, aio__testing_run_done, run, t->timeout_ms) != AIO_OK) {
        fprintf(stderr,
                "aio_testing: %s %s still runs %d ms after it was cancelled (a view that "
                "ignores AIO_ECANCELLED, or an executor job that never returns); giving up\n",
                run->task.req->method, run->task.req->path, t->timeout_ms);
        abort();
    }
}

static int run_to_end(aio_testing *t, struct test_run *run)
{
    int rc = aio__testing_turn_until(t, aio__testing_run_done, run, t->timeout_ms);
    if (rc == AIO_OK)
        return run->result;
    run_stop(t, run);
    return aio__testing_fail(t, AIO_ETIMEDOUT, "%s %s did not end within %d ms; it was cancelled",
                run->task.req->method, run->task.req->path, t->timeout_ms);
}

static void free_run_handle(uv_handle_t *timer)
{
    free(timer->data);
}

void aio__testing_run_free(aio_testing *t, struct test_run *run)
{
    run_stop(t, run);
    aio__list_remove(&run->node);
    aio__request_free(run->task.req);
    aio__coro_destroy(&run->task.coro);
    run->task.timer.data = run;
    uv_close((uv_handle_t *)&run->task.timer, free_run_handle);
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
        aio__testing_fail(t, AIO_EINVAL, "call aio_testing_start() before making requests");
        return NULL;
    }
    struct test_run *run = calloc(1, sizeof(*run));
    struct aio_request *req = run ? aio__request_for_task(&run->task, aio__wall_us()) : NULL;
    if (!req || aio__coro_init(&run->task.coro, aio__app.opts.engine.stack_size) != AIO_OK) {
        if (req)
            aio__request_free(req);
        free(run);
        aio__testing_fail(t, AIO_ENOMEM, "out of memory (or of address space for a coroutine stack)");
        return NULL;
    }
    const char *why = NULL;
    if (set_target(req, method, target, &why) != AIO_OK) {
        aio__coro_destroy(&run->task.coro);
        aio__request_free(req);
        free(run);
        aio__testing_fail(t, AIO_EINVAL, "bad request %s %s: %s", method ? method : "(null)",
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
    aio_testing *t = aio__testing_current;
    if (!req || !t || req->task->ops != &test_task_ops || run_of(req)->pair ||
        aio_in_coroutine())
        return;
    aio__testing_run_free(t, run_of(req));
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
        return aio__testing_fail(t, AIO_ESCOPE, "the aio_testing helpers are for the test, not for coroutines");
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
        return aio__testing_fail(t, AIO_ENOTFOUND, "no route named '%s'", route_name ? route_name : "(null)");
    const struct aio_view *view = NULL;
    unsigned allowed = 0;
    if (aio__route_pick_view(route, req->method_bit, NULL, "", NULL, &view, &allowed) !=
        AIO_DISPATCH_FOUND)
        return aio__testing_fail(t, AIO_ENOTFOUND, "route '%s' has no view for %s", route->name,
                    req->method);
    if (view->flags & AIO_VIEW_WEBSOCKET)
        return aio__testing_fail(t, AIO_EINVAL, "the view of route '%s' is a websocket view: use "
                                   "aio_testing_ws_connect()", route->name);
    if (req->match.count == 0 && aio__pattern_match(&route->pattern, req->path, &req->arena,
                                                   &req->match) < 0)
        return aio__testing_fail(t, AIO_ENOMEM, "out of memory");
    req->route = route;
    req->view = view;
    run->view = view;
    rc = aio__testing_run_start(t, run, RUN_VIEW);
    return rc == AIO_OK ? run_to_end(t, run) : rc;
}

int aio_testing_run(aio_testing *t, aio_request *req, aio_view_fn fn)
{
    struct test_run *run;
    int rc = fn ? runnable(t, req, &run) : AIO_EINVAL;
    if (rc != AIO_OK)
        return rc;
    run->fn = fn;
    rc = aio__testing_run_start(t, run, RUN_FN);
    return rc == AIO_OK ? run_to_end(t, run) : rc;
}

int aio_testing_start_request(aio_testing *t, aio_request *req)
{
    struct test_run *run;
    int rc = runnable(t, req, &run);
    return rc == AIO_OK ? aio__testing_run_start(t, run, RUN_SERVE) : rc;
}

int aio_testing_wait(aio_testing *t, aio_request *req, int timeout_ms)
{
    struct test_run *run;
    int rc = runnable(t, req, &run);
    if (rc != AIO_OK)
        return rc;
    if (!run->started)
        return AIO_EINVAL;
    rc = aio__testing_turn_until(t, aio__testing_run_done, run, timeout_ms);
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
    return aio_response_header(req, name);
}

const char *aio_testing_response_header_n(const aio_request *req, const char *name, size_t n)
{
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->response_headers.count; i++)
        if (strcasecmp(req->response_headers.items[i].key, name) == 0 && n-- == 0)
            return req->response_headers.items[i].value;
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
