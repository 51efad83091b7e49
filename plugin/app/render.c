/* render.c - per-view renderers: the view fills aio_result(req),
 * a JSON object (jansson's), and its renderer makes the response of it:
 * JSON, a template, or (the "string" renderer) what the view wrote, as
 * plain text. */
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "app/registry.h"
#include "app/request.h"

struct json_t *aio_result(aio_request *req)
{
    if (!req->result)
        req->result = json_object();
    return req->result;
}

int aio_set_result(aio_request *req, json_t *value)
{
    if (!req || !value)
        return AIO_EINVAL;
    json_decref(req->result);
    req->result = value;
    return AIO_OK;
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

/* A JSON value as template text (template.h), in request memory. */
static const char *as_text(struct aio_request *req, const json_t *value)
{
    if (json_is_string(value))
        return json_string_value(value);
    char *text = aio__template_text(value);
    const char *copy = text ? aio__arena_strdup(&req->arena, text) : NULL;
    free(text);
    return copy;
}

/* {{> name}}: the module's template of that name. */
static const struct aio_template *module_partial(void *ctx, const char *name, size_t len)
{
    return aio__module_template_n(ctx, name, len);
}

static int render_template(struct aio_request *req, const struct aio_template *tpl,
                           const json_t *context)
{
    aio__buf_reset(&req->response_body);
    int rc = aio__template_render(tpl, context, module_partial, (void *)aio__view_module(req->view),
                                  &req->response_body);
    if (rc == AIO_EINVAL)
        aio_fail(req, "a template's partial is missing, or its sections and partials nest "
                      "deeper than %d", AIO_TEMPLATE_MAX_DEPTH);
    return rc == AIO_OK ? aio__response_default_type(req, AIO_HTML_TYPE) : rc;
}

const char *aio_result_get(aio_request *req, const char *key)
{
    json_t *value = req->result && key ? json_object_get(req->result, key) : NULL;
    return value ? as_text(req, value) : NULL;
}

int aio__apply_renderer(struct aio_request *req, const struct aio_view *view)
{
    if (req->responded)
        return AIO_OK; /* the view gave its response itself (Pyramid: a Response) */
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
        return render_template(req, view->template, aio_result(req));
    }
    return AIO_EINVAL;
}

/* ---- aio_render(): a template with variables given in the call ---------- */

/* What the last aio_render() was given, for aio_rendered_value() (NULL:
 * nothing). */
static void keep_rendered(aio_request *req, json_t *context)
{
    json_decref(req->rendered);
    req->rendered = context;
}

/* The view's module's template, or NULL (and the failure recorded). */
static const struct aio_template *find_template(aio_request *req, const char *template_path)
{
    const struct aio_template *tpl =
        req->view ? aio__module_template(aio__view_module(req->view), template_path) : NULL;
    if (!tpl)
        aio_fail(req, "template '%s' not found", template_path);
    return tpl;
}

int aio_render_json(aio_request *req, const char *template_path, const json_t *context)
{
    if (!req || !template_path)
        return AIO_EINVAL;
    const struct aio_template *tpl = find_template(req, template_path);
    if (!tpl)
        return AIO_ENOTFOUND;
    keep_rendered(req, NULL);
    return render_template(req, tpl, context);
}

const char *aio_html_escape(aio_request *req, const char *text)
{
    if (!req || !text)
        return NULL;
    struct aio_buf out = AIO_BUF_INIT;
    const char *copy = NULL;
    if (aio__html_escape(&out, text) == AIO_OK)
        copy = aio__arena_strdup(&req->arena, out.data ? out.data : "");
    aio__buf_free(&out);
    return copy;
}

int aio_vrender(aio_request *req, const char *template_path, va_list ap)
{
    if (!template_path)
        return AIO_EINVAL;
    const struct aio_template *tpl = find_template(req, template_path);
    if (!tpl)
        return AIO_ENOTFOUND;
    json_t *context = json_object();
    int rc = context ? AIO_OK : AIO_ENOMEM;
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name)
            break;
        const char *value = va_arg(ap, const char *);
        /* the bytes as given, UTF-8 or not (a later name wins) */
        json_t *text = rc == AIO_OK ? json_string_nocheck(value ? value : "") : NULL;
        if (rc == AIO_OK && (!text || json_object_set_new_nocheck(context, name, text)))
            rc = AIO_ENOMEM;
    }
    keep_rendered(req, context);
    return rc == AIO_OK ? render_template(req, tpl, context) : rc;
}

int aio_render(aio_request *req, const char *template_path, ...)
{
    va_list ap;
    va_start(ap, template_path);
    int rc = aio_vrender(req, template_path, ap);
    va_end(ap);
    return rc;
}

const char *aio_rendered_value(const aio_request *req, const char *name)
{
    return name && req->rendered ? json_string_value(json_object_get(req->rendered, name)) : NULL;
}
