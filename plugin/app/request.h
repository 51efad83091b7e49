/* request.h - the aio_request object: what a view reads and writes. It
 * knows nothing of uWSGI or the loop, so dummy requests for tests and real
 * ones share all of this code. */
#ifndef AIO_REQUEST_H
#define AIO_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <uwsgi-aio/aio.h>
#include "base/arena.h"
#include "base/buf.h"
#include "proto/params.h"

struct aio_task;
struct aio_route;
struct json_t;
struct aio_view;
struct aio_registry;

/* Something to undo when the request is freed (aio__request_on_free). */
struct aio_request_cleanup {
    void (*fn)(void *arg);
    void *arg;
    struct aio_request_cleanup *next;
};

struct aio_request {
    struct aio_arena arena;
    struct aio_request_cleanup *cleanups; /* run last first, before the arena goes */
    /* input */
    const char *method;
    unsigned method_bit;       /* AIO_GET..., 0 for other methods */
    const char *path;          /* percent-decoded */
    const char *query_string;  /* raw */
    const char *remote_addr;
    struct aio_kvlist headers; /* CGI names: HTTP_USER_AGENT, CONTENT_TYPE */
    struct aio_kvlist params;
    struct aio_kvlist match;
    const char *body;
    size_t body_len;
    /* the host has a body to read for it (body.c), from the connection */
    int body_pending;
    struct aio_buf body_buf; /* the body read whole (body points into it) */
    size_t body_read;        /* aio_body_read() of a body already in memory */
    uint64_t started_us;       /* when it began (wall clock), for log lines */
    uint64_t arrived_ms;       /* when dispatch began (the loop's clock): deadlines */
    /* dispatch */
    const struct aio_registry *registry;
    const struct aio_route *route;
    const struct aio_view *view;
    /* response */
    int status;
    struct aio_kvlist response_headers;
    struct aio_buf response_body;
    int has_content_type;
    int responded;             /* aio_respond_text(): the renderer stays out */
    int https;                 /* it came over TLS (HTTPS=on: https-socket, nginx) */
    int in_error_view;         /* an error view runs (errors.c): no nesting */
    int refused;               /* ... and a framework helper refused the request
                                  (aio_json_body): the view's error stands for it */
    struct json_t *rendered; /* the last aio_render()'s variables (aio_rendered_value) */
    struct json_t *result; /* for the view's renderer, created on demand */
    struct json_t *json_body; /* aio_json_body()'s, parsed once */
    const char *failure;
    /* identity, computed once per request (auth.c) */
    int identity_done;
    const char *claimed_userid;
    const char *userid;
    aio_principals principals;
    void *authn_data; /* the policy's, for this request */
    struct aio_kvlist cookies;
    int cookies_parsed;
    /* traversal (traversal.c): the lineage, context first */
    void **lineage;
    const struct aio_resource_type **lineage_types;
    size_t lineage_len;
    const char *view_name;
    const char *subpath;
    /* execution: the task running this request, NULL for dummies */
    struct aio_task *task;
    uint64_t id;     /* this worker's count of requests and task contexts, from 1 */
    int unavailable; /* the executor was full: answer 503 */
    int upgraded;    /* a websocket took over the connection: answer nothing */
    int detached;    /* ... and outlives the request's task: the session frees it */
    struct aio_ws *ws; /* a callbacks session open past the view (websocket.c) */
    /* a streamed response (stream.c): its head is out; its end too */
    int streaming;
    int stream_ended;
    int stream_broken; /* failed after its head: it must not look complete */
    int stream_has_length; /* aio_send_fd(): the stream's length is known */
    uint64_t stream_length;
    /* aio_sse_begin()'s heartbeat, and when the stream was last written */
    int64_t sse_heartbeat_ms;
    uint64_t stream_written_ms;
};

/* A new, empty request (method GET, path "/"), or NULL. */
struct aio_request *aio__request_new(void);
void aio__request_free(struct aio_request *req);
/* fn(arg) when the request is freed (cleanups run last registered first).
 * AIO_OK or AIO_ENOMEM (then it will not run: undo it now). */
int aio__request_on_free(struct aio_request *req, void (*fn)(void *arg), void *arg);

/* Setters used when building a request (copies into the arena). */
int aio__request_set_line(struct aio_request *req, const char *method, const char *path,
                         const char *query_string);
int aio__request_add_header_var(struct aio_request *req, const char *var, size_t var_len,
                               const char *value, size_t value_len);
/* Parses the query string and, for urlencoded bodies, the body into params.
 * AIO_EINVAL with *error set on malformed input. */
int aio__request_parse_params(struct aio_request *req, const char **error);
/* The body's part of that alone (once a body is read). */
int aio__request_parse_body_params(struct aio_request *req, const char **error);

/* body.c: reads the whole body for a view that does not stream it (with
 * the body's urlencoded parameters), at most aio__app.opts.body_max bytes.
 * 0, the status to answer (400, 408, 413) or -1 (the client is gone). */
int aio__request_read_body(struct aio_request *req, const char **why);

/* Walks the route's traversal path (traversal.c); may suspend. */
int aio__traverse(struct aio_request *req, const struct aio_route *route);

/* Runs the tween chain around `handler` (tween.c). */
int aio__run_tweens(aio_request *req, aio_tween_fn const *chain, size_t n,
                   int (*handler)(aio_request *req));

/* Makes the response of aio_result(req) with the view's renderer (render.c). */
int aio__apply_renderer(struct aio_request *req, const struct aio_view *view);

/* Content-Type `type`, unless the response has one already. */
int aio__response_default_type(struct aio_request *req, const char *type);
/* 0 for the statuses that have no body (1xx, 204, 304). */
int aio__response_has_body(const struct aio_request *req);
/* HTML: what a template renders. */
#define AIO_HTML_TYPE "text/html; charset=utf-8"
/* What the server calls a body sent without a Content-Type: plain text, so
 * that nothing a view echoes is ever taken for markup. */
#define AIO_DEFAULT_BODY_TYPE "text/plain; charset=utf-8"

/* Forgets the response built so far (status back to 200). */
void aio__response_reset(struct aio_request *req);

/* Form content type check: "application/x-www-form-urlencoded; charset=x" */
int aio__is_form_content_type(const char *content_type);

/* Public in <uwsgi-aio/aio_testing.h>, for tests, and implemented here
 * (render.c), where that header may not be included (it is the test
 * host's): declared again so that they are exported (AIO_API) and the unit
 * tests of this layer see them. The test host sees both declarations, so
 * the compiler checks that they agree. */
AIO_API const char *aio_rendered_value(const aio_request *req, const char *name);
AIO_API const char *aio_result_get(aio_request *req, const char *key);

#endif
