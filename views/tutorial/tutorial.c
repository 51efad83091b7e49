/* The aiopyramid tutorial, in C: a home page whose view sleeps (without
 * blocking the worker) before rendering a template that tests the /echo
 * websocket, the echo itself, a blocking view for the executor, a plain-text
 * hello world for benchmarks, a coroutine view that blocks the loop on
 * purpose (/stall), to show what the stall report says, a streamed body
 * (/stream), server-sent events (/events) and an upload read as it
 * arrives (/upload), a list page whose template loops (/list), and a
 * relay (/relay) that asks another server (the setting tutorial.upstream,
 * such as another instance of this tutorial) for its home page through the
 * outbound HTTP client, and says what came back. */
#define _DEFAULT_SOURCE /* usleep() */
#include <uwsgi-aio/aio.h>
#include <uwsgi-aio/aio_http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GET /?sleep=seconds: waits (0.1 s by default), then renders the page. */
static int home(aio_request *req)
{
    double wait = 0.1;
    int rc = aio_param_to_double(req, "sleep", &wait);
    if (rc != AIO_EINVAL) /* absent: the default */
        rc = aio_sleep(req, wait);
    if (rc == AIO_EINVAL) /* not a number, or negative */
        return aio_respond_text(req, 400, "sleep must be a number of seconds from 0\n");
    if (rc != AIO_OK)
        return rc; /* cancelled: the client is gone */
    char wait_text[32];
    snprintf(wait_text, sizeof(wait_text), "%g", wait);
    return aio_render(req, "templates/home.html", "title", "aiotutorial websocket test",
                      "wait_time", wait_text, NULL);
}

/* The relay's upstream (tutorial.upstream, e.g. http://127.0.0.1:6543) and
 * how long it may take (tutorial.relay_timeout_ms, 10 s by default). */
static const char *upstream;
static const char *upstream_ca_file; /* tutorial.upstream_ca_file: an https upstream's CA */
static int relay_timeout_ms = 10000;

/* GET /relay?sleep=S: fetches <upstream>/?sleep=S and answers the
 * upstream's status and body length, "200 1234\n"; 502 when the upstream
 * cannot be reached or answers nonsense, 504 when it takes too long. */
static int relay(aio_request *req)
{
    double wait = 0.1;
    if (aio_param_to_double(req, "sleep", &wait) == AIO_EINVAL)
        return aio_respond_text(req, 400, "sleep must be a number of seconds from 0\n");
    if (!upstream)
        return aio_respond_text(req, 503, "this server has no tutorial.upstream setting\n");
    char url[1024];
    if (snprintf(url, sizeof(url), "%s/?sleep=%g", upstream, wait) >= (int)sizeof(url))
        return aio_respond_text(req, 500, "tutorial.upstream is too long\n");
    aio_http_response *res;
    int rc = aio_http_request(req, &(struct aio_http_options){.url = url,
                                                              .timeout_ms = relay_timeout_ms,
                                                              .ca_file = upstream_ca_file},
                              &res);
    if (rc == AIO_ECANCELLED)
        return rc; /* the client left, and the transfer with it */
    if (rc != AIO_OK)
        aio_log(req, "relay: %s", aio_failure(req) ? aio_failure(req) : aio_strerror(rc));
    if (rc == AIO_ETIMEDOUT)
        return aio_respond_text(req, 504, "the upstream did not answer in time\n");
    if (rc != AIO_OK)
        return aio_respond_text(req, 502, "the upstream failed\n");
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    return aio_printf(req, "%d %zu\n", res->status, res->body_len);
}

/* GET /list?n=N (0 to 100, default 5): the view only makes the data - a
 * list of N rows - and its template renderer makes the page: a table only
 * if there are rows ({{#any}}), a loop over them ({{#rows}}...{{/rows}}),
 * and a line for an empty list ({{^any}}). */
