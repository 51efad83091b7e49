/* dispatch.c - from a built request to its response, whoever hosts the
 * engine: the tween chain around routing, traversal,
 * view lookup, the permission check, the view's mapper and its renderer.
 * Runs in the request's coroutine, so every step may suspend. */
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "app/app.h"

/* `what` ("view", "traversal" ...) of the request's route failed. */
static void log_failure(struct aio_request *req, const char *what, int status)
{
    aio__log("%s of route '%s' failed on %s %s: %s", what, aio_route_name(req), req->method,
            req->path, req->failure ? req->failure : aio_strerror(status));
}

static void respond_dispatch(struct aio_request *req, enum aio_dispatch how, unsigned allowed)
{
    if (how == AIO_DISPATCH_NOT_FOUND) {
        aio__respond_error(req, 404, "The resource could not be found.");
    } else if (how == AIO_DISPATCH_NOT_ACCEPTABLE) {
        aio__respond_error(req, 406, "None of the media types this resource has is acceptable.");
    } else if (how == AIO_DISPATCH_METHOD_NOT_ALLOWED && strcmp(req->method, "OPTIONS") == 0) {
        /* no view answers OPTIONS itself: the route's methods are the answer */
        char methods[112];
        aio__http_format_methods(allowed, methods, sizeof(methods) - 9);
        strcat(methods, ", OPTIONS");
        aio__response_reset(req); /* 200 and an empty body: a 204 may not say its length */
        aio_add_header(req, "Allow", methods);
    } else if (how == AIO_DISPATCH_METHOD_NOT_ALLOWED) {
        char methods[96];
        aio__http_format_methods(allowed, methods, sizeof(methods));
        aio__respond_error(req, 405, NULL);
        aio_add_header(req, "Allow", methods);
    } else {
        aio__respond_error(req, 500, NULL);
    }
}

/* 503: worth trying again in a second. */
static void respond_unavailable(struct aio_request *req, const char *why)
{
    aio__respond_error(req, 503, why);
    aio_add_header(req, "Retry-After", "1");
}

static void serve_websocket(struct aio_request *req, const struct aio_view *view)
{
    int refused = aio__websocket_session(req, view);
    if (refused == 426) {
        aio__respond_error(req, 426, "This route speaks WebSocket (version 13).");
        aio_add_header(req, "Upgrade", "websocket");
        aio_add_header(req, "Sec-WebSocket-Version", "13");
    } else if (refused == 503) {
        respond_unavailable(req, "Too many websocket sessions just now; try again later.");
    } else if (refused) {
        aio__respond_error(req, refused, refused == 400 ? "Bad Sec-WebSocket-Key." : NULL);
    }
}

/* 1 when a declared parameter of the view is not valid: answered 400. */
static int params_refused(struct aio_request *req, const struct aio_view *view)
{
    const char *invalid = NULL;
    if (!aio__params_check(req, view, &invalid))
        return 0;
    aio__respond_error(req, 400, invalid);
    return 1;
}

/* A view that failed: a service it needs not there now (a database down,
 * its pool exhausted) is 503, one that did not answer in time 504, the
 * rest 500. */
static void respond_view_failed(struct aio_request *req, int status)
{
    if (status == AIO_EUNAVAILABLE || status == AIO_EFULL) {
        respond_unavailable(req, "A service this page needs is not available; try again later.");
    } else if (status == AIO_ETIMEDOUT) {
        aio__respond_error(req, 504, "A service this page needs did not answer in time.");
    } else {
        aio__respond_error(req, 500, NULL);
    }
}

/* Runs the view and its renderer; the response is on req. */
static void run_view(struct aio_request *req, const struct aio_view *view)
{
    struct aio_task *task = req->task;
    int status = aio__mapper_run(req, view);
    if (task->cancelled)
        return;
    if (req->unavailable) {
        aio__log("executor queue full (aio-executor-queue), answering 503 to %s %s", req->method,
                req->path);
        respond_unavailable(req, "The server is busy; try again later.");
        return;
    }
    if (status == AIO_OK)
        status = aio__apply_renderer(req, view);
    else if (req->refused)
        return; /* aio_json_body() answered 400 or 415, and the view passed it on */
    if (status != AIO_OK) {
        log_failure(req, "view", status);
        respond_view_failed(req, status);
    }
}

