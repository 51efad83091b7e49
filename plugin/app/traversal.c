/* traversal.c - Pyramid's traversal (SPEC §9): a route's *traverse path is
 * walked segment by segment from the root resource, through the resources'
 * child() lookups (which may suspend). Where a segment has no child, it is
 * the view name and what follows is the subpath. */
#include <string.h>

#include "app/registry.h"
#include "app/request.h"

/* Splits "a/b/./../c" into segments: empty ones and "." are dropped, ".."
 * drops the one before. */
static size_t split(struct aio_request *req, const char *path, const char ***out)
{
    size_t max = 1;
    for (const char *p = path; *p; p++)
        max += *p == '/';
    const char **segments = aio__arena_alloc(&req->arena, max * sizeof(*segments));
    size_t n = 0;
    for (const char *p = path; segments && *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && memcmp(p, "..", 2) == 0) {
            n -= n > 0;
        } else if (len && !(len == 1 && *p == '.')) {
            const char *segment = aio__arena_strndup(&req->arena, p, len);
            if (!segment)
                return (size_t)-1;
            segments[n++] = segment;
        }
        p += len + (p[len] == '/');
    }
    *out = segments;
    return segments ? n : (size_t)-1;
}

static const char *join(struct aio_request *req, const char **segments, size_t n)
{
    struct aio_buf path = AIO_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (aio__buf_printf(&path, "%s%s", i ? "/" : "", segments[i]) != AIO_OK) {
            aio__buf_free(&path);
            return NULL;
        }
    const char *copy = aio__arena_strdup(&req->arena, path.data ? path.data : "");
    aio__buf_free(&path);
    return copy;
}

int aio__traverse(struct aio_request *req, const struct aio_route *route)
{
    void *resource = NULL;
    const struct aio_resource_type *type = NULL;
    int rc = route->root(req, &resource, &type);
    if (rc != AIO_OK || !type)
        return rc != AIO_OK ? rc : AIO_EINVAL;
    const char *path = aio_match(req, "traverse");
    const char **segments;
    size_t n = split(req, path ? path : "", &segments);
    if (n == (size_t)-1)
        return AIO_ENOMEM;
    /* the lineage, root first while walking, reversed at the end */
    void **lineage = aio__arena_alloc(&req->arena, (n + 1) * sizeof(*lineage));
    const struct aio_resource_type **types = aio__arena_alloc(&req->arena, (n + 1) * sizeof(*types));
    if (!lineage || !types)
        return AIO_ENOMEM;
    size_t depth = 0, i = 0;
    lineage[depth] = resource;
    types[depth++] = type;
    for (; i < n && type->child; i++) {
        void *child = NULL;
        const struct aio_resource_type *child_type = NULL;
        rc = type->child(req, resource, segments[i], &child, &child_type);
        if (rc == AIO_ENOTFOUND)
            break;
        if (rc != AIO_OK || !child_type)
            return rc != AIO_OK ? rc : AIO_EINVAL;
        resource = child;
        type = child_type;
        lineage[depth] = resource;
        types[depth++] = type;
    }
    for (size_t a = 0, b = depth - 1; a < b; a++, b--) {
        void *r = lineage[a];
        lineage[a] = lineage[b];
        lineage[b] = r;
        const struct aio_resource_type *t = types[a];
        types[a] = types[b];
        types[b] = t;
    }
    req->lineage = lineage;
    req->lineage_types = types;
    req->lineage_len = depth;
    req->view_name = i < n ? segments[i] : "";
    req->subpath = i + 1 < n ? join(req, segments + i + 1, n - i - 1) : "";
    return req->subpath ? AIO_OK : AIO_ENOMEM;
}

void *aio_context(const aio_request *req)
{
    return req->lineage_len ? req->lineage[0] : NULL;
}

const char *aio_context_type(const aio_request *req)
{
    return req->lineage_len ? req->lineage_types[0]->name : NULL;
}

const char *aio_view_name(const aio_request *req)
{
    return req->view_name;
}

const char *aio_subpath(const aio_request *req)
{
    return req->subpath;
}
