/* request.c - the request/response API of views. */
#include "app/request.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app/registry.h"
#include "engine/engine.h"
#include "proto/http.h"

struct aio_request *aio__request_new(void)
{
    struct aio_arena arena;
    aio__arena_init(&arena);
    struct aio_request *req = aio__arena_alloc(&arena, sizeof(*req));
    if (!req)
        return NULL;
    memset(req, 0, sizeof(*req));
    req->arena = arena;
    req->method = "GET";
    req->method_bit = AIO_GET;
    req->path = "/";
    req->query_string = "";
    req->remote_addr = "";
    req->body = "";
    req->status = 200;
    req->view_name = "";
    req->subpath = "";
    return req;
}

void aio__request_free(struct aio_request *req)
{
    if (!req)
        return;
    if (req->task)
        aio__task_check_stall(req->task); /* a stall names the request: now or never */
    for (struct aio_request_cleanup *c = req->cleanups; c; c = c->next)
        c->fn(c->arg);
    aio__buf_free(&req->response_body);
    aio__buf_free(&req->body_buf);
    json_decref(req->result);
    json_decref(req->json_body);
    json_decref(req->rendered);
    struct aio_arena arena = req->arena; /* req itself lives in the arena */
    aio__arena_release(&arena);
}

int aio__request_on_free(struct aio_request *req, void (*fn)(void *arg), void *arg)
{
    struct aio_request_cleanup *c = aio__arena_alloc(&req->arena, sizeof(*c));
    if (!c)
        return AIO_ENOMEM;
    *c = (struct aio_request_cleanup){.fn = fn, .arg = arg, .next = req->cleanups};
    req->cleanups = c;
    return AIO_OK;
}

int aio__request_set_line(struct aio_request *req, const char *method, const char *path,
                         const char *query_string)
{
    const char *m = aio__arena_strdup(&req->arena, method);
    const char *p = aio__arena_strdup(&req->arena, path);
    const char *q = aio__arena_strdup(&req->arena, query_string ? query_string : "");
    if (!m || !p || !q)
        return AIO_ENOMEM;
    req->method = m;
    req->method_bit = aio__http_method_bit(m);
    req->path = p;
    req->query_string = q;
    return AIO_OK;
}

int aio__request_add_header_var(struct aio_request *req, const char *var, size_t var_len,
                               const char *value, size_t value_len)
{
    const char *k = aio__arena_strndup(&req->arena, var, var_len);
    const char *v = aio__arena_strndup(&req->arena, value, value_len);
    if (!k || !v)
        return AIO_ENOMEM;
    return aio__kvlist_add(&req->arena, &req->headers, k, v);
}

int aio__is_form_content_type(const char *content_type)
{
    static const char form[] = "application/x-www-form-urlencoded";
    if (!content_type || strncasecmp(content_type, form, sizeof(form) - 1) != 0)
        return 0;
    char next = content_type[sizeof(form) - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

int aio__request_parse_body_params(struct aio_request *req, const char **error)
{
    if (!req->body_len || !aio__is_form_content_type(aio_header(req, "Content-Type")))
        return AIO_OK;
    return aio__parse_urlencoded(&req->arena, req->body, req->body_len, &req->params, error);
}

int aio__request_parse_params(struct aio_request *req, const char **error)
{
    int rc = aio__parse_urlencoded(&req->arena, req->query_string, strlen(req->query_string),
                                  &req->params, error);
    return rc == AIO_OK ? aio__request_parse_body_params(req, error) : rc;
}

/* ---- accessors ---------------------------------------------------- */

const char *aio_method(const aio_request *req) { return req->method; }
const char *aio_path(const aio_request *req) { return req->path; }
const char *aio_query_string(const aio_request *req) { return req->query_string; }
const char *aio_remote_addr(const aio_request *req) { return req->remote_addr; }

const char *aio_header(const aio_request *req, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < req->headers.count; i++) {
        const struct aio_kv *kv = &req->headers.items[i];
        if (aio__http_header_is_cgi_var(name, kv->key, strlen(kv->key)))
            return kv->value;
    }
    return NULL;
}

const char *aio_match(const aio_request *req, const char *name)
{
    return name ? aio__kvlist_get(&req->match, name) : NULL;
}

const char *aio_param(const aio_request *req, const char *name)
{
    return name ? aio__kvlist_get(&req->params, name) : NULL;
}

size_t aio_params(const aio_request *req, const char *name, const char **out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; name && i < req->params.count; i++) {
        if (strcmp(req->params.items[i].key, name) != 0)
            continue;
        if (found < max)
            out[found] = req->params.items[i].value;
        found++;
    }
    return found;
}

int aio_param_to_double(const aio_request *req, const char *name, double *out)
{
    const char *s = aio_param(req, name);
    if (!s || !*s)
        return AIO_ENOTFOUND;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return AIO_EINVAL;
    *out = v;
    return AIO_OK;
}

