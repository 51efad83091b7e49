/* url.c - the paths and URLs of the application's routes, from their
 * patterns and placeholder values (aio_route_path, aio_route_url). */
#include <stdarg.h>
#include <string.h>

#include "app/app.h"
#include "base/buf.h"
#include "proto/http.h"

/* The route's path from the NULL-terminated name/value pairs, or NULL. */
static const char *vroute_path(aio_request *req, const char *name, va_list ap)
{
    const struct aio_route *route = name ? aio__registry_find_route(&aio__app.registry, name)
                                         : NULL;
    struct aio_kvlist values = {0};
    const char *key;
    int rc = route ? AIO_OK : AIO_ENOTFOUND;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (rc == AIO_OK && !value)
            rc = AIO_EINVAL;
        if (rc == AIO_OK && aio__kvlist_add(&req->arena, &values, key, value))
            rc = AIO_ENOMEM;
    }
    const char *path = NULL;
    if (rc == AIO_OK)
        aio__pattern_expand(&route->pattern, &values, &req->arena, &path);
    return path;
}

/* The URL of `path`: the request's scheme and Host in front, or NULL. */
static const char *url_of(aio_request *req, const char *path)
{
    const char *host = aio_header(req, "Host");
    if (!path || !host || !*host || !aio__http_valid_header_value(host) || strpbrk(host, "/ "))
        return NULL;
    struct aio_buf url = AIO_BUF_INIT;
    const char *copy = NULL;
    if (aio__buf_printf(&url, "%s://%s%s", req->https ? "https" : "http", host, path) == AIO_OK)
        copy = aio__arena_strdup(&req->arena, url.data);
    aio__buf_free(&url);
    return copy;
}

/* aio_route_path (absolute = 0) and aio_route_url (1). */
static const char *route_location(aio_request *req, int absolute, const char *route, va_list ap)
{
    if (!req)
        return NULL;
    const char *path = vroute_path(req, route, ap);
    return absolute ? url_of(req, path) : path;
}

const char *aio_route_path(aio_request *req, const char *route, ...)
{
    va_list ap;
    va_start(ap, route);
    const char *path = route_location(req, 0, route, ap);
    va_end(ap);
    return path;
}

const char *aio_route_url(aio_request *req, const char *route, ...)
{
    va_list ap;
    va_start(ap, route);
    const char *url = route_location(req, 1, route, ap);
    va_end(ap);
    return url;
}
