/* options.h - the `aio-*` options: their values, validated by pure
 * functions that each return AIO_OK or AIO_EINVAL with a one-line reason
 * naming the option, and applied in one place for every host (the uWSGI
 * ini file, or aio_testing_option()). */
#ifndef AIO_OPTIONS_H
#define AIO_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "proto/redisurl.h"

struct aio_registry;

struct aio_options {
    long cores;              /* `aio = N` */
    /* what the engine is told: aio-stack-size, aio-executor-threads,
     * aio-executor-queue, aio-executor-when-full, aio-stall-ms, aio-websocket-worker-queue, and uWSGI's websocket
     * settings (websockets-max-size, -ping-freq, -pong-tolerance) as the
     * host gives them */
    struct aio_engine_config engine;
    char **views;            /* `aio-views`, in order */
    size_t nviews;
    long max_tasks;          /* `aio-max-tasks` */
    int websocket_bytes;     /* `aio-websocket-bytes` */
    int ignore_websocket_closed; /* `aio-ignore-websocket-closed` */
    int broadcast_set;       /* `aio-broadcast = redis://...` given */
    struct aio_redis_url broadcast;
    int redis_set;           /* `aio-redis = redis://...` given */
    struct aio_redis_url redis;
    long redis_pool;         /* `aio-redis-pool`: connections per worker */
    long redis_timeout_ms;   /* `aio-redis-timeout`: connect and reply deadline */
    long request_timeout_ms; /* `aio-request-timeout`: a request's deadline (0: none) */
    long slow_request_ms;    /* `aio-slow-request-ms`: the timing tween logs slower ones */
    long websocket_cores;    /* `aio-websocket-cores`: sessions holding a core (0: no bound) */
    long websocket_callbacks; /* `aio-websocket-callbacks`: detached sessions' turns at once */
    long keepalive_timeout_s; /* `aio-keepalive-timeout`: idle seconds (0: no keep-alive) */
    long keepalive_requests;  /* `aio-keepalive-requests`: per connection */
    uint64_t body_max;        /* a body read whole before the view: limit-post, or 16 MiB */
    long body_timeout_s;      /* `aio-body-timeout`: the whole body's deadline (0: none) */
};

/* Applies option `name` (an aio-* option other than `aio` itself) to
 * `opts`, or to `reg` for aio-setting and aio-tweens. AIO_OK, AIO_EINVAL
 * with `error` set, AIO_ENOMEM, or AIO_ENOTFOUND when it is no such option. */
int aio__options_set(struct aio_options *opts, struct aio_registry *reg, const char *name,
                    const char *value, char *error, size_t error_size);
/* Before any option: the defaults of the options for which 0 is a value. */
void aio__options_init(struct aio_options *opts);
/* After the options: defaults for what no option set. */
void aio__options_defaults(struct aio_options *opts);

/* A decimal integer in [min, max]. */
int aio__option_int(const char *option, const char *value, long min, long max, long *out,
                   char *error, size_t error_size);

/* A size in bytes with an optional k/K, m/M or g/G (binary) suffix, in
 * [min, max]. */
int aio__option_size(const char *option, const char *value, size_t min, size_t max,
                    size_t *out, char *error, size_t error_size);

/* A boolean: 1/0, true/false, yes/no, on/off (any case). */
int aio__option_bool(const char *option, const char *value, int *out, char *error,
                    size_t error_size);

/* "key=value" with a non-empty key of [A-Za-z0-9_.-]; splits in place
 * into *key and *value (pointers into `pair`). */
int aio__option_setting(const char *option, char *pair, char **key, char **value,
                       char *error, size_t error_size);

#endif
