/*
 * aio.h - the public API of uwsgi-aio.
 *
 * A view module is a shared object that includes this header and defines
 * aio_main(). uwsgi-aio loads it (option `aio-views`), calls aio_main() once
 * per worker before serving, and then calls the views it registered.
 *
 * Conventions
 *   - Names avoid POSIX AIO's (aio_read, aio_write, aio_error, aio_return,
 *     aio_suspend, aio_cancel, aio_fsync, aio_init), which glibc exports,
 *     and the header is included as <uwsgi-aio/aio.h> (-I the directory
 *     above uwsgi-aio/) so that it never meets POSIX's own <aio.h>.
 *   - Functions that can fail return an int status: AIO_OK (0) or a negative
 *     AIO_E* code; aio_strerror() turns it into text.
 *   - Strings returned by request accessors belong to the request (see
 *     Lifetimes below).
 *   - Suspending functions (aio_sleep_ms, aio_wait_fd ...) may only be
 *     called from a coroutine: a coroutine view or any function it calls.
 *     Called anywhere else they return AIO_ESCOPE (aiopyramid's ScopeError).
 *   - Times are whole milliseconds, and the names that hold them say so
 *     (aio_sleep_ms, aio_wait_fd's timeout_ms, struct aio_authtkt's *_ms;
 *     aio_testing.h's too). The one exception is aio_sleep(), a convenience
 *     taking seconds as a double for numbers users type ("?sleep=0.5").
 *
 * Threads
 *   - A worker has one loop thread. aio_main(), coroutine views, tweens,
 *     the authentication, ACL and traversal callbacks, tasks and websocket
 *     views all run on it, one at a time: they need no locks among
 *     themselves.
 *   - Loop thread only: the suspending calls (aio_sleep_ms, aio_sleep,
 *     aio_wait_fd, aio_run_in_executor, aio_join), which also need the
 *     caller's own coroutine and its own request; aio_spawn (from a
 *     coroutine, a task or aio_main); every aio_ws_* function (senders
 *     return AIO_ESCOPE elsewhere, aio_ws_find NULL; aio_ws_recv belongs
 *     to the connection's own coroutine and aborts anywhere else). The configuration
 *     calls (aio_add_*, aio_set_*, aio_use_authtkt, aio_config_*) only
 *     during aio_main(), with its `cfg`, which is not valid afterwards.
 *   - An executor view runs in an executor thread, in parallel with the
 *     loop and other executor views, and owns its request meanwhile. It
 *     may call the request accessors, the response functions (aio_set_status
 *     ... aio_render, aio_result*, aio_fail), aio_alloc/aio_strdup, all on
 *     its own request, aio_setting, aio_strerror, and the identity getters
 *     (aio_authenticated_userid ...: answered from what the loop worked out
 *     before the view started). Suspending calls, aio_spawn and aio_ws_*
 *     return AIO_ESCOPE (or NULL) there. aio_has_permission, aio_remember
 *     and aio_forget run the module's callbacks in the thread: fine as long
 *     as those do not suspend (a suspension there fails with AIO_ESCOPE).
 *   - A function given to aio_run_in_executor, and any thread of your own,
 *     calls no aio_ function (aio_strerror aside): use what `arg` gives.
 *   - Anything else shared between threads needs your own locking (or one
 *     instance per thread).
 *
 * Lifetimes
 *   - What a request gives (aio_method, aio_path, aio_header, aio_param,
 *     aio_match, aio_body, aio_cookie, aio_view_name, aio_subpath, the
 *     principals, the built-in policy's userids, aio_result(), aio_alloc
 *     and aio_strdup memory) lives until the request ends: after its view, renderer and tweens
 *     have returned and the response is sent. A websocket's handshake
 *     request (aio_ws_request) lasts as long as its view runs (callback
 *     views: until on_close has returned). Never keep such a pointer in a
 *     static or a task.
 *   - A spawned task's context `ctx` and what it gives (aio_alloc(ctx),
 *     aio_strdup(ctx), the aio_fail message) live until the task's function
 *     returns. aio_spawn copies `name` (up to 63 bytes); `arg` is yours: it
 *     must stay valid while the task may use it, which outlasts an
 *     aio_join() that returns AIO_ECANCELLED (the task goes on, detached).
 *   - What the application gives (aio_setting, aio_config_setting,
 *     aio_config_asset_dir, aio_route_name) lives until the application is
 *     freed: it may be kept. aio_strerror's strings are static.
 *   - What you give is copied when it is text or a struct passed by pointer
 *     to a configuration call (route names and patterns, view specs, tween
 *     names, struct aio_authn_policy, struct aio_authtkt and its strings,
 *     struct aio_ws_callbacks); pointers inside those (functions, `state`,
 *     `callback_arg`) are kept and must live as long as the application.
 *   - The array an ACL callback (aio_acl_fn) sets in *acl is read when the
 *     callback returns, during that one permission check, and not kept:
 *     static storage or request memory (aio_alloc) will do, the callback's
 *     own stack will not. Each check calls the callbacks again.
 *   - Under traversal, the resources and resource types that root() and
 *     child() give are kept in the request until it ends (aio_context,
 *     aio_context_type): they must outlive every request that reaches them.
 *   - A policy's `state` belongs to the application once the policy is set:
 *     free_state() frees it when the application is freed.
 *
 * Configuration errors are sticky: the configuration calls record the first
 * error they return AIO_EINVAL for (aio_config_fail() records its message;
 * AIO_ENOMEM is only returned), later errors do not replace it, and once
 * one is recorded start-up fails with it (naming the module) when that
 * module's aio_main() returns, whatever it returns; the modules after it
 * are not run. Ignoring a failed aio_add_route() does not make the
 * application start.
 */
#ifndef AIO_H
#define AIO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aio_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AIO_API_VERSION 1

typedef struct aio_request aio_request;
typedef struct aio_config aio_config;
typedef struct aio_task aio_task;
typedef struct aio_ws aio_ws;
typedef struct aio_msg aio_msg;

/* Status codes (AIO_OK, AIO_E*) and aio_strerror(): <uwsgi-aio/aio_common.h>. */

/* ------------------------------------------------------------------ */
/* App constructor and configuration                                   */
/* ------------------------------------------------------------------ */

/*
 * Every view module defines this. It runs once per worker, before the
 * worker serves, outside any coroutine: blocking code is fine here.
 * Return 0 on success; anything else stops start-up.
 */
int aio_main(aio_config *cfg);

