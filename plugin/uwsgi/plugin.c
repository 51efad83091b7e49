/* plugin.c - the uWSGI plugin: options, start-up checks, the hooks uWSGI
 * calls, and the per-worker construction of the application. */
#include <uwsgi.h>

#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

static void log_to_uwsgi(const char *line)
{
    uwsgi_log("aio: %s\n", line);
}

/* A configuration error found in the master: one line, and stop. */
static void fatal(const char *what)
{
    uwsgi_log("aio: configuration error: %s\n", what);
    exit(1);
}

/* ---- options ----------------------------------------------------------- */

static void opt_aio(char *opt, char *value, void *unused)
{
    (void)unused;
    char error[256];
    long cores;
    if (aio__option_int(opt, value, 2, 100000, &cores, error, sizeof(error)))
        fatal(error);
    uwsgi.async = (int)cores;
    uwsgi.loop = "aio";
    aio__host.selected = 1;
    aio__app.opts.cores = cores;
}

/* Every aio-* option but `aio`: applied the way the test harness applies
 * them too (options.c). */
static void opt_engine(char *opt, char *value, void *unused)
{
    (void)unused;
    char error[768] = "";
    int rc = aio__options_set(&aio__app.opts, &aio__app.registry, opt, value, error,
                             sizeof(error));
    if (rc == AIO_ENOMEM)
        fatal("out of memory");
    if (rc != AIO_OK)
        fatal(error[0] ? error : aio_strerror(rc));
}

static struct uwsgi_option aio_options[] = {
    {"aio", required_argument, 0,
     "run the uwsgi-aio loop engine with N async cores (concurrent requests per worker)",
     opt_aio, NULL, 0},
    {"aio-views", required_argument, 0,
     "load a uwsgi-aio view module (.so); its aio_main() runs once per worker (repeatable)",
     opt_engine, NULL, 0},
    {"aio-setting", required_argument, 0,
     "application setting key=value passed to the view modules (repeatable)", opt_engine, NULL,
     0},
    {"aio-stack-size", required_argument, 0,
     "coroutine stack size of each async core and task, e.g. 256k (default 256k)",
     opt_engine, NULL, 0},
    {"aio-executor-threads", required_argument, 0,
     "threads of each worker's executor, for blocking views and aio_run_in_executor() "
     "(1-1024, default 16)",
     opt_engine, NULL, 0},
    {"aio-executor-queue", required_argument, 0,
     "executor jobs that may wait for a thread before the executor counts as full "
     "(see aio-executor-when-full; default 1024)",
     opt_engine, NULL, 0},
    {"aio-executor-when-full", required_argument, 0,
     "when the executor queue is full: reject (503 / AIO_EFULL, the default) or wait",
     opt_engine, NULL, 0},
    {"aio-websocket-bytes", required_argument, 0,
     "deliver every websocket message as bytes (like aiopyramid's use_bytes; default false)",
     opt_engine, NULL, 0},
    {"aio-ignore-websocket-closed", required_argument, 0,
     "a websocket view ending because its socket closed ends quietly (default true)",
     opt_engine, NULL, 0},
    {"aio-tweens", required_argument, 0,
     "the tweens to run, outermost first, by name (default: every tween modules add, in order)",
     opt_engine, NULL, 0},
    {"aio-max-tasks", required_argument, 0,
     "tasks started with aio_spawn() that may run at once per worker; beyond that "
     "aio_spawn() returns AIO_EFULL (default 1024)",
     opt_engine, NULL, 0},
    {"aio-broadcast", required_argument, 0,
     "redis://HOST[:PORT][/DB][?channel=NAME]: aio_ws_broadcast() and aio_publish() reach the "
     "websockets of every worker and host subscribed to that Redis channel (default: this "
     "worker's only)",
     opt_engine, NULL, 0},
    {"aio-redis", required_argument, 0,
     "redis://HOST[:PORT][/DB]: the server of aio_redis(), for state shared between workers",
     opt_engine, NULL, 0},
    {"aio-redis-pool", required_argument, 0,
     "connections to the aio-redis server per worker, each carrying many commands at once "
     "(1-64, default 4)",
     opt_engine, NULL, 0},
    {"aio-redis-timeout", required_argument, 0,
     "milliseconds a Redis connect or reply may take before the connection is dropped and "
     "retried, and the longest aio_redis() waits (10-600000, default 2000)",
     opt_engine, NULL, 0},
    {"aio-websocket-worker-queue", required_argument, 0,
     "bytes all the worker's websockets may have queued for their peers together, with a k/m/g "
     "suffix (1m-64g, default 128m): past it the slowest readers are dropped with 1013",
     opt_engine, NULL, 0},
    {"aio-websocket-cores", required_argument, 0,
     "async cores websocket sessions of view functions may hold at once (default: three "
     "quarters of 'aio'); upgrades beyond get 503, so that plain requests always find a core",
     opt_engine, NULL, 0},
    {"aio-websocket-callbacks", required_argument, 0,
     "websocket sessions of callbacks views whose callbacks may run at once (default: 'aio'); "
     "idle ones hold no core, busy ones beyond wait their turn with their messages queued",
     opt_engine, NULL, 0},
    {"aio-request-timeout", required_argument, 0,
     "milliseconds a request may take (0-86400000, default 0: no limit): past it its waits "
     "return AIO_ETIMEDOUT and the client gets 504; a view's timeout_ms overrides it; "
     "'harakiri = N' sets it to N s",
     opt_engine, NULL, 0},
    {"aio-keepalive-timeout", required_argument, 0,
     "seconds a kept-alive connection of an http11-socket may stay idle between requests "
     "(0-86400; 0: one request per connection; default 15); idle, it holds no async core",
     opt_engine, NULL, 0},
    {"aio-keepalive-requests", required_argument, 0,
     "requests one kept-alive connection may carry before it is closed (1-1000000000, "
     "default 1000)",
     opt_engine, NULL, 0},
    {"aio-body-timeout", required_argument, 0,
     "seconds a whole request body may take to arrive, however it trickles (0-86400; 0: no "
     "limit but socket-timeout between reads; default 300): past it 408, or AIO_ETIMEDOUT "
     "from aio_body_read()",
     opt_engine, NULL, 0},
    {"aio-stall-ms", required_argument, 0,
     "milliseconds a coroutine may run without suspending before the worker logs which "
     "request or task held the loop, at most once a second (0-600000, 0: never; default 100)",
     opt_engine, NULL, 0},
    {"aio-slow-request-ms", required_argument, 0,
     "with the timing tween (aio-tweens = timing): log each request that took longer than "
     "this many milliseconds, with its route and status (0-86400000; default 0: none)",
     opt_engine, NULL, 0},
    {0, 0, 0, 0, 0, 0, 0},
};

