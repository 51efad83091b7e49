/* dispatch.c - from a built request to its response, whoever hosts the
 * engine (SPEC §4, §5, §9): the tween chain around routing, traversal,
 * view lookup, the permission check, the view's mapper and its renderer.
 * Runs in the request's coroutine, so every step may suspend. */
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "app/app.h"

void aio__respond_error(struct aio_request *req, int status, const char *detail)
{
    aio__response_reset(req);
    aio_set_status(req, status);
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    aio__http_error_body(&req->response_body, status, detail);
}

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
    } else if (how == AIO_DISPATCH_METHOD_NOT_ALLOWED) {
        char methods[96];
        aio__http_format_methods(allowed, methods, sizeof(methods));
        aio__respond_error(req, 405, NULL);
        aio_add_header(req, "Allow", methods);
    } else {
        aio__respond_error(req, 500, NULL);
    }
}

static void serve_websocket(struct aio_request *req, const struct aio_view *view)
{
    int refused = aio__websocket_session(req, view);
    if (refused == 426) {
        aio__respond_error(req, 426, "This route speaks WebSocket (version 13).");
        aio_add_header(req, "Upgrade", "websocket");
        aio_add_header(req, "Sec-WebSocket-Version", "13");
    } else if (refused) {
        aio__respond_error(req, refused, refused == 400 ? "Bad Sec-WebSocket-Key." : NULL);
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
        aio__respond_error(req, 503, "The server is busy; try again later.");
        aio_add_header(req, "Retry-After", "1");
        return;
    }
    if (status == AIO_OK)
        status = aio__apply_renderer(req, view);
    if (status != AIO_OK) {
        log_failure(req, "view", status);
        aio__respond_error(req, 500, NULL);
    }
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
                              &view, &allowed);
    if (how != AIO_DISPATCH_FOUND) {
        respond_dispatch(req, how, allowed);
        return AIO_OK;
    }
    req->view = view;
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
    if (view->flags & AIO_VIEW_WEBSOCKET)
        serve_websocket(req, view);
    else
        run_view(req, view);
    return AIO_OK;
}

void aio__dispatch(struct aio_request *req)
{
    const struct aio_registry *reg = &aio__app.registry;
    int status = aio__run_tweens(req, reg->chain, reg->nchain, main_handler);
    if (status != AIO_OK && !req->task->cancelled && !req->upgraded) {
        aio__log("a tween failed on %s %s: %s", req->method, req->path,
                req->failure ? req->failure : aio_strerror(status));
        aio__respond_error(req, 500, NULL);
    }
}