/* A view: fills in the response of `req`. Return AIO_OK, or a negative
 * status (see aio_fail) to answer 500 and log the failure. */
typedef int (*aio_view_fn)(aio_request *req);

struct json_t; /* jansson's JSON value (#include <jansson.h> to use one) */
struct aio_resource_type;
/* Traversal: the root resource of a request (see aio_add_route_traversal). */
typedef int (*aio_root_fn)(aio_request *req, void **root,
                           const struct aio_resource_type **type);

/*
 * View flags: how the view runs (its mapper) ...
 *   AIO_COROUTINE  declared a coroutine: runs on the loop, in the request's
 *                  coroutine, and may suspend.
 *   AIO_EXECUTOR   runs in an executor thread, whatever it is.
 *   neither        the default, coroutine-or-executor mapper: a view not
 *                  declared a coroutine is treated as blocking code and runs
 *                  in an executor thread (so it never stalls the loop).
 * In an executor thread a view uses the same request/response API (the
 * response is buffered and sent by the loop when the view returns), but it
 * must not suspend (aio_sleep & co. return AIO_ESCOPE there: block instead)
 * and must not touch memory other requests use without its own locking.
 */
#define AIO_COROUTINE 0x01u
#define AIO_EXECUTOR 0x02u
/* A coroutine view that reads its request body itself, piece by piece,
 * with aio_body_read(): the body is not read (nor its form parameters
 * parsed) before it runs. */
#define AIO_STREAM_BODY 0x04u

/* ... and which request methods it answers (none given: every method).
 * A view that answers GET also answers HEAD (the body is not sent). */
/* AIO_GET, AIO_HEAD, AIO_POST, AIO_PUT, AIO_DELETE, AIO_PATCH, AIO_OPTIONS:
 * <uwsgi-aio/aio_common.h> */

/*
 * Adds a named route. Patterns are paths with placeholders:
 *   "/users/{id}"          {id} matches one path segment (no '/')
 *   "/files/{path:.*}"     {name:regex} matches a POSIX extended regex
 * Routes are tried in the order they were added, across all modules.
 * The request path is percent-decoded before matching.
 */
AIO_API int aio_add_route(aio_config *cfg, const char *name, const char *pattern);

/* Attaches a view to a route (which may be added before or after). */
AIO_API int aio_add_view(aio_config *cfg, const char *route, aio_view_fn view,
                         unsigned flags);

/*
 * A view with everything that may be said about it. Zeroed fields keep
 * their defaults, so designated initializers read well:
 *     aio_add_view_spec(cfg, &(struct aio_view_spec){
 *         .route = "whoami", .view = whoami, .flags = AIO_COROUTINE | AIO_GET,
 *         .renderer = "json"});
 */
struct aio_ws_callbacks;
struct aio_view_spec {
    const char *route;
    aio_view_fn view;
    unsigned flags;         /* mapper and methods, as for aio_add_view() */
    /* NULL: the view writes its own response;
     * "json": aio_result(req) as application/json;
     * "string": what the view wrote, as text/plain;
     * "templates/...": that template of the module, with aio_result(req)'s
     *                  members as its variables (as text/html). */
    const char *renderer;
    const char *permission; /* NULL: public; else the ACL must grant it (403) */
    const char *context;    /* traversal: the context type it is for (NULL: any) */
    const char *name;       /* traversal: its view name (NULL: the default view) */
    /* A websocket view instead of .view: a function or callbacks (one of
     * the two; see aio_add_websocket_view). .permission, .context and .name
     * apply to its handshake as to any view, and the flags may add
     * AIO_WS_BYTES; it has no renderer. */
    int (*websocket)(aio_ws *ws);
    const struct aio_ws_callbacks *ws_callbacks;
    /* The longest a request to this view may take, in ms from when it
     * arrived: past it, its waits (aio_sleep, aio_wait_fd, aio_redis ...)
     * return AIO_ETIMEDOUT and the client gets 504. 0: aio-request-timeout;
     * AIO_NO_TIMEOUT: none (a long poll). An executor view's thread cannot
     * be stopped: its request answers 504 when it returns. Not for
     * websocket views, whose sessions last as long as they like. */
    long timeout_ms;
    /* Predicates (Pyramid's view predicates): the view is chosen only for
     * requests that satisfy every one given, so several views of a route
     * can split its requests between them; the one with the most
     * predicates is tried first. When views of the method exist but none
     * is satisfied: 406 if one of them failed on `accept` alone (the
     * resource is there in another media type), else 404. */
    const char *accept;        /* a media type the request's Accept takes
                                  ("application/json"; no Accept: any) */
    const char *header;        /* "Name": the header is there; "Name:value": equal */
    const char *request_param; /* "name": in the query string; "name=value": equal */
    const char *content_type;  /* the request's Content-Type, parameters aside */
    int xhr;                   /* 1: X-Requested-With: XMLHttpRequest only */
    /* Declared parameters (Kore's validators), checked once the body is
     * read and before the view runs (a websocket view's: the handshake's
     * query, before the upgrade): a request that breaks one is answered
     * 400 naming the parameter and the rule. An array ended by a rule
     * whose name is NULL. */
    const struct aio_param_rule *params;
};
#define AIO_NO_TIMEOUT (-1L)

/* A rule for one parameter (the query string's, then an urlencoded
 * body's; its first value). */
struct aio_param_rule {
    const char *name;
    unsigned flags;     /* AIO_PARAM_* below */
    const char *regex;  /* POSIX extended, the whole value must match; NULL: any */
    double min, max;    /* with AIO_PARAM_RANGE: the number's bounds, inclusive */
    size_t max_len;     /* the longest value in bytes; 0: no bound */
};
#define AIO_PARAM_REQUIRED 0x1u /* absent or empty: 400 */
#define AIO_PARAM_INTEGER 0x2u  /* a decimal integer (a long) */
#define AIO_PARAM_NUMBER 0x4u   /* a finite number (a double) */
#define AIO_PARAM_RANGE 0x8u    /* within [min, max] (with INTEGER or NUMBER) */
AIO_API int aio_add_view_spec(aio_config *cfg, const struct aio_view_spec *spec);

/* The value of `aio-setting = key=value`, or NULL. */
AIO_API const char *aio_config_setting(const aio_config *cfg, const char *key);

/* The module's asset directory (where its templates/ live). */
AIO_API const char *aio_config_asset_dir(const aio_config *cfg);

/* Reports a configuration error of the module: start-up stops with this
 * message (naming the module). Returns AIO_EINVAL, for
 *     return aio_config_fail(cfg, "setting db.url is missing");          */
