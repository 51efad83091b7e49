/* app.c - libaio_testing's application: options and modules, start, the
 * log it captures, turning the loop, the end (testing.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testing/testing.h"

#define DEFAULT_TIMEOUT_MS 30000

/* ---- the host's log ------------------------------------------------------- */

aio_testing *aio__testing_current;

/* Executor threads log too (aio_log from a blocking view). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_to_test(const char *line)
{
    pthread_mutex_lock(&log_lock);
    aio_testing *t = aio__testing_current;
    if (t && aio__buf_printf(&t->log, "%s\n", line) != AIO_OK)
        t = NULL; /* out of memory: at least say it on stderr */
    if (!t || t->verbose)
        fprintf(stderr, "aio: %s\n", line);
    pthread_mutex_unlock(&log_lock);
}

int aio__testing_fail(aio_testing *t, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
    return status;
}

/* ---- turning the loop ------------------------------------------------------ */

static void on_deadline(uv_timer_t *timer)
{
    ((aio_testing *)timer->data)->expired = 1;
}

/* Turns the loop until done(arg) or timeout_ms pass: AIO_OK or AIO_ETIMEDOUT. */
int aio__testing_turn_until(aio_testing *t, int (*done)(const void *), const void *arg,
                      int timeout_ms)
{
    if (done(arg))
        return AIO_OK;
    t->expired = 0;
    uv_timer_start(&t->deadline, on_deadline, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
    while (!done(arg) && !t->expired)
        uv_run(&aio__engine.loop, UV_RUN_ONCE); /* the deadline keeps it from idling */
    uv_timer_stop(&t->deadline);
    return done(arg) ? AIO_OK : AIO_ETIMEDOUT;
}

static int never(const void *arg)
{
    (void)arg;
    return 0;
}

void aio_testing_run_for(aio_testing *t, int ms)
{
    if (t && t->started && !aio_in_coroutine())
        aio__testing_turn_until(t, never, NULL, ms);
}

/* ---- the application -------------------------------------------------------- */

aio_testing *aio_testing_new(void)
{
    if (aio__testing_current)
        return NULL; /* one application at a time: the engine is one */
    aio_testing *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    aio__testing_current = t;
    aio__log_set_sink(log_to_test);
    aio__app_init();
    if (aio__engine_open() != AIO_OK) {
        aio__app_free();
        aio__log_set_sink(NULL);
        aio__testing_current = NULL;
        free(t);
        return NULL;
    }
    aio__app_open();
    aio__list_init(&t->runs);
    aio__list_init(&t->sockets);
    t->timeout_ms = DEFAULT_TIMEOUT_MS;
    t->verbose = getenv("AIO_TESTING_VERBOSE") != NULL;
    uv_timer_init(&aio__engine.loop, &t->deadline);
    t->deadline.data = t;
    return t;
}

/* uWSGI's own websocket options, which the server takes from uWSGI. */
static int websocket_option(aio_testing *t, const char *name, const char *value)
{
    static const struct {
        const char *name;
        long min, max;
    } ranges[] = {
        {"websockets-max-size", 1, 1024 * 1024},
        {"websockets-ping-freq", 0, 86400},
        {"websockets-pong-tolerance", 1, 86400},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (strcmp(name, ranges[i].name) != 0)
            continue;
        long n;
        if (aio__option_int(name, value, ranges[i].min, ranges[i].max, &n, t->error,
                           sizeof(t->error)) != AIO_OK)
            return AIO_EINVAL;
        if (i == 0)
            aio__app.opts.engine.ws_max_message = (size_t)n * 1024;
        else if (i == 1)
            aio__app.opts.engine.ws_ping_freq = n;
        else
            aio__app.opts.engine.ws_pong_tolerance = n;
        return AIO_OK;
    }
    return AIO_ENOTFOUND;
}

int aio_testing_option(aio_testing *t, const char *name, const char *value)
{
    if (!t || !name)
        return AIO_EINVAL;
    if (t->started)
        return aio__testing_fail(t, AIO_EINVAL, "option '%s' comes too late: set options before "
                                   "aio_testing_start()", name);
    int rc = websocket_option(t, name, value);
    if (rc != AIO_ENOTFOUND)
        return rc;
    t->error[0] = '\0';
    rc = aio__options_set(&aio__app.opts, &aio__app.registry, name, value, t->error,
                         sizeof(t->error));
    if (rc == AIO_ENOTFOUND)
        return aio__testing_fail(t, AIO_EINVAL, "unknown option '%s'", name);
    if (rc == AIO_ENOMEM)
        return aio__testing_fail(t, AIO_ENOMEM, "out of memory");
    if (rc == AIO_OK && strcmp(name, "aio-views") == 0 &&
        aio__registry_open_module(&aio__app.registry, value) != AIO_OK) {
        aio__testing_fail(t, AIO_EINVAL, "%s", aio__app.registry.error[0] ? aio__app.registry.error
                                                               : "out of memory");
        aio__app.registry.error[0] = '\0'; /* the test may go on without it */
        return AIO_EINVAL;
    }
    return rc;
}

int aio_testing_add_module(aio_testing *t, const char *name, int (*main_fn)(aio_config *cfg),
                           const char *asset_dir)
{
    if (!t || !name || !main_fn)
        return AIO_EINVAL;
    if (t->started)
        return aio__testing_fail(t, AIO_EINVAL, "module '%s' comes too late: add modules before "
                                   "aio_testing_start()", name);
    if (aio__registry_add_module(&aio__app.registry, name, asset_dir ? asset_dir : ".",
                                main_fn) != AIO_OK)
        return aio__testing_fail(t, AIO_ENOMEM, "out of memory");
    return AIO_OK;
}

int aio_testing_start(aio_testing *t)
{
    if (!t)
        return AIO_EINVAL;
    if (t->started)
        return aio__testing_fail(t, AIO_EINVAL, "the application is started already");
    aio__options_defaults(&aio__app.opts);
    aio__engine_configure(aio__app_engine_config());
    if (aio__registry_construct(&aio__app.registry) != AIO_OK)
        return aio__testing_fail(t, AIO_EINVAL, "configuration error: %s",
                    aio__app.registry.error[0] ? aio__app.registry.error : "out of memory");
    t->started = 1;
    aio__engine.running = 1;
    aio__tasks_start_pending();
    return AIO_OK;
}

const char *aio_testing_error(const aio_testing *t)
{
    return t ? t->error : "no application (aio_testing_new() failed)";
}

const char *aio_testing_log(const aio_testing *t)
{
    return t && t->log.data ? t->log.data : "";
}

void aio_testing_set_timeout(aio_testing *t, int timeout_ms)
{
    if (t && timeout_ms > 0)
        t->timeout_ms = timeout_ms;
}

static int no_tasks_left(const void *arg)
{
    (void)arg;
    return aio__app.ntasks == 0;
}

void aio_testing_free(aio_testing *t)
{
    if (!t)
        return;
    struct aio_list *node;
    while ((node = aio__list_first(&t->sockets)) != NULL)
        aio__testing_ws_free(aio__list_entry(node, aio_testing_ws, node));
    while ((node = aio__list_first(&t->runs)) != NULL)
        aio__testing_run_free(t, aio__list_entry(node, struct test_run, node)); /* cancels it if running */
    aio__engine_begin_stop(); /* spawning now fails with AIO_ECANCELLED */
    aio__tasks_cancel_all();
    if (aio__testing_turn_until(t, no_tasks_left, NULL, t->timeout_ms) != AIO_OK)
        fprintf(stderr, "aio_testing: %d spawned task(s) still run after being cancelled\n",
                aio__app.ntasks);
    uv_close((uv_handle_t *)&t->deadline, NULL);
    aio__engine.running = 0;
    aio__app_close();
    aio__engine_close();
    aio__app_free();
    aio__log_set_sink(NULL);
    aio__testing_current = NULL;
    aio__buf_free(&t->log);
    free(t);
}
