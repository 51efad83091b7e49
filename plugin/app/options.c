#include "app/options.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uwsgi-aio/aio.h>
#include "app/registry.h"
#include "base/array.h"

int aio__option_int(const char *option, const char *value, long min, long max, long *out,
                   char *error, size_t error_size)
{
    char *end = NULL;
    errno = 0;
    long n = value && *value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || errno || *end || n < min || n > max) {
        snprintf(error, error_size, "option '%s' must be an integer from %ld to %ld (got '%s')",
                 option, min, max, value ? value : "");
        return AIO_EINVAL;
    }
    *out = n;
    return AIO_OK;
}

static int size_suffix_shift(const char *suffix, unsigned *shift)
{
    if (suffix[0] == '\0') {
        *shift = 0;
        return 1;
    }
    if (suffix[1] != '\0')
        return 0;
    switch (tolower((unsigned char)suffix[0])) {
    case 'k': *shift = 10; return 1;
    case 'm': *shift = 20; return 1;
    case 'g': *shift = 30; return 1;
    default: return 0;
    }
}

int aio__option_size(const char *option, const char *value, size_t min, size_t max,
                    size_t *out, char *error, size_t error_size)
{
    char *end = NULL;
    unsigned shift = 0;
    errno = 0;
    unsigned long long n = 0;
    int ok = value && isdigit((unsigned char)value[0]);
    if (ok) {
        n = strtoull(value, &end, 10);
        ok = !errno && size_suffix_shift(end, &shift) && n <= (SIZE_MAX >> shift);
    }
    if (ok)
        n <<= shift;
    if (!ok || n < min || n > max) {
        snprintf(error, error_size,
                 "option '%s' must be a size from %zu to %zu bytes, e.g. 256k (got '%s')", option,
                 min, max, value ? value : "");
        return AIO_EINVAL;
    }
    *out = (size_t)n;
    return AIO_OK;
}

int aio__option_bool(const char *option, const char *value, int *out, char *error,
                    size_t error_size)
{
    static const char *truthy[] = {"1", "true", "yes", "on"};
    static const char *falsy[] = {"0", "false", "no", "off"};
    for (size_t i = 0; value && i < 4; i++) {
        if (strcasecmp(value, truthy[i]) == 0) {
            *out = 1;
            return AIO_OK;
        }
        if (strcasecmp(value, falsy[i]) == 0) {
            *out = 0;
            return AIO_OK;
        }
    }
    snprintf(error, error_size, "option '%s' must be true or false (got '%s')", option,
             value ? value : "");
    return AIO_EINVAL;
}

int aio__option_setting(const char *option, char *pair, char **key, char **value, char *error,
                       size_t error_size)
{
    char *eq = pair ? strchr(pair, '=') : NULL;
    int ok = eq && eq != pair;
    for (char *p = pair; ok && p < eq; p++)
        ok = isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-';
    if (!ok) {
        snprintf(error, error_size,
                 "option '%s' must look like key=value with a key of letters, digits, '_', '.', "
                 "'-' (got '%s')",
                 option, pair ? pair : "");
        return AIO_EINVAL;
    }
    *eq = '\0';
    *key = pair;
    *value = eq + 1;
    return AIO_OK;
}

/* ---- the options themselves --------------------------------------------- */

#define DEFAULT_STACK_SIZE (256u * 1024u)
#define DEFAULT_EXECUTOR_THREADS 16
#define DEFAULT_EXECUTOR_QUEUE 1024
#define DEFAULT_MAX_TASKS 1024
/* uWSGI's own defaults for its websocket options */
#define DEFAULT_WS_MAX_MESSAGE (1024u * 1024u)
#define DEFAULT_WS_PONG_TOLERANCE 3
#define DEFAULT_REDIS_POOL 4
#define DEFAULT_REDIS_TIMEOUT_MS 2000
/* asyncio's debug mode reports callbacks over 100 ms: a stall that long is
 * felt by every other client and no normal view comes near it */
#define DEFAULT_STALL_MS 100
/* eight peers at their own bound (websocket.c's 16 MiB) */
#define DEFAULT_WS_WORKER_BACKLOG (128u * 1024u * 1024u)
/* lwan's keep-alive timeout (nginx waits 75 s): an idle connection costs
 * an fd and a small struct, and browsers reconnect cheaply */
