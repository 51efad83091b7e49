/*
 * aio_http.h - outbound HTTP from coroutine views, on libcurl driven by the
 * worker's loop (curl's multi-socket API): a view suspends while its
 * transfer runs, and the worker serves everything else meanwhile.
 *
 *     aio_http_response *res;
 *     int rc = aio_http_get(req, "http://127.0.0.1:8080/items", 2000, &res);
 *     if (rc != AIO_OK)
 *         return rc;      // 503 or 504, as below; the log says why
 *     ...res->status, res->body, aio_http_get_header(res, "Content-Type")...
 *
 * Each worker has one set of transfers: any number run at once, and
 * connections (HTTP/1.1 keep-alive, TLS sessions) are kept and reused by
 * the worker's later requests to the same host. TLS is curl's (OpenSSL),
 * with its certificate checks on. A transfer whose request ends first (the
 * client went away, the request's deadline passed) is aborted and its
 * connection closed, so the upstream sees it go. Redirects are not
 * followed. Host names are resolved by curl's resolver thread, never on
 * the loop.
 *
 * Status codes: AIO_OK (an answer came, whatever its status);
 * AIO_ETIMEDOUT (no whole answer within timeout_ms or before the request's
 * deadline); AIO_EUNAVAILABLE (no connection, a broken one, a bad answer,
 * TLS refused); AIO_EFULL (the answer is larger than max_response);
 * AIO_ECANCELLED (the client went away); AIO_EINVAL (a bad URL or option);
 * AIO_ENOMEM; AIO_ESCOPE (not in a coroutine). A view that returns them
 * answers 504 and 503 (see aio_view_fn); a gateway answers 502 and 504
 * itself, as the tutorial's /relay does. What failed is the request's
 * failure (aio_failure(); the log line of a failing view names it).
 */
#ifndef AIO_HTTP_H
#define AIO_HTTP_H

#include <stddef.h>

#include <uwsgi-aio/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One outbound request. */
struct aio_http_options {
    const char *method;          /* NULL: GET, or POST with a body */
    const char *url;             /* http:// or https:// */
    const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;            /* sent as it is; may be NULL */
    size_t body_len;
    int timeout_ms;              /* the whole transfer: 0: 30000 */
    size_t max_response;         /* body bytes kept at most: 0: 16 MiB */
    const char *ca_file;         /* PEM certificates to trust for https (NULL:
                                    the system's) */
};

typedef struct aio_http_header {
    const char *name;
    const char *value;
} aio_http_header;

/* The answer, owned by the request. */
typedef struct aio_http_response {
    int status;
    const aio_http_header *headers; /* of the last response (not of a 100) */
    size_t nheaders;
    const char *body;               /* NUL-terminated too */
    size_t body_len;
} aio_http_response;

AIO_API int aio_http_request(aio_request *req, const struct aio_http_options *options,
                             aio_http_response **response);
/* A GET of `url`. */
AIO_API int aio_http_get(aio_request *req, const char *url, int timeout_ms,
                         aio_http_response **response);
/* The first header named `name` (any case), or NULL. */
AIO_API const char *aio_http_get_header(const aio_http_response *response, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* AIO_HTTP_H */