AIO_API int aio_config_fail(aio_config *cfg, const char *fmt, ...) AIO_PRINTF(2, 3);

/* ------------------------------------------------------------------ */
/* Request                                                             */
/* ------------------------------------------------------------------ */

AIO_API const char *aio_method(const aio_request *req);       /* "GET" */
AIO_API const char *aio_path(const aio_request *req);         /* decoded */
AIO_API const char *aio_query_string(const aio_request *req); /* raw, "" */
AIO_API const char *aio_remote_addr(const aio_request *req);
AIO_API const char *aio_route_name(const aio_request *req);

/* A request header by name, case-insensitive ("User-Agent"); NULL when
 * absent. Repeated headers are joined with ", ". */
AIO_API const char *aio_header(const aio_request *req, const char *name);

/* A placeholder value of the matched route ("id" of "/users/{id}"). */
AIO_API const char *aio_match(const aio_request *req, const char *name);

/*
 * Request parameters: the query string, then an
 * application/x-www-form-urlencoded body, percent-decoded.
 * aio_param returns the first value of `name` or NULL; aio_params stores up
 * to `max` values in `out` and returns how many there are in total.
 */
AIO_API const char *aio_param(const aio_request *req, const char *name);
AIO_API size_t aio_params(const aio_request *req, const char *name,
                          const char **out, size_t max);
/* The parameter as a number; `fallback` when absent or not a number. */
AIO_API double aio_param_double(const aio_request *req, const char *name,
                                double fallback);
AIO_API long aio_param_long(const aio_request *req, const char *name,
                            long fallback);
/* The same, telling a bad value from an absent one: AIO_OK (*out set),
 * AIO_ENOTFOUND (absent or empty: *out untouched) or AIO_EINVAL (not a
 * finite number / not an integer: answer 400 rather than guess). */
AIO_API int aio_param_to_double(const aio_request *req, const char *name, double *out);
AIO_API int aio_param_to_long(const aio_request *req, const char *name, long *out);

/* The request body, read in full once the view is chosen and before it
 * runs (tweens run before: they see no body, nor its form parameters).
 * Never NULL; empty for AIO_STREAM_BODY views. */
AIO_API const char *aio_body(const aio_request *req, size_t *len);
/* The body as JSON (jansson; owned by the request: do not decref it). It
 * must say Content-Type: application/json (or a +json type) and parse as
 * one JSON value (not for AIO_STREAM_BODY views, whose body it does not
 * hold). AIO_OK with *value set; or the response is made - 415
 * for another type, 400 for bad JSON, with where it went wrong - and
 * AIO_EINVAL returned, which the view returns as it is:
 *     json_t *note;
 *     int rc = aio_json_body(req, &note);
 *     if (rc != AIO_OK)
 *         return rc;                                                     */
AIO_API int aio_json_body(aio_request *req, struct json_t **value);
/* An AIO_STREAM_BODY view's next piece of its body (chunked bodies
 * decoded), from its coroutine, suspending until some arrives: the number
 * of bytes (at most len), 0 at the end of the body, or AIO_ECANCELLED (the
 * client left), AIO_ETIMEDOUT (aio-body-timeout passed, or socket-timeout
 * without a byte), AIO_EFULL (past limit-post), AIO_EINVAL (malformed
 * chunked framing, or the body cut short), AIO_ESCOPE. A body the view leaves unread is drained
 * (up to 64 KiB, else the connection is closed). Without AIO_STREAM_BODY it
 * reads aio_body()'s copy. */
AIO_API ssize_t aio_body_read(aio_request *req, void *buf, size_t len);

/* The value of `aio-setting = key=value`, or NULL. */
AIO_API const char *aio_setting(const aio_request *req, const char *key);

/* Memory that lives as long as the request. NULL when out of memory. */
AIO_API void *aio_alloc(aio_request *req, size_t size);
AIO_API char *aio_strdup(aio_request *req, const char *s);

/* ------------------------------------------------------------------ */
/* Response (buffered; sent when the view returns)                     */
/* ------------------------------------------------------------------ */

/* 100..599; the default is 200. */
AIO_API int aio_set_status(aio_request *req, int status);
/* Adds a response header. Names must be HTTP tokens and values may not
 * contain CR, LF or NUL (AIO_EINVAL). Content-Length is computed. */
AIO_API int aio_add_header(aio_request *req, const char *name, const char *value);
AIO_API int aio_write_body(aio_request *req, const void *data, size_t len);
AIO_API int aio_printf(aio_request *req, const char *fmt, ...) AIO_PRINTF(2, 3);
/* Status, text/plain; charset=utf-8 and `text` as the whole body. This is
 * the response: a view with a renderer that calls it (an error, say) is
 * answered with it, not with its renderer's output. */
AIO_API int aio_respond_text(aio_request *req, int status, const char *text);
/* A redirect, as the whole response: status 301, 302, 303, 307 or 308 and
 * `Location: location`, which must be an absolute URL ("https://host/x")
 * or an absolute path ("/x?y=1") without spaces or control characters
 * (percent-encode them). AIO_OK, or AIO_EINVAL (nothing is changed). */
AIO_API int aio_redirect(aio_request *req, int status, const char *location);

/* The response as it stands: for tweens after aio_call_next() (the view,
 * its renderer or the router's error answer are through), and views. The
 * first value of a response header set so far (case-insensitive name; the
 * Content-Type the server would add to a body without one included), or
 * NULL. Content-Length, Date, Server and Connection are the host's. */
AIO_API int aio_response_status(const aio_request *req);
AIO_API const char *aio_response_header(const aio_request *req, const char *name);

/* Set-Cookie (RFC 6265). The name must be an HTTP token; the value
 * cookie-octets (no spaces, quotes, commas, semicolons, backslashes or
 * control characters: encode what needs it, e.g. base64url). AIO_EINVAL
 * for those, a bad attribute, or SameSite=None without Secure. */
struct aio_cookie_options {
    int64_t max_age_s;     /* Max-Age in seconds; 0: none (a session cookie) */
    int64_t expires;       /* Expires, seconds since the epoch; 0: none */
    const char *path;      /* NULL: "/" */
    const char *domain;    /* NULL: none (this host only) */
    int secure;            /* the Secure flag */
    int http_only;         /* the HttpOnly flag */
    const char *same_site; /* "Lax", "Strict" or "None"; NULL: not sent */
};
AIO_API int aio_set_cookie(aio_request *req, const char *name, const char *value,
                           const struct aio_cookie_options *options); /* NULL: defaults */
