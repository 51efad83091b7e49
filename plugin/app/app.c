/* app.c - the framework's state and life (app.h), and what ties a task to
 * the request it serves. */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "engine/curl.h"

struct aio__app aio__app;

void aio__app_init(void)
{
    memset(&aio__app, 0, sizeof(aio__app));
    aio__registry_init(&aio__app.registry);
    aio__options_init(&aio__app.opts);
    aio__list_init(&aio__app.tasks);
    aio__list_init(&aio__app.starting);
    aio__list_init(&aio__app.spare_tasks);
    aio__list_init(&aio__app.websockets);
    aio__list_init(&aio__app.ws_turn_queue);
    aio__list_init(&aio__app.pg_pools);
}

void aio__app_open(void)
{
    aio__spawn_open();
    /* Redis being unreachable is not an error (it is retried); only a loop
     * that cannot make handles is, and then nothing else would work. */
    if (aio__broadcast_open() != AIO_OK || aio__redis_pool_open() != AIO_OK)
        aio__log("cannot start the Redis connections: out of memory or handles");
}

void aio__app_begin_stop(void)
{
    aio__tasks_cancel_all();
    aio__websockets_going_away();
    aio__broadcast_stop();
}

void aio__app_close(void)
{
    aio__broadcast_close();
    aio__redis_pool_close();
    aio__pg_pools_close();
    aio__curl_close();
    aio__spawn_close();
}

void aio__app_free(void)
{
    aio__redis_pool_free();
    aio__pg_pools_free();
    aio__registry_free(&aio__app.registry);
    for (size_t i = 0; i < aio__app.opts.nviews; i++)
        free(aio__app.opts.views[i]);
    free(aio__app.opts.views);
    aio__app.opts.views = NULL;
    aio__app.opts.nviews = 0;
}

const struct aio_engine_config *aio__app_engine_config(void)
{
    aio__app.opts.engine.on_stall = aio__app_report_stall;
    return &aio__app.opts.engine;
}

struct aio_request *aio__request_for_task(struct aio_task *task, uint64_t started_us)
{
    struct aio_request *req = aio__request_new();
    if (!req)
        return NULL;
    req->task = task;
    req->id = ++aio__app.request_ids;
    req->registry = &aio__app.registry;
    req->started_us = started_us;
    task->req = req;
    return req;
}

void aio__request_cancelled(struct aio_task *task, const char *why)
{
    const struct aio_request *req = task->req;
    if (!task->conn || !req || !req->method)
        return;
    aio__app.cancelled++;
    const char *query = req->query_string ? req->query_string : "";
    aio__log("%s %s%s%s: %s after %.3f s, request cancelled", req->method, req->path,
             *query ? "?" : "", query, why, (double)(aio__wall_us() - req->started_us) / 1e6);
}
