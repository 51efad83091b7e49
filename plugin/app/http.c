/* http.c - aio_http.h: outbound HTTP requests from coroutines, on the
 * engine's transfers (engine/curl.c). This file sets a transfer up from
 * the options, collects the answer into the request's memory and says
 * what failed in the request's words. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uwsgi-aio/aio_http.h>

#include "app/app.h"
#include "base/buf.h"
#include "engine/curl.h"
#include "proto/http.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RESPONSE (16u << 20)
#define MAX_HEADER_BYTES (64u << 10)

/* What a transfer collects while it runs. */
struct answer {
    struct aio_buf body;
    struct aio_buf head; /* header lines of the latest response, "\n" after each */
    size_t max_body;
    int too_large;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t len = size * n;
    if (a->body.len + len > a->max_body) {
        a->too_large = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return aio__buf_append(&a->body, data, len) == AIO_OK ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        aio__buf_reset(&a->head); /* a new response (after a 100, say): its headers only */
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    size_t name_len, value_len;
    const char *value;
    if (!aio__http_split_header(data, len, &name_len, &value, &value_len))
        return size * n; /* the status line, the blank line, a line that is no header */
    if (a->head.len + len + 1 > MAX_HEADER_BYTES)
        return 0;
    if (aio__buf_append(&a->head, data, len) != AIO_OK || aio__buf_append(&a->head, "\n", 1))
        return 0;
    return size * n;
}

/* The header lines kept (each one aio__http_split_header() takes, "\n"
 * after it) into the response's array. */
static int parse_headers(aio_request *req, const struct aio_buf *head, aio_http_response *res)
{
    size_t count = 0;
    for (size_t i = 0; i < head->len; i++)
        count += head->data[i] == '\n';
    aio_http_header *headers = aio_alloc(req, (count ? count : 1) * sizeof(*headers));
    if (!headers)
        return AIO_ENOMEM;
    const char *p = head->data, *end = head->data + head->len;
    size_t n = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t name_len, value_len;
        const char *value;
        aio__http_split_header(p, (size_t)(eol - p), &name_len, &value, &value_len);
        headers[n].name = aio__arena_strndup(&req->arena, p, name_len);
        headers[n].value = aio__arena_strndup(&req->arena, value, value_len);
        if (!headers[n].name || !headers[n].value)
            return AIO_ENOMEM;
        n++;
        p = eol + 1;
    }
    res->headers = headers;
    res->nheaders = n;
    return AIO_OK;
}