/* Tells the client to drop the cookie (an empty value, Max-Age=0 and an
 * Expires in the past); its path and domain must be those it was set
 * with. */
AIO_API int aio_delete_cookie(aio_request *req, const char *name,
                              const struct aio_cookie_options *options);

/* ------------------------------------------------------------------ */
/* Streamed responses and server-sent events                           */
/* ------------------------------------------------------------------ */

/*
 * A coroutine view may send its response as it makes it, instead of when it
 * returns. aio_stream_begin() sends the status and headers set so far (and
 * any body written before it), without a Content-Length: the body is
 * chunked to an HTTP/1.1 client (the connection may then carry the next
 * request), and ends when the connection closes for HTTP/1.0 and through
 * the uwsgi protocol (nginx frames it for its own client). Each
 * aio_stream_write() returns once its piece is written whole, suspending the
 * view while the client is slow: a response holds no more memory than the
 * piece being written, so write big bodies in pieces (64 KiB is a good
 * size). aio_stream_end() ends the body; a view that returns without it is
 * ended for it. A client that leaves cancels the view: the write returns
 * AIO_ECANCELLED (as does every later wait). A client that reads nothing for
 * socket-timeout makes it return AIO_ETIMEDOUT. Once the head is out, an error
 * (the view failing, aio-request-timeout) cannot be answered: the host ends
 * the connection without ending the body, so that the client sees it cut.
 * Set .timeout_ms = AIO_NO_TIMEOUT on views that stream for long.
 *
 * Elsewhere (an executor view, aio_testing's dummy requests) the pieces are
 * buffered like aio_write_body() and go out as one response when the view
 * returns. Either way the view's renderer stays out. AIO_EINVAL after
 * aio_stream_end() or on a websocket.
 */
AIO_API int aio_stream_begin(aio_request *req);
AIO_API int aio_stream_write(aio_request *req, const void *data, size_t len);
AIO_API int aio_stream_end(aio_request *req);

/* Sends a regular file (or an open fd of one, read from offset 0 with
 * pread; the caller keeps it) as the body, with its Content-Length, in
 * 64 KiB pieces: memory stays at one piece whatever the file's size, and
 * the connection may carry the next request. Each piece is read where the
 * view runs (from the page cache, usually: a slow disk holds the loop for
 * that long). Set the status and Content-Type first. AIO_ENOTFOUND (no
 * such file), AIO_EINVAL (not a regular file, or the response has begun),
 * or what aio_stream_write() returns. */
AIO_API int aio_send_file(aio_request *req, const char *path);
AIO_API int aio_send_fd(aio_request *req, int fd);

/* One server-sent event. NULL fields are left out; `data` may hold several
 * lines (each becomes a data: line, as the client joins them again);
 * `retry_ms` > 0 tells the client how long to wait before reconnecting. */
struct aio_sse_event {
    const char *event; /* the event's type (EventSource's addEventListener name) */
    const char *id;    /* Last-Event-ID when the client reconnects */
    const char *data;
    long retry_ms;
};

/* Begins an event stream: Content-Type text/event-stream, Cache-Control:
 * no-cache, X-Accel-Buffering: no (nginx passes each event at once), then
 * aio_stream_begin(). With heartbeat_ms > 0, aio_sse_sleep_ms() sends a
 * comment whenever the stream has been silent that long, so that proxies
 * do not close it as idle. */
AIO_API int aio_sse_begin(aio_request *req, int heartbeat_ms);
/* Sends one event (AIO_EINVAL: a CR or LF in `event` or `id`). */
AIO_API int aio_sse_send(aio_request *req, const struct aio_sse_event *event);
/* Sends a comment, which clients ignore. */
AIO_API int aio_sse_comment(aio_request *req, const char *text);
/* Sleeps `ms` like aio_sleep_ms(), sending heartbeats meanwhile. */
AIO_API int aio_sse_sleep_ms(aio_request *req, int64_t ms);

/*
 * Renders a template of the view's module (a path below its asset dir, e.g.
 * "templates/home.html") with name/value pairs ending in NULL, as text/html.
 * Templates are a subset of mustache: {{name}} is replaced by the
 * HTML-escaped value and {{{name}}} by the raw value (an unknown name
 * renders as nothing), {{! ...}} is a comment, {{#name}}...{{/name}}
 * renders for each element of an array (or once for an object or any
 * other true value; never for false, null, "", [] or nothing),
 * {{^name}}...{{/name}} only when that would not, {{.}} is the element in
 * front, a.b is member b of a, and {{> templates/row.html}} includes
 * another template of the module. Sections and partials nest at most 32
 * deep; a template that does not compile, or names a partial that does
 * not exist, stops start-up with its file and line.
 */
AIO_API int aio_render(aio_request *req, const char *template_path, ...)
    AIO_SENTINEL;
AIO_API int aio_vrender(aio_request *req, const char *template_path, va_list ap);
/* The same with a JSON value as the context, so that sections loop over
 * its arrays ({{#notes}}<li>{{title}}</li>{{/notes}}); the value stays
 * the caller's. */
AIO_API int aio_render_json(aio_request *req, const char *template_path,
                            const struct json_t *context);
/* `text` with & < > " ' written as HTML entities, in request memory (NULL
 * when out of memory). */
AIO_API const char *aio_html_escape(aio_request *req, const char *text);

/* The view's result for its renderer: a JSON object (jansson's), created
 * empty on first use and owned by the request. For the "json" renderer it
 * is the body; for a template renderer its members are the variables. */
AIO_API struct json_t *aio_result(aio_request *req);
/* Replaces the result with `value` (any JSON value: a list for the "json"
 * renderer, say), whose reference the request takes. AIO_EINVAL for NULL. */
AIO_API int aio_set_result(aio_request *req, struct json_t *value);
/* Shortcuts: set a member to a string (NULL: null) or an integer. */
AIO_API int aio_result_set_string(aio_request *req, const char *key, const char *value);
AIO_API int aio_result_set_int(aio_request *req, const char *key, long long value);
/* (What a view rendered and put in its result can be read back by tests:
 * aio_rendered_value() and aio_result_get(), in <uwsgi-aio/aio_testing.h>.) */

/* Records why the view failed (logged with the 500) and returns AIO_ERROR:
 *     return aio_fail(req, "database said %s", msg);                       */
AIO_API int aio_fail(aio_request *req, const char *fmt, ...) AIO_PRINTF(2, 3);
/* The last failure recorded on the request (aio_fail, or a client call
 * that failed: aio_pg_*, aio_http_* ...), or NULL: for a view that answers
 * a failure itself and wants it in the log. */