/* ---- start-up (master, before fork) ------------------------------------ */

/* lazy-apps (or lazy): the view modules are opened in each worker, not in
 * the master. A worker respawned by a chain reload then runs the module
 * files as they are now; forked from a master that had opened them, it
 * would run the code the master loaded at start-up. */
static int lazy_modules(void)
{
    return uwsgi.lazy_apps || uwsgi.lazy;
}

static void check_sockets(void)
{
    for (struct uwsgi_socket *s = uwsgi.sockets; s; s = s->next) {
        const char *proto = s->proto_name ? s->proto_name : "uwsgi";
        if (strcmp(proto, "uwsgi") != 0 && strcmp(proto, "http") != 0 &&
            strcmp(proto, "http11") != 0) {
            char error[256];
            snprintf(error, sizeof(error),
                     "socket %s speaks '%s'; the aio loop engine serves 'socket' (uwsgi), "
                     "'http-socket' and 'http11-socket' (keep-alive) only",
                     s->name, proto);
            fatal(error);
        }
        if (aio__is_plain_http(s) && uwsgi.enable_proxy_protocol)
            fatal("'enable-proxy-protocol' is not supported on the aio loop engine's HTTP "
                  "sockets; put the proxy in front of a 'socket' (uwsgi protocol) instead");
    }
}

/* uWSGI's harakiri kills the whole worker once one request is over time:
 * with a thousand requests per worker that is a thousand lost for one, and
 * this engine never arms it (so it would be a silent no-op). It becomes the
 * requests' deadline instead, unless aio-request-timeout says otherwise. */
static void map_harakiri(void)
{
    int seconds = uwsgi.harakiri_options.workers;
    if (seconds <= 0)
        return;
    uwsgi.harakiri_options.workers = 0;
    if (aio__app.opts.request_timeout_ms) {
        uwsgi_log("aio: 'harakiri = %d' ignored: 'aio-request-timeout' sets the requests' "
                  "deadline\n", seconds);
        return;
    }
    aio__app.opts.request_timeout_ms = (long)seconds * 1000;
    uwsgi_log("aio: 'harakiri = %d' means here: a request still running after %d s gets 504 "
              "(aio-request-timeout = %d000); the worker and its other requests live on\n",
              seconds, seconds, seconds);
}

/* An HTTP head of buffer-size bytes becomes more than buffer-size bytes of
 * uWSGI variables (the target twice, HTTP_ before every name), and they
 * must be in uWSGI's own per-core buffer, where its stats server reads
 * them: buffer-size stays the limit of a head, and the buffers, allocated
 * after this, get room for its variables. */
static void size_request_buffers(void)
{
    aio__host.head_size = uwsgi.buffer_size;
    size_t vars = 2 * (size_t)uwsgi.buffer_size + 1024;
    uwsgi.buffer_size = vars > 0xffff ? 0xffff : (uint64_t)vars;
}

