/*
 * aio_testing.h - test helpers for uwsgi-aio applications.
 *
 * libaio_testing runs an application in the test's own process, without
 * uWSGI: the same engine as the plugin (libuv loop, coroutines, executor,
 * registry, tweens, authentication, renderers, websockets) on a loop the
 * helpers turn while they wait. Link a test with -laio_testing (it brings
 * the whole aio.h API, so view modules loaded with aio-views find it) and
 * use any test framework; the project's own tests use cmocka.
 *
 *     aio_testing *t = aio_testing_new();
 *     aio_testing_option(t, "aio-views", "build/views/tutorial.so");
 *     assert_int_equal(aio_testing_start(t), AIO_OK);
 *
 *     aio_request *req = aio_testing_request(t, "GET", "/?sleep=0.01");
 *     assert_int_equal(aio_testing_run_view(t, req, "home"), AIO_OK);
 *     assert_string_equal(aio_rendered_value(req, "title"), "aiotutorial websocket test");
 *     aio_testing_request_free(req);
 *     aio_testing_free(t);
 *
 * Every function here is called from the test's thread, outside any
 * coroutine; one application exists at a time per process.
 */
#ifndef AIO_TESTING_H
#define AIO_TESTING_H

#include "aio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aio_testing aio_testing;
typedef struct aio_testing_ws aio_testing_ws;

/* ------------------------------------------------------------------ */
/* The application                                                     */
/* ------------------------------------------------------------------ */

/* A new, empty application with its own loop. NULL when another one
 * exists or memory is short. */
AIO_API aio_testing *aio_testing_new(void);

/*
 * An option, as in the ini file: aio-views (opens the module),
 * aio-setting, aio-tweens, aio-stack-size, aio-executor-threads,
 * aio-executor-queue, aio-executor-when-full, aio-max-tasks,
 * aio-websocket-bytes, aio-ignore-websocket-closed, and uWSGI's
 * websockets-max-size (KiB), websockets-ping-freq and
 * websockets-pong-tolerance (s). Before aio_testing_start() only.
 * AIO_OK, or AIO_EINVAL with aio_testing_error() saying why.
 */
AIO_API int aio_testing_option(aio_testing *t, const char *name, const char *value);

/* A view module compiled into the test itself: its constructor and the
 * directory of its templates/ (like <dir of the .so>/<name> for a module
 * loaded with aio-views). */
AIO_API int aio_testing_add_module(aio_testing *t, const char *name,
                                   int (*main_fn)(aio_config *cfg), const char *asset_dir);

/* Constructs the application as a worker does: runs every module's
 * aio_main() and checks the configuration. AIO_OK, or AIO_EINVAL with
 * aio_testing_error() holding the line uWSGI would print. */
AIO_API int aio_testing_start(aio_testing *t);

/* The last error of the helpers, or "". */
AIO_API const char *aio_testing_error(const aio_testing *t);

/* What the engine logged (failed views, cancelled requests ...), one line
 * each; set the environment variable AIO_TESTING_VERBOSE to see it on
 * stderr as it happens. */
AIO_API const char *aio_testing_log(const aio_testing *t);

/* How long the run/serve/websocket helpers wait before they give up
 * (AIO_ETIMEDOUT) and cancel what they waited for; 30000 ms by default. */
AIO_API void aio_testing_set_timeout(aio_testing *t, int timeout_ms);

/* Turns the loop for `ms` milliseconds: spawned tasks, timers, requests
 * started with aio_testing_start_request() make progress. */
AIO_API void aio_testing_run_for(aio_testing *t, int ms);

/* Cancels what still runs (requests, tasks, websockets), waits for it to
 * end, frees the requests still around, and stops the application. */
AIO_API void aio_testing_free(aio_testing *t);

/* ------------------------------------------------------------------ */
/* Dummy requests (Pyramid's DummyRequest)                             */
/* ------------------------------------------------------------------ */

/* A request as a client would send it: method and target ("/path?query",
 * percent-encoded). No headers, no body, remote address 127.0.0.1. NULL
 * (see aio_testing_error) when the target is malformed or the application
 * is not started. It belongs to the application until freed. */
AIO_API aio_request *aio_testing_request(aio_testing *t, const char *method, const char *target);
/* Adds a request header ("Cookie", "X-Requested-With" ...). */
AIO_API int aio_testing_set_header(aio_request *req, const char *name, const char *value);
/* Sets the body and its Content-Type (a urlencoded form becomes params). */
AIO_API int aio_testing_set_body(aio_request *req, const char *content_type, const void *body,
                                 size_t len);
/* Sets a match dict entry, for views run with aio_testing_run_view(). */
AIO_API int aio_testing_set_match(aio_request *req, const char *name, const char *value);
/* Frees a request (cancelling it first if it still runs). */
AIO_API void aio_testing_request_free(aio_request *req);