AIO_API const char *aio_failure(const aio_request *req);

/* URL generation (Pyramid's route_path and route_url): the path of the
 * route named `route` with its placeholders filled from name/value pairs,
 * NULL-terminated:
 *     aio_route_path(req, "note", "id", "7", NULL)       -> "/notes/7"
 *     aio_route_path(req, "files", "rest", "a b/c", NULL) -> "/files/a%20b/c"
 * Values are percent-encoded where a path needs it (a *rest placeholder
 * keeps its '/'), and must be what the route would match: NULL for an
 * unknown route, a missing or unknown placeholder, or a value the route
 * would not give back ("a/b" for {id}, a value its regex refuses). The
 * string is the request's memory. aio_route_url() puts the request's own
 * scheme and Host in front ("http://example.org/notes/7"; NULL without a
 * Host header). */
AIO_API const char *aio_route_path(aio_request *req, const char *route, ...);
AIO_API const char *aio_route_url(aio_request *req, const char *route, ...);

/* Error views (Pyramid's notfound_view_config, forbidden_view_config and
 * exception views): the error answers the application makes itself - the
 * router's 404 and 405, 403 from a permission check, 500 for a failing
 * view or tween, 504 past a deadline, and the 4xx and 5xx of bad requests
 * (400, 413, 415 ...) - go through the error view added for their status,
 * or through the one added for status 0 (any other), instead of the
 * built-in plain-text page. The view finds the status set and the
 * response empty (headers the status needs, Allow or Retry-After, are
 * added after it); `detail` is what the built-in page would say, or NULL.
 * It writes the body and its Content-Type (HTML, JSON ...) without
 * suspending, and returns AIO_OK; on failure the built-in page is sent.
 * A view's own answers (aio_respond_text ...) do not go through it. One
 * per status per application: a second is a configuration error. */
typedef int (*aio_error_view_fn)(aio_request *req, int status, const char *detail);
AIO_API int aio_add_error_view(aio_config *cfg, int status, aio_error_view_fn view);

/* One line in the worker's log (uWSGI's logger), naming the request:
 *     aio: GET /items/7 (route 'item', request 1742): cache miss
 * CR and LF in the message are written as spaces, so that a value from
 * the client cannot forge log lines. From coroutine and executor views
 * alike; `req` may be NULL. */
AIO_API void aio_log(const aio_request *req, const char *fmt, ...) AIO_PRINTF(2, 3);
/* The number aio_log() names the request by: unique in its worker (a
 * count from 1, task contexts included); 0 for NULL. */
AIO_API uint64_t aio_request_id(const aio_request *req);

/* ------------------------------------------------------------------ */
/* Suspension (coroutines only)                                        */
/* ------------------------------------------------------------------ */

/* Suspends the calling request for `ms` milliseconds (0 to
 * AIO_SLEEP_MAX_MS, about 23 days), at least that long. AIO_OK,
 * AIO_ECANCELLED (client gone, or a task's worker stopping), AIO_ESCOPE
 * (not the request's own coroutine) or AIO_EINVAL (out of range). */
#define AIO_SLEEP_MAX_MS INT64_C(2000000000)
AIO_API int aio_sleep_ms(aio_request *req, int64_t ms);
/* The same for `seconds` as a fraction (aiopyramid's asyncio.sleep(0.1)),
 * for a number a user typed: rounded up to the millisecond, the same limit
 * (AIO_SLEEP_MAX_MS / 1000 s) and the same returns (NaN: AIO_EINVAL). */
AIO_API int aio_sleep(aio_request *req, double seconds);

/* AIO_READ and AIO_WRITE: <uwsgi-aio/aio_common.h> */
/*
 * Suspends until `fd` is readable/writable (events: AIO_READ|AIO_WRITE) or
 * `timeout_ms` milliseconds pass (negative: no timeout). Returns the ready events (> 0),
 * AIO_ETIMEDOUT, AIO_ECANCELLED, AIO_EBUSY (another task waits on this fd:
 * the one meaning of AIO_EBUSY; full queues and limits are AIO_EFULL),
 * AIO_ESCOPE or AIO_EINVAL. For any non-blocking client library (libpq ...).
 */
AIO_API int aio_wait_fd(aio_request *req, int fd, int events, int timeout_ms);

/* 1 when called from a coroutine of this worker's loop, else 0. */
AIO_API int aio_in_coroutine(void);

/* 1 once the request is cancelled: its client went away (or, for a task,
 * the worker is stopping). Its waits then return AIO_ECANCELLED. */
AIO_API int aio_is_cancelled(const aio_request *req);

/* ------------------------------------------------------------------ */
/* Tweens: functions wrapping every request                           */
/* ------------------------------------------------------------------ */

typedef struct aio_next aio_next;
/* A tween does what it wants before and after aio_call_next(req, next),
 * which runs the rest of the chain (other tweens, routing, the view) and
 * returns its status; the response is on `req`. A tween may suspend. */
typedef int (*aio_tween_fn)(aio_request *req, aio_next *next);
AIO_API int aio_call_next(aio_request *req, aio_next *next);

/* Adds a tween. Without the option aio-tweens, tweens run in the order
 * they are added (the first added is the outermost); aio-tweens lists the
 * tweens to run, outermost first, by name. The built-in tween "timing"
 * adds an X-Response-Time header: how long the rest of the chain took. */
AIO_API int aio_add_tween(aio_config *cfg, const char *name, aio_tween_fn tween);

/* ------------------------------------------------------------------ */
/* Authentication                                                     */
/* ------------------------------------------------------------------ */

#define AIO_EVERYONE "system.Everyone"
#define AIO_AUTHENTICATED "system.Authenticated"
/*
 * Userids and the other principals are told apart by their spelling: a
 * userid never starts with "system." (the system principals') and never
 * contains ':' (the mark of the other kinds: "group:admins", "role:editor";
 * name groups so). aio_remember() refuses such a userid (AIO_EINVAL); the
 * built-in policy never signs one, and a ticket naming one identifies
 * nobody. A policy of your own should refuse them too.
 */

/* A list of principals (userids, groups...), owned by the request. */
typedef struct aio_principals {
    const char **names;
    size_t count;
} aio_principals;

/* Adds a principal (copied into the request's memory). */
AIO_API int aio_principals_add(aio_request *req, aio_principals *principals, const char *name);