#define DEFAULT_KEEPALIVE_TIMEOUT_S 15
/* nginx's keepalive_requests */
#define DEFAULT_KEEPALIVE_REQUESTS 1000
/* bodies read whole before the view runs, without limit-post */
#define DEFAULT_BODY_MAX (16u * 1024u * 1024u)
/* a whole body, however large: time enough for a large upload on a slow
 * link, not for a connection that trickles forever */
#define DEFAULT_BODY_TIMEOUT_S 300

void aio__options_init(struct aio_options *o)
{
    o->ignore_websocket_closed = 1;
    o->engine.stall_ms = DEFAULT_STALL_MS; /* 0 is a value: never report */
    o->keepalive_timeout_s = DEFAULT_KEEPALIVE_TIMEOUT_S; /* 0: no keep-alive */
    o->body_timeout_s = DEFAULT_BODY_TIMEOUT_S;           /* 0: none */
}

void aio__options_defaults(struct aio_options *o)
{
    if (!o->engine.stack_size)
        o->engine.stack_size = DEFAULT_STACK_SIZE;
    if (!o->engine.executor_threads)
        o->engine.executor_threads = DEFAULT_EXECUTOR_THREADS;
    if (!o->engine.executor_queue)
        o->engine.executor_queue = DEFAULT_EXECUTOR_QUEUE;
    if (!o->max_tasks)
        o->max_tasks = DEFAULT_MAX_TASKS;
    if (!o->engine.ws_max_message)
        o->engine.ws_max_message = DEFAULT_WS_MAX_MESSAGE;
    /* a quarter of the cores (one at least) stays for plain requests */
    if (!o->websocket_cores && o->cores > 1)
        o->websocket_cores = o->cores - (o->cores + 3) / 4;
    if (o->websocket_cores > o->cores && o->cores)
        o->websocket_cores = o->cores;
    if (!o->websocket_callbacks)
        o->websocket_callbacks = o->cores; /* as many as requests (0: no bound) */
    if (!o->engine.ws_worker_backlog)
        o->engine.ws_worker_backlog = DEFAULT_WS_WORKER_BACKLOG;
    if (!o->engine.ws_pong_tolerance)
        o->engine.ws_pong_tolerance = DEFAULT_WS_PONG_TOLERANCE;
    if (!o->redis_pool)
        o->redis_pool = DEFAULT_REDIS_POOL;
    if (!o->redis_timeout_ms)
        o->redis_timeout_ms = DEFAULT_REDIS_TIMEOUT_MS;
    if (!o->keepalive_requests)
        o->keepalive_requests = DEFAULT_KEEPALIVE_REQUESTS;
    if (!o->body_max)
        o->body_max = DEFAULT_BODY_MAX;
}

static int add_view_module(struct aio_options *o, const char *name, const char *path,
                           char *error, size_t error_size)
{
    if (!path || !*path) {
        snprintf(error, error_size, "option '%s' needs the path of a view module", name);
        return AIO_EINVAL;
    }
    if (aio__array_grow((void **)&o->views, o->nviews, sizeof(*o->views)) != AIO_OK ||
        !(o->views[o->nviews] = strdup(path)))
        return AIO_ENOMEM;
    o->nviews++;
    return AIO_OK;
}

static int add_setting(struct aio_registry *reg, const char *name, const char *value,
                       char *error, size_t error_size)
{
    char *pair = value ? strdup(value) : NULL;
    if (value && !pair)
        return AIO_ENOMEM;
    char *key, *val;
    int rc = aio__option_setting(name, pair, &key, &val, error, error_size);
    if (rc == AIO_OK && aio__registry_add_setting(reg, key, val))
        rc = AIO_ENOMEM;
    free(pair);
    return rc;
}

static int set_when_full(struct aio_options *o, const char *name, const char *value, char *error,
                         size_t error_size)
{
    if (value && strcmp(value, "reject") == 0) {
        o->engine.when_full = AIO_FULL_REJECT;
    } else if (value && strcmp(value, "wait") == 0) {
        o->engine.when_full = AIO_FULL_WAIT;
    } else {
        snprintf(error, error_size, "option '%s' must be 'reject' or 'wait' (got '%s')", name,
                 value ? value : "");
        return AIO_EINVAL;
    }
    return AIO_OK;
}