/* ------------------------------------------------------------------ */
/* Running views                                                       */
/* ------------------------------------------------------------------ */

/*
 * Runs the view attached to route `route` for the request's method the way
 * its mapper runs it (a coroutine on the loop, or an executor thread), to
 * completion: what the seeds do with run_until_complete(home(request)). No
 * tweens, routing, permission or renderer: inspect what the view did with
 * aio_rendered_value(), aio_result_get() and the response getters below.
 * The match dict is filled from the request's path when the route's pattern
 * matches it. Returns the view's status, or AIO_ENOTFOUND (no such view),
 * AIO_ETIMEDOUT, AIO_EINVAL (a websocket view, or a request already run).
 */
AIO_API int aio_testing_run_view(aio_testing *t, aio_request *req, const char *route);

/* Runs fn(req) as a coroutine to completion: any code that suspends
 * (helpers of your views, aio_sleep ...). Returns what fn returned. */
AIO_API int aio_testing_run(aio_testing *t, aio_request *req, aio_view_fn fn);

/* Serves the request as the server would: tweens, routing, traversal,
 * permission, the view's mapper, its renderer, error pages. Returns the
 * response status (or AIO_ETIMEDOUT, AIO_EINVAL). */
AIO_API int aio_testing_serve(aio_testing *t, aio_request *req);

/* The same in two steps, so that several requests can run at once:
 * start serving (it runs until it first suspends) ... */
AIO_API int aio_testing_start_request(aio_testing *t, aio_request *req);
/* ... and turn the loop until it is done (the response status) or
 * timeout_ms passed (AIO_ETIMEDOUT; it keeps running). */
AIO_API int aio_testing_wait(aio_testing *t, aio_request *req, int timeout_ms);
/* 1 once the request has been run or served to the end. */
AIO_API int aio_testing_done(const aio_request *req);

/* The response: status, a header (the first of that name, any case, or
 * NULL) and the body (NUL-terminated; *len may be NULL). */
AIO_API int aio_testing_status(const aio_request *req);
AIO_API const char *aio_testing_response_header(const aio_request *req, const char *name);
/* The n-th (from 0) value of a header the response has several of
 * (Set-Cookie), or NULL. */
AIO_API const char *aio_testing_response_header_n(const aio_request *req, const char *name,
                                                  size_t n);
AIO_API const char *aio_testing_response_body(const aio_request *req, size_t *len);

/* What the view did, before any renderer: the value given for `name` by
 * its last aio_render() (NULL: none), and a member of its aio_result() as
 * text ("" for null; NULL: no such member). Both strings belong to the
 * request. (Views use aio_render() and aio_result() themselves.) */
AIO_API const char *aio_rendered_value(const aio_request *req, const char *name);
AIO_API const char *aio_result_get(aio_request *req, const char *key);

/* ------------------------------------------------------------------ */
/* A websocket test pair (the seeds' WSTest, in-process)               */
/* ------------------------------------------------------------------ */

/*
 * Connects a client to the websocket route serving `target`: the request
 * goes through the whole chain (tweens, routing, permission), the view runs
 * on the loop, and the client speaks RFC 6455 to it over a socketpair.
 * Headers (a Cookie ...) may be given as name/value pairs ending with NULL.
 * Returns the client, or NULL with *status the HTTP status the upgrade was
 * refused with (404, 403, 426 ...; AIO_ETIMEDOUT or AIO_ENOMEM otherwise).
 */
AIO_API aio_testing_ws *aio_testing_ws_connect(aio_testing *t, const char *target, int *status,
                                               ...) AIO_SENTINEL;
/* Sends a (masked) text or binary message to the view. */
AIO_API int aio_testing_ws_send_text(aio_testing_ws *ws, const char *text);
AIO_API int aio_testing_ws_send_binary(aio_testing_ws *ws, const void *data, size_t len);
/* The next message from the view, turning the loop for up to timeout_ms;
 * NULL once the view closed the connection, or on timeout. Free it with
 * aio_msg_free(). */
AIO_API aio_msg *aio_testing_ws_recv(aio_testing_ws *ws, int timeout_ms);
/* Starts the closing handshake and waits until the view's session is over.
 * Returns the code the server closed with, or AIO_ETIMEDOUT. */
AIO_API int aio_testing_ws_close(aio_testing_ws *ws, int code, const char *reason);
/* The code of the server's close frame (1006: the connection dropped),
 * 0 while it has sent none. */
AIO_API int aio_testing_ws_close_code(const aio_testing_ws *ws);
/* The handshake request (for what the tweens and the view left on it). */
AIO_API aio_request *aio_testing_ws_request(aio_testing_ws *ws);
/* Drops the connection if still open, waits for the view to end, frees. */
AIO_API void aio_testing_ws_free(aio_testing_ws *ws);

#ifdef __cplusplus
}
#endif

#endif /* AIO_TESTING_H */
