#include "proto/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uwsgi-aio/aio_common.h>
#include "base/arena.h"
#include "base/buf.h"
#include "proto/params.h"
#include "base/utf8.h"

const char *aio__http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int aio__http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

int aio__http_split_header(const char *line, size_t len, size_t *name_len, const char **value,
                           size_t *value_len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || !aio__http_is_token(line, (size_t)(colon - line)))
        return 0;
    const char *start = colon + 1, *end = line + len;
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *name_len = (size_t)(colon - line);
    *value = start;
    *value_len = (size_t)(end - start);
    return 1;
}

int aio__http_valid_header_value(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

static int is_scheme(const char *s, size_t len)
{
    if (len == 0 || !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = (char)(s[i] | 0x20);
        if (!((c >= 'a' && c <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
              s[i] == '-' || s[i] == '.'))
            return 0;
    }
    return 1;
}

int aio__http_valid_location(const char *location)
{
    if (!location)
        return 0;
    size_t len = strlen(location);
    if (len == 0 || len > 8192)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)location[i] <= 0x20 || (unsigned char)location[i] >= 0x7f)
            return 0;
    if (location[0] == '/')
        return location[1] != '/' && location[1] != '\\';
    const char *sep = strstr(location, "://");
    return sep && is_scheme(location, (size_t)(sep - location)) && sep[3] && sep[3] != '/';
}

int aio__http_media_type_valid(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    return slash && slash > s && slash < s + len - 1 &&
           aio__http_is_token(s, (size_t)(slash - s)) &&
           aio__http_is_token(slash + 1, (size_t)(s + len - slash - 1));
}

size_t aio__http_media_type_len(const char *value)
{
    size_t len = strcspn(value, ";");
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    return len;
}

int aio__http_media_type_is(const char *value, const char *type)
{
    return value && aio__http_media_type_len(value) == strlen(type) &&
           strncasecmp(value, type, strlen(type)) == 0;
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The q of a range's parameters [p, end): 0 to 1000 (thousandths), 1000
 * without one, -1 when malformed. */
static int quality(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        p = skip_blanks(p);
        if (p >= end)
            break;
        if (*p != ';')
            return -1;
        p = skip_blanks(p + 1);
        const char *param_end = p;
        while (param_end < end && *param_end != ';')
            param_end++;
        if (param_end - p >= 2 && (p[0] | 0x20) == 'q' && p[1] == '=') {
            const char *v = p + 2;
            if (*v != '0' && *v != '1')
                return -1;
            q = (*v - '0') * 1000;
            v++;
            if (v < param_end && *v == '.') {
                v++;
                for (int scale = 100; v < param_end && *v >= '0' && *v <= '9' && scale; scale /= 10)
                    q += (*v++ - '0') * scale;
            }
            v = skip_blanks(v);
            if (v != param_end || q > 1000)
                return -1;
        }
        p = param_end;
    }
    return q;
}

/* How specifically the range [p, n) matches `type`: 3 exactly, 2 type/ *,
 * 1 * / *, 0 not at all, -1 malformed. */
static int range_match(const char *p, size_t n, const char *type)
{
    if (!aio__http_media_type_valid(p, n) && !(n == 3 && memcmp(p, "*/*", 3) == 0))
        return -1;
    if (n == 3 && memcmp(p, "*/*", 3) == 0)
        return 1;
    const char *slash = memchr(p, '/', n);
    size_t major = (size_t)(slash - p);
    const char *type_slash = strchr(type, '/');
    if (!type_slash || (size_t)(type_slash - type) != major || strncasecmp(p, type, major) != 0)
        return 0;
    if (n - major - 1 == 1 && slash[1] == '*')
        return 2;
    return strlen(type) == n && strncasecmp(p, type, n) == 0 ? 3 : 0;
}

int aio__http_accepts(const char *accept, const char *type)
{
    if (!accept || !*skip_blanks(accept))
        return 1;
    int best = 0, best_q = 0;
    for (const char *p = accept; *p;) {
        p = skip_blanks(p);
        const char *end = p + strcspn(p, ",");
        const char *range_end = p;
        while (range_end < end && *range_end != ';' && *range_end != ' ' && *range_end != '\t')
            range_end++;
        if (range_end > p) {
            int how = range_match(p, (size_t)(range_end - p), type);
            int q = quality(range_end, end);
            if (how < 0 || q < 0)
                return 1; /* does not parse: as if absent */
            if (how > best) {
                best = how;
                best_q = q;
            }
        }
        p = *end ? end + 1 : end;
    }
    return best > 0 && best_q > 0;
}

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", AIO_GET},       {"HEAD", AIO_HEAD},   {"POST", AIO_POST},
    {"PUT", AIO_PUT},       {"DELETE", AIO_DELETE}, {"PATCH", AIO_PATCH},
    {"OPTIONS", AIO_OPTIONS},
};

unsigned aio__http_method_bit(const char *method)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i].name) == 0)
            return methods[i].bit;
    return 0;
}

size_t aio__http_format_methods(unsigned mask, char *out, size_t size)
{
    size_t len = 0;
    if (size)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (!(mask & methods[i].bit))
            continue;
        int n = snprintf(out + len, size > len ? size - len : 0, "%s%s",
                         len ? ", " : "", methods[i].name);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return len < size ? len : (size ? size - 1 : 0);
}