/* An authentication policy (Pyramid's interface). Every function may
 * suspend. unauthenticated_userid: the claimed userid or NULL;
 * authenticated_userid: the userid once verified, or NULL;
 * effective_principals: fills `out` (AIO_EVERYONE first);
 * remember/forget: add the response headers (Set-Cookie) that log the
 * user in or out. `state` is given to each of them. */
struct aio_authn_policy {
    const char *(*unauthenticated_userid)(aio_request *req, void *state);
    const char *(*authenticated_userid)(aio_request *req, void *state);
    int (*effective_principals)(aio_request *req, void *state, aio_principals *out);
    int (*remember)(aio_request *req, void *state, const char *userid);
    int (*forget)(aio_request *req, void *state);
    void *state;
    /* Frees `state` (NULL: nothing to free). Called once, with `state`, when
     * the application is freed: a worker that stops, or aio_testing_free()
     * (also after a failed aio_testing_start()). A worker whose start-up
     * fails exits without freeing anything. */
    void (*free_state)(void *state);
};
/* Sets the application's one policy (copied). On AIO_OK the application
 * owns policy->state (see free_state); on failure (a start-up error) the
 * caller still does. */
AIO_API int aio_set_authentication_policy(aio_config *cfg, const struct aio_authn_policy *policy);

/* The user's groups (or other principals), e.g. from a database; may
 * suspend (aiopyramid's authn_policy_factory callback). AIO_OK, or
 * AIO_ENOTFOUND when the user is unknown (then nobody is authenticated). */
typedef int (*aio_groupfinder_fn)(aio_request *req, const char *userid, aio_principals *groups,
                                  void *arg);

/*
 * The built-in policy: a signed ticket in a cookie, in the spirit of
 * Pyramid's AuthTktAuthenticationPolicy(hashalg='sha512'): an HMAC-SHA-512
 * (OpenSSL) over the userid, a timestamp and tokens, compared in constant
 * time. Tickets older than `timeout_ms` are refused; older than
 * `reissue_time_ms` they are renewed on the response. The ticket's
 * timestamp and the cookie's Max-Age are whole seconds: these times count
 * to the second (Max-Age is rounded up). Each is at most 100 years.
 */
struct aio_authtkt {
    const char *secret;          /* at least 32 bytes (a start-up error otherwise);
                                    example.ini's gets a warning at start-up */
    aio_groupfinder_fn callback; /* NULL: every valid ticket authenticates */
    void *callback_arg;
    const char *cookie_name;     /* default "auth_tkt" */
    int64_t timeout_ms;          /* 0: none */
    int64_t reissue_time_ms;     /* 0: never */
    int64_t max_age_ms;          /* the cookie's Max-Age; 0: a session cookie */
    const char *path;            /* default "/" */
    const char *domain;          /* default: none */
    int secure;                  /* the Secure flag */
    int http_only;               /* the HttpOnly flag: give 1 (or -1: off) */
    const char *same_site;       /* "Lax" (default), "Strict" or "None" */
};
AIO_API int aio_use_authtkt(aio_config *cfg, const struct aio_authtkt *options);
/* Remembers `userid` with tokens ('.'-separated words of [A-Za-z0-9_:-]):
 * signed into the ticket, they become principals. Built-in policy only.
 * AIO_EINVAL for a reserved userid (above), bad tokens, or another policy. */
AIO_API int aio_authtkt_remember(aio_request *req, const char *userid, const char *tokens);

/* The request's identity through the policy (cached per request; with no
 * policy: nobody, and principals [AIO_EVERYONE]). May suspend. */
AIO_API const char *aio_unauthenticated_userid(aio_request *req);
AIO_API const char *aio_authenticated_userid(aio_request *req);
AIO_API int aio_effective_principals(aio_request *req, aio_principals *out);
/* AIO_EINVAL without a policy, or for a reserved userid (see AIO_EVERYONE). */
AIO_API int aio_remember(aio_request *req, const char *userid);
AIO_API int aio_forget(aio_request *req);

/* A request cookie's value, or NULL. */
AIO_API const char *aio_cookie(aio_request *req, const char *name);

/* ------------------------------------------------------------------ */
/* Authorization: ACLs                                                */
/* ------------------------------------------------------------------ */

#define AIO_ALLOW 1
#define AIO_DENY 0
/* An ACE's permission meaning "every permission". */
#define AIO_ALL_PERMISSIONS NULL

struct aio_ace {
    int action;             /* AIO_ALLOW or AIO_DENY */
    const char *principal;  /* a userid, a group, AIO_EVERYONE, AIO_AUTHENTICATED */
    const char *permission; /* or AIO_ALL_PERMISSIONS */
};

/* An ACL, possibly computed (it may suspend): set *acl and *count, or
 * *count = 0 for none (then the parent's counts, under traversal). */
typedef int (*aio_acl_fn)(aio_request *req, void *context, const struct aio_ace **acl,
                          size_t *count);

/* The ACL of the module's routes without traversal (Pyramid's root
 * factory __acl__). */
AIO_API int aio_set_root_acl(aio_config *cfg, aio_acl_fn acl);

/* 1 when the request's principals are granted `permission` on its context
 * (the first ACE matching a principal and the permission decides, walking
 * from the context up to the root; nothing matches: denied), 0 when
 * denied, < 0 on failure. May suspend. */
AIO_API int aio_has_permission(aio_request *req, const char *permission);

/* ------------------------------------------------------------------ */
/* Traversal                                                          */
/* ------------------------------------------------------------------ */

/* What traversal knows of a kind of resource. child() looks up a child
 * (AIO_OK, setting *child and *child_type; AIO_ENOTFOUND; or a failure) and acl()
 * (may be NULL) gives its ACL; both may suspend. */
struct aio_resource_type {
    const char *name;
    int (*child)(aio_request *req, void *resource, const char *segment, void **child,
                 const struct aio_resource_type **child_type);
    aio_acl_fn acl;
};

/*
 * A route whose views are found by traversal (Pyramid's traversal): the
 * value of the pattern's "traverse" placeholder (a star one, as in
 * "/tree*traverse") is split into segments walked from root(req) with child(); the
 * first segment without a child is the view name, the rest the subpath.
 * Views are then chosen by the context's type and the view name
 * (aio_view_spec .context and .name).
 */
AIO_API int aio_add_route_traversal(aio_config *cfg, const char *name, const char *pattern,
                                    aio_root_fn root);
/* The context found by traversal (NULL without), its type name, the view
 * name ("" for the default view) and the subpath ("a/b", "" for none). */
