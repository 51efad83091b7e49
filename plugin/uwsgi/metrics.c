/* metrics.c - the engine's counters in uWSGI's metrics subsystem
 * (`enable-metrics`: the stats server's "metrics", metrics-dir, carbon,
 * SNMP ...), every name under "aio.".
 *
 * uWSGI collects metrics in the master, from memory it can read: each
 * worker copies its counters into its own slot of an array shared with the
 * master, once a tick, and the master's collector reads them there ("ptr")
 * and adds the workers' up ("sum"). Registered in the plugin's init, before
 * uWSGI lays out the metrics' values. */
#include <string.h>

#include <uwsgi.h>

#include "app/app.h"
#include "engine/engine.h"
#include "engine/curl.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

enum metric {
    M_REQUESTS_1XX,
    M_REQUESTS_2XX,
    M_REQUESTS_3XX,
    M_REQUESTS_4XX,
    M_REQUESTS_5XX,
    M_CORES_BUSY,
    M_CONNECTIONS_PARKED,
    M_WEBSOCKETS,
    M_WEBSOCKETS_DETACHED,
    M_WEBSOCKET_BYTES_QUEUED,
    M_EXECUTOR_BUSY,
    M_EXECUTOR_QUEUED,
    M_TASKS,
    M_STALLS,
    M_PG_CONNECTIONS,
    M_PG_WAITING,
    M_HTTP_TRANSFERS,
    M_COUNT
};

static const struct {
    const char *name;
    int counter; /* 1: only grows; 0: a gauge */
} metrics[M_COUNT] = {
    [M_REQUESTS_1XX] = {"requests_1xx", 1},
    [M_REQUESTS_2XX] = {"requests_2xx", 1},
    [M_REQUESTS_3XX] = {"requests_3xx", 1},
    [M_REQUESTS_4XX] = {"requests_4xx", 1},
    [M_REQUESTS_5XX] = {"requests_5xx", 1},
    [M_CORES_BUSY] = {"cores_busy", 0},
    [M_CONNECTIONS_PARKED] = {"connections_parked", 0},
    [M_WEBSOCKETS] = {"websockets", 0},
    [M_WEBSOCKETS_DETACHED] = {"websockets_detached", 0},
    [M_WEBSOCKET_BYTES_QUEUED] = {"websocket_bytes_queued", 0},
    [M_EXECUTOR_BUSY] = {"executor_busy", 0},
    [M_EXECUTOR_QUEUED] = {"executor_queued", 0},
    [M_TASKS] = {"tasks", 0},
    [M_STALLS] = {"stalls", 1},
    [M_PG_CONNECTIONS] = {"pg_connections", 0},
    [M_PG_WAITING] = {"pg_waiting", 0},
    [M_HTTP_TRANSFERS] = {"http_transfers", 0},
};

/* [worker - 1][metric], in memory shared with the master; NULL without
 * enable-metrics. */
static int64_t (*slots)[M_COUNT];

void aio__metrics_register(void)
{
    if (!uwsgi.has_metrics || uwsgi.numproc < 1)
        return;
    slots = uwsgi_calloc_shared(sizeof(*slots) * (size_t)uwsgi.numproc);
    char name[128];
    for (int m = 0; m < M_COUNT; m++) {
        uint8_t type = metrics[m].counter ? UWSGI_METRIC_COUNTER : UWSGI_METRIC_GAUGE;
        struct uwsgi_metric *per_worker[uwsgi.numproc];
        for (int w = 0; w < uwsgi.numproc; w++) {
            snprintf(name, sizeof(name), "aio.worker.%d.%s", w + 1, metrics[m].name);
            per_worker[w] = uwsgi_register_metric(name, NULL, type, "ptr", &slots[w][m], 0, NULL);
        }
        /* after its children: uWSGI collects in the order of registration */
        snprintf(name, sizeof(name), "aio.%s", metrics[m].name);
        struct uwsgi_metric *total = uwsgi_register_metric(name, NULL, type, "sum", NULL, 0, NULL);
        for (int w = 0; w < uwsgi.numproc && total; w++)
            if (per_worker[w])
                uwsgi_metric_add_child(total, per_worker[w]);
    }
}

void aio__metrics_count_response(int status)
{
    if (status >= 100 && status < 600)
        aio__host.stats.responses[status / 100 - 1]++;
}

static void set(int64_t *slot, int64_t value)
{
    __atomic_store_n(slot, value, __ATOMIC_RELAXED); /* the master reads it meanwhile */
}

void aio__metrics_publish(void)
{
    if (!slots || uwsgi.mywid < 1 || uwsgi.mywid > uwsgi.numproc)
        return;
    int64_t *slot = slots[uwsgi.mywid - 1];
    for (int c = 0; c < 5; c++)
        set(&slot[M_REQUESTS_1XX + c], (int64_t)aio__host.stats.responses[c]);
    set(&slot[M_CORES_BUSY], aio__cores_busy());
    set(&slot[M_CONNECTIONS_PARKED], aio__host.npending);
    set(&slot[M_WEBSOCKETS], aio__app.nwebsockets);
    set(&slot[M_WEBSOCKETS_DETACHED], aio__app.ws_detached);
    set(&slot[M_WEBSOCKET_BYTES_QUEUED], (int64_t)aio__engine.ws_unwritten);
    int running, queued;
    aio__executor_counts(&running, &queued);
    set(&slot[M_EXECUTOR_BUSY], running);
    set(&slot[M_EXECUTOR_QUEUED], queued);
    set(&slot[M_TASKS], aio__app.ntasks);
    set(&slot[M_STALLS], (int64_t)aio__engine.stalls);
    int64_t pg_open, pg_waiting;
    aio__pg_pools_counts(&pg_open, &pg_waiting);
    set(&slot[M_PG_CONNECTIONS], pg_open);
    set(&slot[M_PG_WAITING], pg_waiting);
    set(&slot[M_HTTP_TRANSFERS], aio__curl_running());
}
