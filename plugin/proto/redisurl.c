#include "proto/redisurl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>

#define SCHEME "redis://"

static int fail(char *error, size_t error_size, const char *url, const char *why)
{
    snprintf(error, error_size, "'%s' is not a Redis address: %s (expected "
             "redis://HOST[:PORT][/DB][?channel=NAME])", url, why);
    return AIO_EINVAL;
}

/* Copies [s, s+len) into dst[size] with a NUL; 0 when it does not fit. */
static int copy(char *dst, size_t size, const char *s, size_t len)
{
    if (len >= size)
        return 0;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 1;
}

/* Digits only, value in [min, max]; 0 otherwise. */
static int number(const char *s, size_t len, long min, long max, long *out)
{
    long n = 0;
    if (len == 0 || len > 7)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        n = n * 10 + (s[i] - '0');
    }
    if (n < min || n > max)
        return 0;
    *out = n;
    return 1;
}

static int host_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static int channel_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == ':';
}

static int printable_secret(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '%' || s[i] == '/' ||
            s[i] == '?')
            return 0;
    return 1;
}

/* [[USER]:PASSWORD@] */
static const char *parse_userinfo(const char *p, struct aio_redis_url *out, const char **why)
{
    const char *at = strchr(p, '@');
    const char *slash = strpbrk(p, "/?");
    if (!at || (slash && slash < at))
        return p;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) {
        *why = "credentials must be ':PASSWORD@' or 'USER:PASSWORD@'";
        return NULL;
    }
    size_t ulen = (size_t)(colon - p), plen = (size_t)(at - colon - 1);
    if (plen == 0 || !printable_secret(p, (size_t)(at - p)) ||
        !copy(out->user, sizeof(out->user), p, ulen) ||
        !copy(out->password, sizeof(out->password), colon + 1, plen)) {
        *why = "bad credentials (empty password, too long, or a blank, '%', '/' or '?' in them)";
        return NULL;
    }
    return at + 1;
}

/* HOST[:PORT] up to the end, '/' or '?' */
static const char *parse_host_port(const char *p, struct aio_redis_url *out, const char **why)
{
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end == host) {
            *why = "an IPv6 address needs its closing ']'";
            return NULL;
        }
        for (const char *c = host; c < host_end; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.') {
                *why = "bad IPv6 address";
                return NULL;
            }
        p = host_end + 1;
    } else {
        while (host_name_char(*p))
            p++;
        host_end = p;
        if (host_end == host) {
            *why = "no host";
            return NULL;
        }
    }
    if (!copy(out->host, sizeof(out->host), host, (size_t)(host_end - host))) {
        *why = "host name too long";
        return NULL;
    }
    out->port = AIO_REDIS_DEFAULT_PORT;
    if (*p == ':') {
        const char *digits = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        long port;
        if (!number(digits, (size_t)(p - digits), 1, 65535, &port)) {
            *why = "the port must be a number from 1 to 65535";
            return NULL;
        }
        out->port = (int)port;
    }
    if (*p && *p != '/' && *p != '?') {
        *why = "unexpected character after the host";
        return NULL;
    }
    return p;
}

/* [?channel=NAME] */
static int parse_query(const char *p, int allow_channel, struct aio_redis_url *out,
                       const char **why)
{
    static const char key[] = "channel=";
    if (!*p)
        return 1;
    if (strncmp(p + 1, key, sizeof(key) - 1) != 0) {
        *why = allow_channel ? "the only query parameter is 'channel'"
                             : "no query parameters are taken here";
        return 0;
    }
    if (!allow_channel) {
        *why = "a channel is only for aio-broadcast";
        return 0;
    }
    const char *name = p + sizeof(key);
    size_t len = strlen(name);
    for (size_t i = 0; i < len; i++)
        if (!channel_char(name[i])) {
            *why = "a channel name is letters, digits, '-', '.', '_' and ':'";
            return 0;
        }
    if (len == 0 || !copy(out->channel, sizeof(out->channel), name, len)) {
        *why = "a channel name is 1 to 128 characters";
        return 0;
    }
    return 1;
}

int aio__redis_url_parse(const char *url, int allow_channel, struct aio_redis_url *out,
                         char *error, size_t error_size)
{
    memset(out, 0, sizeof(*out));
    strcpy(out->channel, AIO_REDIS_DEFAULT_CHANNEL);
    if (!url)
        return fail(error, error_size, "", "no value");
    if (strncmp(url, SCHEME, sizeof(SCHEME) - 1) != 0)
        return fail(error, error_size, url, "it must start with redis://");
    const char *why = NULL;
    const char *p = parse_userinfo(url + sizeof(SCHEME) - 1, out, &why);
    if (p)
        p = parse_host_port(p, out, &why);
    if (p && *p == '/') {
        const char *digits = ++p;
        while (*p && *p != '?')
            p++;
        if (!number(digits, (size_t)(p - digits), 0, 1000000, &out->db)) {
            why = "the database must be a number from 0 to 1000000";
            p = NULL;
        }
    }
    if (p && !parse_query(p, allow_channel, out, &why))
        p = NULL;
    return p ? AIO_OK : fail(error, error_size, url, why);
}