int aio_param_to_long(const aio_request *req, const char *name, long *out)
{
    const char *s = aio_param(req, name);
    if (!s || !*s)
        return AIO_ENOTFOUND;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno)
        return AIO_EINVAL;
    *out = v;
    return AIO_OK;
}

double aio_param_double(const aio_request *req, const char *name, double fallback)
{
    double v = fallback;
    return aio_param_to_double(req, name, &v) == AIO_OK ? v : fallback;
}

long aio_param_long(const aio_request *req, const char *name, long fallback)
{
    long v = fallback;
    return aio_param_to_long(req, name, &v) == AIO_OK ? v : fallback;
}

const char *aio_body(const aio_request *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body;
}

void *aio_alloc(aio_request *req, size_t size)
{
    return aio__arena_alloc(&req->arena, size);
}

char *aio_strdup(aio_request *req, const char *s)
{
    return s ? aio__arena_strdup(&req->arena, s) : NULL;
}

/* ---- response ----------------------------------------------------- */

int aio_set_status(aio_request *req, int status)
{
    if (status < 100 || status > 599)
        return AIO_EINVAL;
    req->status = status;
    return AIO_OK;
}

void aio__response_reset(struct aio_request *req)
{
    req->status = 200;
    req->response_headers.count = 0;
    req->has_content_type = 0;
    req->responded = 0;
    aio__buf_reset(&req->response_body);
}

int aio_add_header(aio_request *req, const char *name, const char *value)
{
    /* uWSGI's header API takes 16-bit lengths */
    if (!name || !value || strlen(name) > 255 || strlen(value) > 65000 ||
        !aio__http_is_token(name, strlen(name)) || !aio__http_valid_header_value(value) ||
        strcasecmp(name, "Content-Length") == 0)
        return AIO_EINVAL;
    const char *k = aio__arena_strdup(&req->arena, name);
    const char *v = aio__arena_strdup(&req->arena, value);
    if (!k || !v || aio__kvlist_add(&req->arena, &req->response_headers, k, v))
        return AIO_ENOMEM;
    if (strcasecmp(name, "Content-Type") == 0)
        req->has_content_type = 1;
    return AIO_OK;
}

int aio_write_body(aio_request *req, const void *data, size_t len)
{
    if (!data && len)
        return AIO_EINVAL;
    return aio__buf_append(&req->response_body, data, len);
}

int aio_printf(aio_request *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = aio__buf_vprintf(&req->response_body, fmt, ap);
    va_end(ap);
    return rc;
}

int aio__response_default_type(struct aio_request *req, const char *type)
{
    if (req->has_content_type)
        return AIO_OK;
    return aio_add_header(req, "Content-Type", type);
}

int aio__response_has_body(const struct aio_request *req)
{
    return req->status >= 200 && req->status != 204 && req->status != 304;
}

int aio_respond_text(aio_request *req, int status, const char *text)
{
    int rc = aio_set_status(req, status);
    if (rc == AIO_OK)
        rc = aio__response_default_type(req, "text/plain; charset=utf-8");
    if (rc == AIO_OK && text) {
        aio__buf_reset(&req->response_body);
        rc = aio_write_body(req, text, strlen(text));
    }
    if (rc == AIO_OK)
        req->responded = 1;
    return rc;
}

int aio_redirect(aio_request *req, int status, const char *location)
{
    int redirect = status == 301 || status == 302 || status == 303 || status == 307 ||
                   status == 308;
    if (!req || !redirect || !aio__http_valid_location(location))
        return AIO_EINVAL;
    aio__response_reset(req);
    int rc = aio_add_header(req, "Location", location);
    if (rc == AIO_OK)
        rc = aio_respond_text(req, status, NULL); /* the status, an empty body */
    return rc;
}

int aio_response_status(const aio_request *req)
{
    return req ? req->status : 0;
}

const char *aio_response_header(const aio_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    const char *value = aio__kvlist_get_case(&req->response_headers, name);
    if (!value && strcasecmp(name, "Content-Type") == 0 && req->response_body.len &&
        aio__response_has_body(req))
        value = AIO_DEFAULT_BODY_TYPE; /* what the host adds to a body without one */
    return value;
}

void aio_log(const aio_request *req, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt ? fmt : "", ap);
    va_end(ap);
    if (n < 0)
        return;
    for (char *c = msg; *c; c++)
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    if (req && req->method)
        aio__log("%s %s (route '%s', request %llu): %s", req->method, req->path,
                 aio__route_label(req), (unsigned long long)req->id, msg);
    else
        aio__log("%s", msg);
}

uint64_t aio_request_id(const aio_request *req)
{
    return req ? req->id : 0;
}

const char *aio_failure(const aio_request *req)
{
    return req ? req->failure : NULL;
}

int aio_fail(aio_request *req, const char *fmt, ...)
{
    struct aio_buf msg = AIO_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = aio__buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (rc == AIO_OK)
        req->failure = aio__arena_strdup(&req->arena, msg.data);
    aio__buf_free(&msg);
    return AIO_ERROR;
}