AIO_API void *aio_context(const aio_request *req);
AIO_API const char *aio_context_type(const aio_request *req);
AIO_API const char *aio_view_name(const aio_request *req);
AIO_API const char *aio_subpath(const aio_request *req);

/* ------------------------------------------------------------------ */
/* WebSockets                                                         */
/* ------------------------------------------------------------------ */

/* A websocket view: runs on the loop, in the connection's coroutine, once
 * the handshake is done. The connection closes (1000) when it returns. It
 * holds its async core all the while (aio-websocket-cores bounds them). */
typedef int (*aio_ws_view_fn)(aio_ws *ws);

/* A flag for websocket views: deliver every message as bytes
 * (AIO_MSG_BINARY), like aiopyramid's use_bytes; by default text frames
 * arrive as text (AIO_MSG_TEXT, valid UTF-8) and binary ones as bytes. */
#define AIO_WS_BYTES 0x10u

/* Attaches a websocket view to a route; it answers GET requests that ask
 * for an upgrade (others get 426). Flags: AIO_WS_BYTES (AIO_COROUTINE is
 * implied; AIO_EXECUTOR is a configuration error). */
AIO_API int aio_add_websocket_view(aio_config *cfg, const char *route, aio_ws_view_fn view,
                                   unsigned flags);

/* Callback views (aiopyramid's WebsocketConnectionView): on_open once,
 * on_message for every message (freed after it returns), on_close once the
 * connection has closed, with its close code. on_open and on_close may be
 * NULL. A negative return from on_open/on_message closes with 1011.
 * on_open runs in the request's coroutine; then, in the server, the
 * session lets its async core go and holds no coroutine while idle: when
 * messages arrive, on_message runs for each, in order, in a coroutine
 * taken for that turn (at most aio-websocket-callbacks turns at once), so
 * a worker holds many more idle sessions than `aio`. Callbacks may
 * suspend (aio_sleep(aio_ws_request(ws), ...)); the session's later
 * messages wait for the callback to return. */
struct aio_ws_callbacks {
    int (*on_open)(aio_ws *ws);
    int (*on_message)(aio_ws *ws, const aio_msg *msg);
    void (*on_close)(aio_ws *ws, int code);
};
AIO_API int aio_add_websocket_callbacks(aio_config *cfg, const char *route,
                                        const struct aio_ws_callbacks *callbacks, unsigned flags);

#define AIO_MSG_TEXT 1
#define AIO_MSG_BINARY 2

/* The next message; suspends until one arrives. NULL only at the end of
 * the stream: the connection is closed or closing, or the request was
 * cancelled (the client went away, the worker stops). Free it with
 * aio_msg_free(). Only the connection's own coroutine (its view, or the
 * callback running for it) may read it: called with NULL or from anywhere else
 * is a programming error, and the worker logs it and aborts (uWSGI starts
 * a new one), as it would on a double free. */
AIO_API aio_msg *aio_ws_recv(aio_ws *ws);
AIO_API int aio_msg_type(const aio_msg *msg); /* AIO_MSG_TEXT or AIO_MSG_BINARY */
/* The payload (NUL-terminated too) and its length. */
AIO_API const char *aio_msg_data(const aio_msg *msg, size_t *len);
AIO_API void aio_msg_free(aio_msg *msg);

/*
 * Sends a message. Any coroutine or task of the worker may send to any
 * open websocket (broadcast). Returns AIO_OK, AIO_ECLOSED (closed or
 * closing), AIO_EINVAL (text that is not UTF-8) or AIO_ESCOPE (not on the
 * loop thread). The connection's own coroutine is suspended while a lot is
 * waiting to be written (backpressure); others never are, and a connection
 * too slow to read what others send it is dropped.
 */
AIO_API int aio_ws_send(aio_ws *ws, const aio_msg *msg); /* keeps the type */
AIO_API int aio_ws_send_text(aio_ws *ws, const char *text);
AIO_API int aio_ws_send_binary(aio_ws *ws, const void *data, size_t len);
/*
 * Broadcast: sends `data` to every open websocket of `route` (NULL: every
 * websocket), or of `topic` for aio_publish().
 *
 * Without the `aio-broadcast` option that is this worker's websockets only
 * (each worker has its own; with `processes = 4` a broadcast reaches about
 * a quarter of the clients). With `aio-broadcast = redis://HOST:PORT`,
 * every worker of every host configured with the same Redis server and
 * channel delivers it to its own websockets as well: each websocket gets
 * each message once, and the messages one worker sends arrive everywhere
 * in the order it sent them. Delivery to other workers is at most once
 * (Redis pub/sub: a worker reconnecting to Redis misses what was published
 * meanwhile).
 *
 * Returns how many of this worker's websockets it was queued to; or
 * AIO_EINVAL (bad type, text that is not UTF-8, an empty or over 255 byte
 * route or topic), AIO_ESCOPE (not on the loop thread); or, with
 * aio-broadcast, after this worker's websockets got it anyway:
 * AIO_EUNAVAILABLE (not connected to Redis now: it did not reach other
 * workers) or AIO_EFULL (over 16 MiB wait for Redis to take them).
 */
AIO_API int aio_ws_broadcast(const char *route, int type, const void *data, size_t len);
AIO_API int aio_publish(const char *topic, int type, const void *data, size_t len);
/* A websocket receives what is published to the topics it subscribed to
 * (at most 32 per connection: AIO_EFULL beyond; a topic is 1 to 255 bytes
 * of UTF-8), until it closes or unsubscribes. AIO_OK (also when already
 * subscribed), AIO_EINVAL, AIO_ECLOSED, AIO_ESCOPE; unsubscribing from a
 * topic it is not subscribed to gives AIO_ENOTFOUND. */
AIO_API int aio_ws_subscribe(aio_ws *ws, const char *topic);
AIO_API int aio_ws_unsubscribe(aio_ws *ws, const char *topic);
/* 1 when aio-broadcast is set and both of this worker's connections to
 * Redis (publisher, subscriber) are up; 0 otherwise. */
AIO_API int aio_broadcast_connected(void);
#define AIO_WS_MAX_TOPICS 32

/* Starts the closing handshake (code 1000-1003, 1007-1014, 3000-4999;
 * reason at most 123 bytes of UTF-8); from the connection's coroutine it
 * waits (briefly) for the peer's answer. AIO_OK or AIO_EINVAL. */
AIO_API int aio_ws_close(aio_ws *ws, int code, const char *reason);
AIO_API int aio_ws_is_open(const aio_ws *ws);
/* The code the connection closed with (AIO_WS_... 1005: none given,
 * 1006: dropped), 0 while open. */
