/* predicates.c - view predicates (Pyramid's accept, header, request_param,
 * xhr and a content type): what a view spec says, copied, and whether a
 * request satisfies it. */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "proto/http.h"

/* "name" or "name<sep>value" into two copies (value NULL without sep). */
static int split(const char *given, char sep, char **name, char **value)
{
    const char *at = strchr(given, sep);
    size_t len = at ? (size_t)(at - given) : strlen(given);
    *name = strndup(given, len);
    *value = at ? strdup(at + 1) : NULL;
    return *name && (!at || *value) ? AIO_OK : AIO_ENOMEM;
}

int aio__predicates_copy(struct aio_view_predicates *p, const struct aio_view_spec *spec,
                         const char **why)
{
    memset(p, 0, sizeof(*p));
    if (spec->accept && !aio__http_media_type_valid(spec->accept, strlen(spec->accept))) {
        *why = "the accept predicate must be a media type such as \"application/json\"";
        return AIO_EINVAL;
    }
    if (spec->content_type &&
        !aio__http_media_type_valid(spec->content_type, strlen(spec->content_type))) {
        *why = "the content_type predicate must be a media type such as \"application/json\"";
        return AIO_EINVAL;
    }
    int rc = AIO_OK;
    if (spec->accept && !(p->accept = strdup(spec->accept)))
        rc = AIO_ENOMEM;
    if (rc == AIO_OK && spec->content_type && !(p->content_type = strdup(spec->content_type)))
        rc = AIO_ENOMEM;
    if (rc == AIO_OK && spec->header)
        rc = split(spec->header, ':', &p->header_name, &p->header_value);
    if (rc == AIO_OK && spec->request_param)
        rc = split(spec->request_param, '=', &p->param_name, &p->param_value);
    if (rc == AIO_OK && p->header_name &&
        !aio__http_is_token(p->header_name, strlen(p->header_name))) {
        *why = "the header predicate is \"Name\" or \"Name:value\", Name an HTTP token";
        rc = AIO_EINVAL;
    }
    if (rc == AIO_OK && p->param_name && !*p->param_name) {
        *why = "the request_param predicate is \"name\" or \"name=value\"";
        rc = AIO_EINVAL;
    }
    p->xhr = spec->xhr != 0;
    p->count = !!p->accept + !!p->content_type + !!p->header_name + !!p->param_name + p->xhr;
    if (rc != AIO_OK)
        aio__predicates_free(p);
    return rc;
}

void aio__predicates_free(struct aio_view_predicates *p)
{
    free(p->accept);
    free(p->content_type);
    free(p->header_name);
    free(p->header_value);
    free(p->param_name);
    free(p->param_value);
    memset(p, 0, sizeof(*p));
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int aio__predicates_equal(const struct aio_view_predicates *a, const struct aio_view_predicates *b)
{
    return same(a->accept, b->accept) && same(a->content_type, b->content_type) &&
           same(a->header_name, b->header_name) && same(a->header_value, b->header_value) &&
           same(a->param_name, b->param_name) && same(a->param_value, b->param_value) &&
           a->xhr == b->xhr;
}

static int has(const char *actual, const char *wanted)
{
    return actual && (!wanted || strcmp(actual, wanted) == 0);
}

enum aio_predicate_result aio__predicates_judge(const struct aio_view_predicates *p,
                                                const struct aio_request *req)
{
    if (!p->count)
        return AIO_PREDICATES_HOLD;
    int others = (!p->header_name || has(aio_header(req, p->header_name), p->header_value)) &&
                 (!p->param_name || has(aio_param(req, p->param_name), p->param_value)) &&
                 (!p->content_type ||
                  aio__http_media_type_is(aio_header(req, "Content-Type"), p->content_type)) &&
                 (!p->xhr || has(aio_header(req, "X-Requested-With"), "XMLHttpRequest"));
    if (!others)
        return AIO_PREDICATES_FAIL;
    if (p->accept && !aio__http_accepts(aio_header(req, "Accept"), p->accept))
        return AIO_PREDICATES_ACCEPT_FAILS;
    return AIO_PREDICATES_HOLD;
}
