/* cookies.c - cookies: those the request brought (aio_cookie) and those
 * the response sets (aio_set_cookie, aio_delete_cookie; RFC 6265 section
 * 4.1), for views and for the signed-ticket policy alike. */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "app/request.h"
#include "base/buf.h"
#include "proto/http.h"
#include "proto/http1.h"

/* ---- the request's --------------------------------------------------------- */

static void parse_cookies(struct aio_request *req)
{
    req->cookies_parsed = 1;
    const char *header = aio_header(req, "Cookie");
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && eq > p) {
            const char *value = eq + 1, *value_end = end;
            while (value_end > value && value_end[-1] == ' ')
                value_end--;
            if (value_end - value >= 2 && *value == '"' && value_end[-1] == '"')
                value++, value_end--;
            const char *k = aio__arena_strndup(&req->arena, p, (size_t)(eq - p));
            const char *v = aio__arena_strndup(&req->arena, value, (size_t)(value_end - value));
            if (k && v)
                aio__kvlist_add(&req->arena, &req->cookies, k, v);
        }
        p = end;
    }
}

const char *aio_cookie(aio_request *req, const char *name)
{
    if (!req->cookies_parsed)
        parse_cookies(req);
    return name ? aio__kvlist_get(&req->cookies, name) : NULL;
}

/* ---- the response's --------------------------------------------------------- */

/* cookie-octet: visible ASCII but DQUOTE, comma, semicolon and backslash */
static int cookie_value_valid(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == ',' || *p == ';' || *p == '\\')
            return 0;
    return 1;
}

/* Path and Domain: any visible character but ';' (the attribute's end) */
static int attribute_valid(const char *v)
{
    if (!*v)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == ';')
            return 0;
    return 1;
}

static const char *same_site_of(const char *given)
{
    static const char *const values[] = {"Lax", "Strict", "None"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (strcasecmp(given, values[i]) == 0)
            return values[i];
    return NULL;
}

static int options_valid(const struct aio_cookie_options *o)
{
    if (o->max_age_s < 0 || o->expires < 0 || (o->path && !attribute_valid(o->path)) ||
        (o->domain && !attribute_valid(o->domain)))
        return 0;
    if (o->same_site && (!same_site_of(o->same_site) ||
                         (!strcasecmp(o->same_site, "None") && !o->secure)))
        return 0; /* browsers refuse SameSite=None without Secure */
    return 1;
}

static int format_cookie(struct aio_buf *out, const char *name, const char *value,
                         const struct aio_cookie_options *o, int expire)
{
    int rc = aio__buf_printf(out, "%s=%s; Path=%s", name, value, o->path ? o->path : "/");
    if (rc == AIO_OK && o->domain)
        rc = aio__buf_printf(out, "; Domain=%s", o->domain);
    if (rc == AIO_OK && expire) {
        rc = aio__buf_append_str(out, "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    } else {
        if (rc == AIO_OK && o->max_age_s)
            rc = aio__buf_printf(out, "; Max-Age=%" PRId64, o->max_age_s);
        if (rc == AIO_OK && o->expires) {
            char date[AIO_HTTP_DATE_LEN + 1];
            aio__http_date(o->expires, date);
            rc = aio__buf_printf(out, "; Expires=%s", date);
        }
    }
    if (rc == AIO_OK && o->secure)
        rc = aio__buf_append_str(out, "; Secure");
    if (rc == AIO_OK && o->http_only)
        rc = aio__buf_append_str(out, "; HttpOnly");
    if (rc == AIO_OK && o->same_site)
        rc = aio__buf_printf(out, "; SameSite=%s", same_site_of(o->same_site));
    return rc;
}

static int add_set_cookie(aio_request *req, const char *name, const char *value,
                          const struct aio_cookie_options *options, int expire)
{
    static const struct aio_cookie_options defaults = {0};
    const struct aio_cookie_options *o = options ? options : &defaults;
    if (!req || !name || !value || !aio__http_is_token(name, strlen(name)) ||
        !cookie_value_valid(value) || !options_valid(o))
        return AIO_EINVAL;
    struct aio_buf header = AIO_BUF_INIT;
    int rc = format_cookie(&header, name, value, o, expire);
    if (rc == AIO_OK)
        rc = aio_add_header(req, "Set-Cookie", header.data); /* EINVAL past its length bound */
    aio__buf_free(&header);
    return rc;
}

int aio_set_cookie(aio_request *req, const char *name, const char *value,
                   const struct aio_cookie_options *options)
{
    return add_set_cookie(req, name, value, options, 0);
}

int aio_delete_cookie(aio_request *req, const char *name, const struct aio_cookie_options *options)
{
    return add_set_cookie(req, name, "", options, 1);
}