static int list(aio_request *req)
{
    long n = 5;
    if (aio_param_to_long(req, "n", &n) == AIO_EINVAL || n < 0 || n > 100)
        return aio_respond_text(req, 400, "n must be from 0 to 100\n");
    json_t *rows = json_array();
    for (long i = 1; rows && i <= n; i++)
        json_array_append_new(rows, json_pack("{s:I, s:I, s:s}", "n", (json_int_t)i, "square",
                                              (json_int_t)(i * i), "note",
                                              i % 2 ? "odd <& escaped>" : "even"));
    json_t *result = aio_result(req);
    if (!rows || !result || json_object_set_new(result, "rows", rows) ||
        json_object_set_new(result, "any", json_boolean(n > 0)))
        return AIO_ENOMEM;
    return aio_result_set_int(req, "count", n);
}

/* GET /blocking?ms=N: legacy blocking code. Not declared a coroutine, so the
 * default mapper runs it in an executor thread: the loop stays free. */
static int blocking(aio_request *req)
{
    long ms = 100;
    if (aio_param_to_long(req, "ms", &ms) == AIO_EINVAL || ms < 0 || ms > 60000)
        return aio_respond_text(req, 400, "ms must be from 0 to 60000\n");
    usleep((useconds_t)ms * 1000);
    return aio_printf(req, "blocked %ld ms in an executor thread\n", ms);
}

/* GET /stall?ms=N: what not to do. A coroutine view runs on the loop, so
 * blocking in it (usleep, a blocking library call) holds up every other
 * request of the worker for that long; the worker logs a stall line naming
 * this route once it is past aio-stall-ms. */
static int stall(aio_request *req)
{
    long ms = 200;
    if (aio_param_to_long(req, "ms", &ms) == AIO_EINVAL || ms < 0 || ms > 10000)
        return aio_respond_text(req, 400, "ms must be from 0 to 10000\n");
    usleep((useconds_t)ms * 1000);
    return aio_printf(req, "held the loop for %ld ms\n", ms);
}

/* /echo (websocket): every message comes back, with its type. */
static int echo(aio_ws *ws)
{
    aio_msg *msg;
    while ((msg = aio_ws_recv(ws)) != NULL) {
        int rc = aio_ws_send(ws, msg);
        aio_msg_free(msg);
        if (rc != AIO_OK)
            return rc; /* AIO_ECLOSED: the client left, which ends the view quietly */
    }
    return AIO_OK;
}

/* GET /stream?bytes=N: N bytes of 'x' in 64 KiB pieces, each written
 * before the next is made: memory stays at one piece, however large N and
 * however slowly the client reads. */
static int stream(aio_request *req)
{
    static char piece[64 * 1024];
    long total = 1024 * 1024;
    if (aio_param_to_long(req, "bytes", &total) == AIO_EINVAL || total < 0)
        return aio_respond_text(req, 400, "bytes must be a number from 0\n");
    if (!piece[0])
        memset(piece, 'x', sizeof(piece));
    aio_add_header(req, "Content-Type", "application/octet-stream");
    for (long left = total; left > 0;) {
        size_t n = left < (long)sizeof(piece) ? (size_t)left : sizeof(piece);
        int rc = aio_stream_write(req, piece, n);
        if (rc != AIO_OK)
            return rc; /* AIO_ECANCELLED: the client left */
        left -= (long)n;
    }
    return aio_stream_end(req);
}

/* GET /events?count=N&interval_ms=M: server-sent events "data: 0" ...
 * "data: N-1", M ms apart, then the stream ends. */
