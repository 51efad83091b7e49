/* errors.c - the application's error answers: the one writer of error
 * pages (aio__respond_error), through the application's error views
 * (aio_add_error_view) when it has one for the status, through the
 * built-in plain-text page (proto/http.c) otherwise. */
#include <string.h>

#include "app/app.h"
#include "base/array.h"
#include "proto/http.h"

int aio_add_error_view(aio_config *cfg, int status, aio_error_view_fn view)
{
    struct aio_registry *reg = cfg->registry;
    if (!view || (status != 0 && (status < 400 || status > 599)))
        return aio__registry_error(reg, "view module '%s': an error view needs a function and a "
                                   "status from 400 to 599 (or 0: any), not %d",
                                   cfg->module->path, status);
    for (size_t i = 0; i < reg->nerror_views; i++)
        if (reg->error_views[i].status == status)
            return aio__registry_error(reg, "view module '%s': a second error view for status %d",
                                       cfg->module->path, status);
    if (aio__array_grow((void **)&reg->error_views, reg->nerror_views, sizeof(*reg->error_views)))
        return aio__registry_error(reg, "out of memory");
    reg->error_views[reg->nerror_views++] = (struct aio_error_view){status, view};
    return AIO_OK;
}

static aio_error_view_fn error_view_for(int status)
{
    const struct aio_registry *reg = &aio__app.registry;
    aio_error_view_fn any = NULL;
    for (size_t i = 0; i < reg->nerror_views; i++) {
        if (reg->error_views[i].status == status)
            return reg->error_views[i].fn;
        if (reg->error_views[i].status == 0)
            any = reg->error_views[i].fn;
    }
    return any;
}

/* Forgets what the response held (an error view's half-written page
 * too): `status` and nothing else. */
static void fresh_response(struct aio_request *req, int status)
{
    aio__response_reset(req);
    aio_set_status(req, status);
}

static void builtin_page(struct aio_request *req, int status, const char *detail)
{
    fresh_response(req, status);
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    aio__http_error_body(&req->response_body, status, detail);
}

/* The application's error view for the status, if it has one: 1 when it
 * made the response. */
static int run_error_view(struct aio_request *req, int status, const char *detail)
{
    aio_error_view_fn view = req->in_error_view ? NULL : error_view_for(status);
    if (!view)
        return 0;
    fresh_response(req, status);
    req->in_error_view = 1;
    int rc = view(req, status, detail);
    req->in_error_view = 0;
    if (rc == AIO_OK && req->status == status)
        return 1;
    aio__log("the error view for %d failed on %s %s: %s", status, req->method, req->path,
             rc != AIO_OK ? (req->failure ? req->failure : aio_strerror(rc))
                          : "it changed the status");
    return 0;
}

void aio__respond_error(struct aio_request *req, int status, const char *detail)
{
    if (req->streaming) { /* its head is out: the host ends it unfinished */
        req->stream_broken = 1;
        return;
    }
    if (!run_error_view(req, status, detail))
        builtin_page(req, status, detail);
}