AIO_API int aio_ws_close_code(const aio_ws *ws);

/* The handshake request: headers, match dict, settings, aio_alloc... and
 * the request to pass to aio_sleep()/aio_wait_fd() in a websocket view. */
AIO_API aio_request *aio_ws_request(aio_ws *ws);
AIO_API void aio_ws_set_data(aio_ws *ws, void *data);
AIO_API void *aio_ws_data(const aio_ws *ws);
/* A number naming the connection, and the connection it names if still
 * open (NULL otherwise): how a task may keep a reference to one. */
AIO_API uint64_t aio_ws_id(const aio_ws *ws);
AIO_API aio_ws *aio_ws_find(uint64_t id);

/* aiopyramid's ignore_websocket_closed: AIO_ECLOSED becomes AIO_OK, so a
 * view ending because its socket closed ends quietly. The option
 * aio-ignore-websocket-closed (on by default) does this for every view:
 *     return aio_ws_ignore_closed(pump(ws));                              */
AIO_API int aio_ws_ignore_closed(int status);

/* ------------------------------------------------------------------ */
/* The executor: blocking code without blocking the loop              */
/* ------------------------------------------------------------------ */

/* Blocking work: runs in an executor thread. What it returns is yours to
 * define: it comes back in aio_run_in_executor()'s *result. */
typedef int (*aio_blocking_fn)(void *arg);

/*
 * From a coroutine: runs fn(arg) in an executor thread and suspends until
 * it returns (aiopyramid's run_in_executor / use_executor); then *result
 * (when `result` is not NULL) holds fn's return value, like aio_join().
 * Returns AIO_OK (fn ran), AIO_EFULL (the executor queue is full and
 * aio-executor-when-full is reject), AIO_ECANCELLED (cancelled before fn
 * started), AIO_ESCOPE, AIO_EINVAL (fn is NULL) or AIO_ERROR (no executor
 * thread could start); *result is left alone unless fn ran. If the client
 * goes away while fn runs, fn is never interrupted: the call returns AIO_OK
 * once fn has (aio_is_cancelled() then says the client is gone). fn runs
 * in another thread: it should use only what `arg` gives it (or data
 * protected by its own locks) and no aio_ function.
 */
AIO_API int aio_run_in_executor(aio_request *req, aio_blocking_fn fn, void *arg, int *result);

/* ------------------------------------------------------------------ */
/* Tasks: background coroutines on the loop                           */
/* ------------------------------------------------------------------ */

/* A task's body. `ctx` is the task's own context: an aio_request with no
 * HTTP request behind it, to pass to aio_sleep, aio_wait_fd,
 * aio_run_in_executor, aio_join, aio_alloc and aio_setting. Return a
 * negative status (aio_fail(ctx, ...) records why) and it is logged. */
typedef int (*aio_task_fn)(aio_request *ctx, void *arg);

/*
 * Starts fn(ctx, arg) as a task on the loop (aiopyramid's spawn_greenlet):
 * it may suspend like a coroutine view. Call it from the loop (a coroutine
 * view, a task, or aio_main(); tasks spawned there start with the loop).
 * With handle == NULL the task is fire-and-forget; otherwise *handle must
 * be passed to aio_join() exactly once. `name` labels its log lines.
 * Returns AIO_OK, AIO_EFULL (aio-max-tasks tasks are running),
 * AIO_ECANCELLED (the worker is stopping), AIO_ESCOPE (not on the loop
 * thread) or AIO_EINVAL/AIO_ENOMEM. When the worker stops gracefully,
 * running tasks are cancelled: their waits return AIO_ECANCELLED.
 */
AIO_API int aio_spawn(const char *name, aio_task_fn fn, void *arg, aio_task **handle);

/* Suspends until `task` ends and stores its return value in *result.
 * Consumes the handle. AIO_OK, AIO_ECANCELLED (the caller was cancelled;
 * the task goes on, detached), AIO_ESCOPE or AIO_EINVAL. */
AIO_API int aio_join(aio_request *req, aio_task *task, int *result);

/* ------------------------------------------------------------------ */
/* Redis: state shared between workers and hosts                        */
/* ------------------------------------------------------------------ */

/* A reply, as Redis gives it (the types are hiredis's REDIS_REPLY_*). */
#define AIO_REDIS_STRING 1
#define AIO_REDIS_ARRAY 2
#define AIO_REDIS_INTEGER 3
#define AIO_REDIS_NIL 4
#define AIO_REDIS_STATUS 5
#define AIO_REDIS_ERROR 6
typedef struct aio_redis_reply {
    int type;
    long long integer;                     /* AIO_REDIS_INTEGER */
    const char *str;                       /* STRING, STATUS, ERROR (NUL-terminated too) */
    size_t len;
    size_t elements;                       /* AIO_REDIS_ARRAY */
    const struct aio_redis_reply *element; /* element[0 .. elements) */
} aio_redis_reply;

/*
 * Sends a command to the `aio-redis` server and suspends the calling
 * coroutine until its reply. `format` is hiredis's: printf-like, where
 * every %s and %b (pointer, size_t length: binary-safe) is one argument,
 * so values never need quoting: aio_redis(req, &r, "INCR %s", key).
 *
 * Each worker keeps `aio-redis-pool` connections, each carrying many
 * commands at once. Returns AIO_OK with *reply set (a Redis error is a
 * reply of type AIO_REDIS_ERROR), or AIO_ETIMEDOUT (no reply within
 * `aio-redis-timeout` ms), AIO_ECANCELLED (the client went away),
 * AIO_EUNAVAILABLE (no aio-redis option, or not connected now: it fails at
 * once and the worker reconnects by itself), AIO_EINVAL (bad format, or a
 * command that would change or block the shared connection: SELECT, AUTH,
 * (P)SUBSCRIBE, MONITOR, MULTI/EXEC, BLPOP and the other blocking
 * commands ...; use a Lua script (EVAL) for atomic groups), AIO_ESCOPE.
 * The reply lives as long as the request (aio_alloc memory).
 */
AIO_API int aio_redis(aio_request *req, const aio_redis_reply **reply, const char *format, ...);
AIO_API int aio_redisv(aio_request *req, const aio_redis_reply **reply, const char *format,
                       va_list ap);
/* The same with an argument vector (argvlen NULL: strlen of each). */
AIO_API int aio_redis_argv(aio_request *req, const aio_redis_reply **reply, int argc,
                           const char **argv, const size_t *argvlen);

#ifdef __cplusplus
}
#endif

#endif /* AIO_H */