static int events(aio_request *req)
{
    long count = 10, interval = 1000;
    if (aio_param_to_long(req, "count", &count) == AIO_EINVAL || count < 0 || count > 100000 ||
        aio_param_to_long(req, "interval_ms", &interval) == AIO_EINVAL || interval < 0 ||
        interval > 3600000)
        return aio_respond_text(req, 400, "count must be 0-100000, interval_ms 0-3600000\n");
    int rc = aio_sse_begin(req, 15000); /* a heartbeat when silent for 15 s */
    for (long i = 0; rc == AIO_OK && i < count; i++) {
        char data[32], id[32];
        snprintf(data, sizeof(data), "%ld", i);
        snprintf(id, sizeof(id), "%ld", i + 1);
        rc = aio_sse_send(req, &(struct aio_sse_event){.id = id, .data = data});
        if (rc == AIO_OK && i + 1 < count)
            rc = aio_sse_sleep_ms(req, interval);
    }
    return rc == AIO_OK ? aio_stream_end(req) : rc;
}

/* POST /upload: the body's SHA-256 and length, read piece by piece as it
 * arrives (AIO_STREAM_BODY), so an upload of any size costs one piece of
 * memory. */
static int upload(aio_request *req)
{
    static char piece[64 * 1024]; /* one coroutine at a time runs on the loop */
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(sha);
        return AIO_ENOMEM;
    }
    long long total = 0;
    ssize_t n;
    while ((n = aio_body_read(req, piece, sizeof(piece))) > 0) {
        EVP_DigestUpdate(sha, piece, (size_t)n);
        total += n;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(sha, digest, &len);
    EVP_MD_CTX_free(sha);
    if (n == AIO_EFULL)
        return aio_respond_text(req, 413, "the upload is larger than limit-post\n");
    if (n == AIO_EINVAL)
        return aio_respond_text(req, 400, "malformed chunked body\n");
    if (n == AIO_ETIMEDOUT)
        return aio_respond_text(req, 408, "the upload was too slow\n");
    if (n < 0)
        return (int)n; /* AIO_ECANCELLED: the client left */
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return aio_printf(req, "%s %lld\n", hex, total);
}

/* GET /hello: the smallest useful response. */
static int hello(aio_request *req)
{
    return aio_respond_text(req, 200, "Hello World\n");
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "home", "/");
    aio_add_route(cfg, "hello", "/hello");
    aio_add_route(cfg, "blocking", "/blocking");
    aio_add_route(cfg, "echo", "/echo");
    aio_add_route(cfg, "stall", "/stall");
    aio_add_route(cfg, "stream", "/stream");
    aio_add_route(cfg, "events", "/events");
    aio_add_route(cfg, "upload", "/upload");
    aio_add_route(cfg, "list", "/list");
    aio_add_route(cfg, "relay", "/relay");
    upstream = aio_config_setting(cfg, "tutorial.upstream");
    upstream_ca_file = aio_config_setting(cfg, "tutorial.upstream_ca_file");
    const char *timeout = aio_config_setting(cfg, "tutorial.relay_timeout_ms");
    if (timeout) {
        char *end;
        long ms = strtol(timeout, &end, 10);
        if (*end || end == timeout || ms < 1 || ms > 3600000)
            return aio_config_fail(cfg, "tutorial.relay_timeout_ms must be 1..3600000 ms, not "
                                        "'%s'", timeout);
        relay_timeout_ms = (int)ms;
    }
    aio_add_view(cfg, "relay", relay, AIO_COROUTINE | AIO_GET);
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "list", .view = list,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "templates/list.html"});
    aio_add_view(cfg, "home", home, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "hello", hello, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "blocking", blocking, AIO_GET);
    aio_add_view(cfg, "stall", stall, AIO_COROUTINE | AIO_GET);
    aio_add_websocket_view(cfg, "echo", echo, 0);
    /* streams may last longer than any aio-request-timeout */
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "stream", .view = stream,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .timeout_ms = AIO_NO_TIMEOUT});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "upload", .view = upload,
                                                   .flags = AIO_COROUTINE | AIO_POST |
                                                            AIO_STREAM_BODY,
                                                   .timeout_ms = AIO_NO_TIMEOUT});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "events", .view = events,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .timeout_ms = AIO_NO_TIMEOUT});
    return 0;
}