static char cgi_char(char c)
{
    if (c == '-')
        return '_';
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A');
    return c;
}

static int cgi_equal(const char *name, const char *var, size_t var_len)
{
    size_t i = 0;
    for (; name[i] && i < var_len; i++)
        if (cgi_char(name[i]) != var[i])
            return 0;
    return name[i] == '\0' && i == var_len;
}

/* CGI names the two entity headers without the HTTP_ prefix. */
static int is_entity_header(const char *name)
{
    return cgi_equal(name, "CONTENT_TYPE", 12) || cgi_equal(name, "CONTENT_LENGTH", 14);
}

int aio__http_header_is_cgi_var(const char *name, const char *var, size_t var_len)
{
    if (is_entity_header(name))
        return cgi_equal(name, var, var_len);
    if (var_len < 5 || memcmp(var, "HTTP_", 5) != 0)
        return 0;
    return cgi_equal(name, var + 5, var_len - 5);
}

char *aio__http_cgi_var(struct aio_arena *arena, const char *name)
{
    size_t len = strlen(name);
    char *var = aio__arena_alloc(arena, len + 6);
    if (!var)
        return NULL;
    char *p = var;
    if (!is_entity_header(name)) {
        memcpy(p, "HTTP_", 5);
        p += 5;
    }
    for (size_t i = 0; i < len; i++)
        *p++ = cgi_char(name[i]);
    *p = '\0';
    return var;
}

const char *aio__http_check_request_line(const char *method, size_t method_len,
                                        const char *protocol, size_t protocol_len)
{
    if (!aio__http_is_token(method, method_len))
        return "malformed request method";
    if (protocol_len < 6 || memcmp(protocol, "HTTP/", 5) != 0)
        return "malformed or missing HTTP version";
    return NULL;
}

const char *aio__http_decode_target(struct aio_arena *arena, const char *target, size_t len,
                                   const char **path)
{
    const char *query = memchr(target, '?', len);
    if (query)
        len = (size_t)(query - target);
    size_t scheme = len > 7 && memcmp(target, "http://", 7) == 0    ? 7
                    : len > 8 && memcmp(target, "https://", 8) == 0 ? 8
                                                                    : 0;
    if (scheme) { /* absolute-form: keep the path after the authority */
        const char *slash = memchr(target + scheme, '/', len - scheme);
        if (!slash)
            return "the request target has no path";
        len -= (size_t)(slash - target);
        target = slash;
    }
    if (len == 0 || target[0] != '/')
        return "the request target must be a path";
    char *decoded = aio__arena_alloc(arena, len + 1);
    size_t decoded_len = 0;
    if (!decoded)
        return "out of memory";
    if (aio__percent_decode(decoded, target, len, 0, &decoded_len, NULL) != AIO_OK)
        return "malformed percent-escape (or encoded NUL) in the path";
    if (!aio__utf8_valid(decoded, decoded_len))
        return "the decoded path is not UTF-8";
    *path = decoded;
    return NULL;
}

const char *aio__http_check_decoded_path(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return "PATH_INFO must be a path (start with '/')";
    if (memchr(path, '\0', len))
        return "a NUL byte in PATH_INFO";
    if (!aio__utf8_valid(path, len))
        return "PATH_INFO is not UTF-8";
    return NULL;
}

int aio__http_error_body(struct aio_buf *out, int status, const char *detail)
{
    int rc = aio__buf_printf(out, "%d %s\n", status, aio__http_reason(status));
    if (rc == AIO_OK && detail)
        rc = aio__buf_printf(out, "\n%s\n", detail);
    return rc;
}

/* 1 when the comma-separated header value lists `token` (any case). */
int aio__http_has_token(const char *value, const char *token)
{
    size_t len = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == len && strncasecmp(p, token, len) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* Bytes that need a closer look in a request head: controls (CR, LF and
 * the forbidden ones) and DEL. HTAB and octets >= 0x80 are plain. */
static const unsigned char head_special[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1,
    [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1,
    [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1,
    [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, [0x7f] = 1,
};

#define MAX_HEAD_LINE 0xffff

size_t aio__http_head_scan(const char *buf, size_t len, const char **problem)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t line_start = 0;
    *problem = NULL;
    for (size_t i = 0; i < len; i++) {
        while (!head_special[b[i]])
            if (++i == len)
                return 0;
        if (b[i] == '\n') {
            *problem = "an LF without CR in the request head";
            return 0;
        }
        if (b[i] != '\r') {
            *problem = b[i] ? "a control byte in the request head" : "a NUL byte in the request head";
            return 0;
        }
        if (i + 1 == len)
            return 0; /* its LF may be on the way */
        if (b[i + 1] != '\n') {
            *problem = "a CR without LF in the request head";
            return 0;
        }
        if (i + 1 - line_start > MAX_HEAD_LINE) { /* with its CR: stricter than uWSGI */
            *problem = "a request head line over 65535 bytes";
            return 0;
        }
        i++; /* the LF */
        line_start = i + 1;
        if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3; /* CRLF CRLF */
    }
    return 0;
}