const char *aio_http_get_header(const aio_http_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

/* ---- setting a transfer up ---------------------------------------------------------- */

static int valid_method(const char *method)
{
    if (!*method)
        return 0;
    for (const char *p = method; *p; p++)
        if (!isupper((unsigned char)*p) && *p != '-' && *p != '_')
            return 0;
    return 1;
}

static int valid_options(const struct aio_http_options *o)
{
    if (!o || !o->url || o->timeout_ms < 0 || (o->body_len && !o->body))
        return 0;
    if (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)
        return 0;
    for (const char *p = o->url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0; /* no spaces or control bytes: they would split the request line */
    if (o->method && !valid_method(o->method))
        return 0;
    for (const char *const *h = o->headers; h && *h; h++)
        if (!strchr(*h, ':') || strpbrk(*h, "\r\n"))
            return 0;
    return 1;
}

static int setup(CURL *easy, const struct aio_http_options *o, struct answer *a,
                 struct curl_slist **headers, char *error)
{
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *more = curl_slist_append(*headers, *h);
        if (!more)
            return AIO_ENOMEM;
        *headers = more;
    }
    int timeout = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode rc = CURLE_OK;
#define SET(option, value)                                                                     \
    if (rc == CURLE_OK)                                                                        \
    rc = curl_easy_setopt(easy, option, value)
    SET(CURLOPT_URL, o->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout);
    SET(CURLOPT_ERRORBUFFER, error);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, a);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, a);
    SET(CURLOPT_HTTPHEADER, *headers);
    if (o->body) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        SET(CURLOPT_POSTFIELDS, o->body);
    }
    if (o->ca_file)
        SET(CURLOPT_CAINFO, o->ca_file);
    if (o->method)
        SET(CURLOPT_CUSTOMREQUEST, o->method);
    if (o->method && strcmp(o->method, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
#undef SET
    return rc == CURLE_OK ? AIO_OK : AIO_EINVAL;
}

/* curl's verdict on a transfer that ended, as a status code. */
static int transfer_status(aio_request *req, const struct aio_http_options *o, CURLcode code,
                           const struct answer *a, const char *error)
{
    const char *why = *error ? error : curl_easy_strerror(code);
    switch (code) {
    case CURLE_OK:
        return AIO_OK;
    case CURLE_OPERATION_TIMEDOUT:
        aio_fail(req, "HTTP request to %s: no answer in time (%s)", o->url, why);
        return AIO_ETIMEDOUT;
    case CURLE_WRITE_ERROR:
        if (a->too_large) {
            aio_fail(req, "HTTP request to %s: the answer is larger than %zu bytes", o->url,
                     a->max_body);
            return AIO_EFULL;
        }
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        aio_fail(req, "HTTP request to %s: %s", o->url, why);
        return AIO_EINVAL;
    case CURLE_OUT_OF_MEMORY:
        return AIO_ENOMEM;
    default:
        break;
    }
    aio_fail(req, "HTTP request to %s failed: %s", o->url, why);
    return AIO_EUNAVAILABLE;
}

static int collect(aio_request *req, CURL *easy, struct answer *a, aio_http_response **out)
{
    aio_http_response *res = aio_alloc(req, sizeof(*res));
    /* The body is handed to the request as it is (up to max_response bytes:
     * not copied again), freed with it. */
    if (!res || aio__buf_reserve(&a->body, 1) != AIO_OK ||
        aio__request_on_free(req, free, a->body.data) != AIO_OK)
        return AIO_ENOMEM;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    a->body.data[a->body.len] = '\0';
    *res = (aio_http_response){.status = (int)status, .body = a->body.data,
                               .body_len = a->body.len};
    a->body = (struct aio_buf)AIO_BUF_INIT; /* the request's now */
    int rc = parse_headers(req, &a->head, res);
    if (rc == AIO_OK)
        *out = res;
    return rc;
}

int aio_http_request(aio_request *req, const struct aio_http_options *options,
                     aio_http_response **response)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!response)
        return AIO_EINVAL;
    *response = NULL;
    if (!valid_options(options)) {
        aio_fail(req, "aio_http_request: bad options (URL, method or headers)");
        return AIO_EINVAL;
    }
    CURL *easy = curl_easy_init();
    if (!easy)
        return AIO_ENOMEM;
    struct answer a = {.body = AIO_BUF_INIT, .head = AIO_BUF_INIT,
                       .max_body = options->max_response ? options->max_response
                                                         : DEFAULT_MAX_RESPONSE};
    struct curl_slist *headers = NULL;
    char error[CURL_ERROR_SIZE] = "";
    int rc = setup(easy, options, &a, &headers, error);
    CURLcode code = CURLE_OK;
    if (rc == AIO_OK) {
        int timeout = options->timeout_ms ? options->timeout_ms : DEFAULT_TIMEOUT_MS;
        /* curl's own timeout says it first; the park's is the backstop */
        rc = aio__curl_run(task, easy, timeout + 1000, &code);
    }
    if (rc == AIO_ETIMEDOUT)
        aio_fail(req, "HTTP request to %s: no answer in time", options->url);
    if (rc == AIO_OK)
        rc = transfer_status(req, options, code, &a, error);
    if (rc == AIO_OK)
        rc = collect(req, easy, &a, response);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    aio__buf_free(&a.body);
    aio__buf_free(&a.head);
    return rc;
}

int aio_http_get(aio_request *req, const char *url, int timeout_ms,
                 aio_http_response **response)
{
    struct aio_http_options options = {.url = url, .timeout_ms = timeout_ms};
    return aio_http_request(req, &options, response);
}