static int set_redis_url(const char *name, const char *value, int allow_channel,
                         struct aio_redis_url *url, int *set, char *error, size_t error_size)
{
    char why[400];
    if (aio__redis_url_parse(value, allow_channel, url, why, sizeof(why)) != AIO_OK) {
        snprintf(error, error_size, "option '%s': %s", name, why);
        return AIO_EINVAL;
    }
    *set = 1;
    return AIO_OK;
}

int aio__options_set(struct aio_options *o, struct aio_registry *reg, const char *name,
                    const char *value, char *error, size_t error_size)
{
    static const struct {
        const char *name;
        long min, max;
        size_t offset;
    } integers[] = {
        {"aio-executor-threads", 1, 1024, offsetof(struct aio_options, engine.executor_threads)},
        {"aio-executor-queue", 1, 1000000, offsetof(struct aio_options, engine.executor_queue)},
        {"aio-max-tasks", 1, 1000000, offsetof(struct aio_options, max_tasks)},
        {"aio-redis-pool", 1, 64, offsetof(struct aio_options, redis_pool)},
        {"aio-redis-timeout", 10, 600000, offsetof(struct aio_options, redis_timeout_ms)},
        {"aio-stall-ms", 0, 600000, offsetof(struct aio_options, engine.stall_ms)},
        {"aio-slow-request-ms", 0, 86400000, offsetof(struct aio_options, slow_request_ms)},
        {"aio-request-timeout", 0, 86400000, offsetof(struct aio_options, request_timeout_ms)},
        {"aio-websocket-cores", 1, 100000, offsetof(struct aio_options, websocket_cores)},
        {"aio-websocket-callbacks", 1, 100000, offsetof(struct aio_options, websocket_callbacks)},
        {"aio-keepalive-timeout", 0, 86400, offsetof(struct aio_options, keepalive_timeout_s)},
        {"aio-keepalive-requests", 1, 1000000000,
         offsetof(struct aio_options, keepalive_requests)},
        {"aio-body-timeout", 0, 86400, offsetof(struct aio_options, body_timeout_s)},
    };
    static const struct {
        const char *name;
        size_t offset;
    } booleans[] = {
        {"aio-websocket-bytes", offsetof(struct aio_options, websocket_bytes)},
        {"aio-ignore-websocket-closed", offsetof(struct aio_options, ignore_websocket_closed)},
    };
    if (!name)
        return AIO_EINVAL;
    for (size_t i = 0; i < sizeof(integers) / sizeof(integers[0]); i++)
        if (strcmp(name, integers[i].name) == 0)
            return aio__option_int(name, value, integers[i].min, integers[i].max,
                                  (long *)((char *)o + integers[i].offset), error, error_size);
    for (size_t i = 0; i < sizeof(booleans) / sizeof(booleans[0]); i++)
        if (strcmp(name, booleans[i].name) == 0)
            return aio__option_bool(name, value, (int *)((char *)o + booleans[i].offset), error,
                                   error_size);
    if (strcmp(name, "aio-websocket-worker-queue") == 0)
        return aio__option_size(name, value, 1024u * 1024u, (size_t)64 << 30,
                               &o->engine.ws_worker_backlog, error, error_size);
    if (strcmp(name, "aio-stack-size") == 0)
        return aio__option_size(name, value, 16u * 1024u, 64u * 1024u * 1024u, &o->engine.stack_size,
                               error, error_size);
    if (strcmp(name, "aio-executor-when-full") == 0)
        return set_when_full(o, name, value, error, error_size);
    if (strcmp(name, "aio-views") == 0)
        return add_view_module(o, name, value, error, error_size);
    if (strcmp(name, "aio-broadcast") == 0)
        return set_redis_url(name, value, 1, &o->broadcast, &o->broadcast_set, error, error_size);
    if (strcmp(name, "aio-redis") == 0)
        return set_redis_url(name, value, 0, &o->redis, &o->redis_set, error, error_size);
    if (strcmp(name, "aio-setting") == 0)
        return add_setting(reg, name, value, error, error_size);
    if (strcmp(name, "aio-tweens") == 0)
        return aio__registry_set_tween_order(reg, value ? value : "") ? AIO_ENOMEM : AIO_OK;
    return AIO_ENOTFOUND;
}
