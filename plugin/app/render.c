/* render.c - per-view renderers (SPEC §7): the view fills aio_result(req),
 * a JSON object (jansson's), and its renderer makes the response of it:
 * JSON, a template, or (the "string" renderer) what the view wrote, as
 * plain text. */
#include <jansson.h>
#include <string.h>

#include "app/registry.h"
#include "app/request.h"

struct json_t *aio_result(aio_request *req)
{
    if (!req->result)
        req->result = json_object();
    return req->result;
}

static int set_member(aio_request *req, const char *key, json_t *value)
{
    json_t *result = aio_result(req);
    if (!key || !value || !result) {
        json_decref(value);
        return AIO_EINVAL;
    }
    return json_object_set_new(result, key, value) == 0 ? AIO_OK : AIO_EINVAL;
}

int aio_result_set_string(aio_request *req, const char *key, const char *value)
{
    /* json_string() refuses text that is not UTF-8: AIO_EINVAL */
    return set_member(req, key, value ? json_string(value) : json_null());
}

int aio_result_set_int(aio_request *req, const char *key, long long value)
{
    return set_member(req, key, json_integer(value));
}

/* A JSON value as template text: strings as they are, null as nothing,
 * numbers and booleans as JSON writes them, containers as compact JSON. */
static const char *as_text(struct aio_request *req, const json_t *value)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_null(value))
        return "";
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *copy = text ? aio__arena_strdup(&req->arena, text) : NULL;
    free(text);
    return copy;
}

const char *aio_result_get(aio_request *req, const char *key)
{
    json_t *value = req->result && key ? json_object_get(req->result, key) : NULL;
    return value ? as_text(req, value) : NULL;
}

static const char *result_lookup(void *ctx, const char *name, size_t len)
{
    struct aio_request *req = ctx;
    json_t *value = req->result ? json_object_getn(req->result, name, len) : NULL;
    return value ? as_text(req, value) : NULL;
}

int aio__apply_renderer(struct aio_request *req, const struct aio_view *view)
{
    switch (view->renderer) {
    case AIO_RENDER_NONE:
        return AIO_OK;
    case AIO_RENDER_STRING:
        return aio__response_default_type(req, "text/plain; charset=utf-8");
    case AIO_RENDER_JSON: {
        char *text = json_dumps(aio_result(req), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            return AIO_ENOMEM;
        aio__buf_reset(&req->response_body);
        int rc = aio_write_body(req, text, strlen(text));
        free(text);
        return rc == AIO_OK ? aio__response_default_type(req, "application/json") : rc;
    }
    case AIO_RENDER_TEMPLATE:
        aio__buf_reset(&req->response_body);
        int rc = aio__template_render(view->template, result_lookup, req, &req->response_body);
        return rc == AIO_OK ? aio__response_default_type(req, AIO_HTML_TYPE) : rc;
    }
    return AIO_EINVAL;
}