/* The deadline of a request to `view` (or before one is chosen: the
 * option's), counted from when dispatch began; 0: none. */
static uint64_t deadline_for(const struct aio_request *req, const struct aio_view *view)
{
    long ms = view && view->timeout_ms ? view->timeout_ms : aio__app.opts.request_timeout_ms;
    if (view && (view->flags & AIO_VIEW_WEBSOCKET))
        ms = 0; /* a session's life is its own */
    return ms > 0 ? req->arrived_ms + (uint64_t)ms : 0;
}

/* The innermost handler of the tween chain: routing, traversal, view
 * lookup, permission, the view. Always answers: AIO_OK. */
static int main_handler(struct aio_request *req)
{
    struct aio_task *task = req->task;
    const struct aio_route *route = NULL;
    const struct aio_view *view = NULL;
    unsigned allowed = 0;
    enum aio_dispatch how =
        aio__registry_match(&aio__app.registry, req->path, &req->arena, &req->match, &route);
    if (how != AIO_DISPATCH_FOUND) {
        respond_dispatch(req, how, 0);
        return AIO_OK;
    }
    req->route = route;
    if (route->root) {
        int rc = aio__traverse(req, route);
        if (task->cancelled)
            return AIO_OK;
        if (rc != AIO_OK) {
            log_failure(req, "traversal", rc);
            aio__respond_error(req, 500, NULL);
            return AIO_OK;
        }
    }
    how = aio__route_pick_view(route, req->method_bit, aio_context_type(req), req->view_name,
                              req, &view, &allowed);
    if (how != AIO_DISPATCH_FOUND) {
        respond_dispatch(req, how, allowed);
        return AIO_OK;
    }
    req->view = view;
    aio__task_set_deadline(task, deadline_for(req, view));
    if (view->permission) {
        int granted = aio_has_permission(req, view->permission);
        if (task->cancelled)
            return AIO_OK;
        if (granted < 0) {
            log_failure(req, "permission check", granted);
            aio__respond_error(req, 500, NULL);
            return AIO_OK;
        }
        if (!granted) {
            aio__respond_error(req, 403, "You may not see this.");
            return AIO_OK;
        }
    }
    if (view->flags & AIO_VIEW_WEBSOCKET) { /* a handshake has no body: its query only */
        if (!params_refused(req, view))
            serve_websocket(req, view);
        return AIO_OK;
    }
    if (!(view->flags & AIO_STREAM_BODY)) {
        const char *why = NULL;
        int refused = aio__request_read_body(req, &why);
        if (refused < 0 || task->cancelled)
            return AIO_OK; /* the client is gone */
        if (refused) {
            aio__respond_error(req, refused, why);
            return AIO_OK;
        }
    }
    if (!params_refused(req, view))
        run_view(req, view);
    return AIO_OK;
}

/* Past its deadline, whatever the view made of its timed-out waits, the
 * client gets 504 (nothing has been sent yet: responses go out when the
 * view returns). */
static void respond_deadline(struct aio_request *req)
{
    aio__log("%s %s (route '%s') took longer than its deadline (%s): answering 504",
             req->method, req->path, aio__route_label(req),
             req->view && req->view->timeout_ms > 0 ? "its view's timeout_ms"
                                                    : "aio-request-timeout");
    aio__respond_error(req, 504, "The request took too long.");
}

void aio__dispatch(struct aio_request *req)
{
    const struct aio_registry *reg = &aio__app.registry;
    struct aio_task *task = req->task;
    req->arrived_ms = aio__loop_ms();
    aio__task_set_deadline(task, deadline_for(req, NULL));
    int status = aio__run_tweens(req, reg->chain, reg->nchain, main_handler);
    if (task->cancelled || req->upgraded) {
        /* nobody to answer, or the websocket session answered */
    } else if (aio__task_past_deadline(task)) { /* waits timed out, or a job ran late */
        respond_deadline(req);
    } else if (status != AIO_OK) {
        aio__log("a tween failed on %s %s: %s", req->method, req->path,
                req->failure ? req->failure : aio_strerror(status));
        aio__respond_error(req, 500, NULL);
    }
    aio__task_set_deadline(task, 0);
    if (req->ws)
        aio__websocket_continue(req);
}