static int aio_plugin_init(void)
{
    if (!aio__host.selected) {
        if (aio__app.opts.nviews)
            fatal("'aio-views' needs the aio loop engine: add 'aio = N' (N async cores)");
        return 0;
    }
    if (strcmp(uwsgi.loop, "aio") != 0)
        fatal("'aio' and another loop engine are both configured");
    if (uwsgi.threads > 1)
        fatal("'threads' cannot be combined with 'aio': requests already run concurrently");
    check_sockets();
    map_harakiri();
    size_request_buffers();
    if (uwsgi.limit_post) /* bodies read whole are held to it, not to the default */
        aio__app.opts.body_max = uwsgi.limit_post;
    aio__options_defaults(&aio__app.opts);
    /* Opening the modules here (once, before fork) reports a missing file or
     * a broken module in one line; aio_main() itself runs in each worker.
     * With lazy-apps each worker opens them itself (construct_app()). */
    if (!lazy_modules())
        for (size_t i = 0; i < aio__app.opts.nviews; i++)
            if (aio__registry_open_module(&aio__app.registry, aio__app.opts.views[i]) != AIO_OK)
                fatal(aio__app.registry.error[0] ? aio__app.registry.error : "out of memory");
    if (!aio__app.opts.nviews)
        uwsgi_log("aio: no 'aio-views' configured: every request will get 404\n");
    aio__host.shared = uwsgi_malloc_shared(sizeof(*aio__host.shared));
    memset(aio__host.shared, 0, sizeof(*aio__host.shared));
    aio__metrics_register();
    return 0;
}

int aio__app_id = -1;
extern struct uwsgi_plugin aio_plugin;

/* One uWSGI app stands for the view modules, so that request log lines
 * and the stats server count them under it (app: 0), not "no app". In the
 * master, or in each worker with lazy-apps. */
static void aio_init_apps(void)
{
    if (!aio__host.selected || aio__app_id >= 0)
        return;
    aio__app_id = uwsgi_apps_cnt;
    uwsgi_add_app(aio__app_id, aio_plugin.modifier1, "", 0, NULL, NULL); /* as loaded: 0:aio */
    uwsgi_log("aio: %zu view module(s) serving as app %d\n", aio__app.opts.nviews, aio__app_id);
}

/* max-requests, reload-on-rss ...: uWSGI would exit() in the middle of a
 * request's coroutine; stop gracefully instead (only called from there). */
static void aio_goodbye(void)
{
    aio__log("worker %d (pid %d) is done, stopping gracefully", uwsgi.mywid, (int)getpid());
    aio__worker_request_stop(0);
}

static void aio_on_load(void)
{
    uwsgi_register_loop("aio", aio__loop_run);
    aio__log_set_sink(log_to_uwsgi);
    aio__app_init();
}

static void aio_post_fork(void)
{
    if (aio__host.selected)
        uwsgi.gbcw_hook = aio_goodbye;
}

/* ---- per-worker construction ---------------------------------------- */

void aio__worker_construct_app(void)
{
    struct aio_registry *reg = &aio__app.registry;
    int rc = AIO_OK;
    if (lazy_modules())
        for (size_t i = 0; i < aio__app.opts.nviews && rc == AIO_OK; i++)
            rc = aio__registry_open_module(reg, aio__app.opts.views[i]);
    if (rc == AIO_OK && aio__registry_construct(reg) == AIO_OK)
        return;
    const char *what = reg->error[0] ? reg->error : "out of memory";
    if (uwsgi.master_process && aio__host.shared->served) {
        /* A respawned worker (a chain reload, max-requests, a crash) while
         * the others serve: they serve on, and the master respawns this one
         * and tries again (uWSGI's own rule for a worker that failed to load
         * its app; need-app ends the instance instead). */
        uwsgi_log("aio: worker %d: configuration error: %s\n", uwsgi.mywid, what);
        exit(UWSGI_FAILED_APP_CODE);
    }
    /* Every worker fails the same way: only the first one says so. */
    if (__sync_bool_compare_and_swap(&aio__host.shared->startup_failed, 0, 1))
        uwsgi_log("aio: configuration error: %s\n", what);
    exit(uwsgi.master_process ? UWSGI_FAILED_APP_CODE : 1);
}

/* A worker found a configuration error: end the instance. The workers are
 * not signalled: they all run the same aio_main() and exit by themselves,
 * and a signal during their start-up could catch them inside dlopen() or
 * malloc(). One still alive after a few seconds is killed. */
static void aio_master_cycle(void)
{
    if (!aio__host.shared || !aio__host.shared->startup_failed ||
        uwsgi.status.dying_for_need_app)
        return;
    uwsgi.status.dying_for_need_app = 1;  /* exit with uWSGI's "failed app" status */
    uwsgi.status.brutally_destroying = 1; /* respawn no worker */
    for (int i = 1; i <= uwsgi.numproc; i++) {
        if (uwsgi.workers[i].pid > 0) {
            uwsgi.workers[i].cursed_at = uwsgi_now();
            uwsgi.workers[i].no_mercy_at = uwsgi.workers[i].cursed_at + 5;
        }
    }
    uwsgi_destroy_processes(); /* mules, spoolers, daemons */
}

AIO_API struct uwsgi_plugin aio_plugin = {
    .name = "aio",
    .modifier1 = 0,
    .options = aio_options,
    .on_load = aio_on_load,
    .init = aio_plugin_init,
    .init_apps = aio_init_apps,
    .post_fork = aio_post_fork,
    .request = aio__handle_request,
    .after_request = aio__after_request,
    .master_cycle = aio_master_cycle,
};
