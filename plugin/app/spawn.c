/* spawn.c - tasks started with aio_spawn(): coroutines on the
 * loop that belong to no request (aiopyramid's spawn_greenlet). Each has
 * its own stack and an aio_request without HTTP behind it as its context,
 * so the usual suspension API works in it. Finished tasks are kept for
 * reuse, so spawning does not map a new stack every time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static void spawned_task_finished(struct aio_task *task);

static const struct aio_task_ops spawned_task_ops = {.finished = spawned_task_finished};

static void task_main(void *arg)
{
    struct aio_task *task = arg;
    task->result = task->fn(task->req, task->arg);
}

static struct aio_task *task_new(void)
{
    struct aio_list *spare = aio__list_first(&aio__app.spare_tasks);
    if (spare) {
        aio__list_remove(spare);
        return aio__list_entry(spare, struct aio_task, node);
    }
    struct aio_task *task = calloc(1, sizeof(*task));
    if (!task)
        return NULL;
    if (aio__coro_init(&task->coro, aio__app.opts.engine.stack_size) != AIO_OK) {
        free(task);
        return NULL;
    }
    aio__task_init(task);
    task->ops = &spawned_task_ops;
    return task;
}

/* Back to the spare list; its stack and timer are kept for the next one. */
static void task_recycle(struct aio_task *task)
{
    task->fn = NULL;
    task->arg = NULL;
    task->joiner = NULL;
    task->cancelled = 0;
    task->finished = 0;
    aio__list_append(&aio__app.spare_tasks, &task->node);
}

static void on_start_tasks(uv_timer_t *timer)
{
    (void)timer;
    struct aio_list *node;
    while ((node = aio__list_first(&aio__app.starting)) != NULL) {
        aio__list_remove(node);
        aio__task_run(aio__list_entry(node, struct aio_task, queue_node));
    }
}

void aio__tasks_start_pending(void)
{
    if (!aio__list_empty(&aio__app.starting))
        uv_timer_start(&aio__app.start_tasks, on_start_tasks, 0, 0);
}

/* Starts `task` (its req set) soon, from the loop's top level. */
static void task_start(struct aio_task *task, const char *name, aio_task_fn fn, void *arg,
                       int detached)
{
    snprintf(task->name, sizeof(task->name), "%s", name ? name : "task");
    task->fn = fn;
    task->arg = arg;
    task->result = 0;
    task->detached = detached;
    aio__list_append(&aio__app.tasks, &task->node);
    if (!task->borrowed_req) { /* aio_spawn()'s: counted against aio-max-tasks */
        aio__app.ntasks++;
        aio__app.spawned++;
    }
    aio__engine_live(+1);
    aio__coro_prepare(&task->coro, task_main, task);
    /* Started from the loop's top level, never from inside the caller's
     * coroutine (and, from aio_main, once the loop runs). */
    aio__list_append(&aio__app.starting, &task->queue_node);
    if (aio__engine.running)
        aio__tasks_start_pending();
}

int aio_spawn(const char *name, aio_task_fn fn, void *arg, aio_task **handle)
{
    if (handle)
        *handle = NULL;
    if (!fn)
        return AIO_EINVAL;
    if (!aio__on_loop_thread())
        return AIO_ESCOPE;
    if (aio__engine.stopping)
        return AIO_ECANCELLED;
    if (aio__app.ntasks >= aio__app.opts.max_tasks)
        return AIO_EFULL;
    struct aio_task *task = task_new();
    struct aio_request *ctx = task ? aio__request_for_task(task, aio__wall_us()) : NULL;
    if (!ctx) {
        if (task)
            task_recycle(task);
        return AIO_ENOMEM;
    }
    ctx->method = "";
    ctx->path = "";
    task_start(task, name, fn, arg, handle == NULL);
    if (handle)
        *handle = task;
    return AIO_OK;
}

struct aio_task *aio__spawn_for(struct aio_request *req, const char *name, aio_task_fn fn,
                                void *arg)
{
    struct aio_task *task = task_new();
    if (!task)
        return NULL;
    task->req = req;
    task->borrowed_req = 1;
    req->task = task;
    task_start(task, name, fn, arg, 1);
    return task;
}

/* Its coroutine ended: report, wake its joiner, recycle. */
static void spawned_task_finished(struct aio_task *task)
{
    aio__list_remove(&task->node);
    if (!task->borrowed_req)
        aio__app.ntasks--;
    task->finished = 1;
    if (task->result < 0 && !(task->cancelled && task->result == AIO_ECANCELLED))
        aio__log("task '%s' failed: %s", task->name,
                task->req->failure ? task->req->failure : aio_strerror(task->result));
    if (task->borrowed_req)
        task->req->task = NULL; /* the request outlives the task */
    else
        aio__request_free(task->req);
    task->req = NULL;
    task->borrowed_req = 0;
    struct aio_task *joiner = task->joiner;
    if (task->detached)
        task_recycle(task);
    else if (joiner)
        aio__task_wake(joiner, AIO_OK); /* aio_join() recycles the task */
    aio__engine_live(-1);
}

int aio_join(aio_request *req, aio_task *task, int *result)
{
    struct aio_task *self = aio__running_task();
    if (!self || !req || req->task != self)
        return AIO_ESCOPE;
    if (!task || task->ops != &spawned_task_ops || task->detached || task->joiner || task == self)
        return AIO_EINVAL;
    if (!task->finished) {
        task->joiner = self;
        struct aio_wait wait = {.fd = -1, .timeout_ms = -1, .joined = task};
        int rc = aio__task_wait(self, &wait);
        if (!task->finished) { /* we were cancelled: the task goes on alone */
            task->joiner = NULL;
            task->detached = 1;
            return rc == AIO_OK ? AIO_ECANCELLED : rc;
        }
    }
    if (result)
        *result = task->result;
    task_recycle(task);
    return AIO_OK;
}

static struct aio_task *first_uncancelled(void)
{
    for (struct aio_list *n = aio__list_first(&aio__app.tasks); n;
         n = aio__list_next(&aio__app.tasks, n)) {
        struct aio_task *task = aio__list_entry(n, struct aio_task, node);
        if (!task->cancelled)
            return task;
    }
    return NULL;
}

/* Rescans after each cancellation: a woken task may end, and its ending
 * may wake and end others, which changes the list under our feet. */
void aio__tasks_cancel_all(void)
{
    struct aio_task *task;
    while ((task = first_uncancelled()) != NULL) {
        if (task->state == AIO_TASK_IDLE) /* not started yet: starts cancelled */
            task->cancelled = 1;
        else
            aio__task_cancel(task, "worker stopping");
    }
}

static void free_task(uv_handle_t *timer)
{
    struct aio_task *task = timer->data;
    aio__coro_destroy(&task->coro);
    free(task);
}

void aio__spawn_open(void)
{
    uv_timer_init(&aio__engine.loop, &aio__app.start_tasks);
}

/* Frees the spare tasks (a task still running keeps its own) and closes
 * the start queue. */
void aio__spawn_close(void)
{
    struct aio_list *node;
    while ((node = aio__list_first(&aio__app.spare_tasks)) != NULL) {
        aio__list_remove(node);
        struct aio_task *task = aio__list_entry(node, struct aio_task, node);
        uv_close((uv_handle_t *)&task->timer, free_task);
    }
    uv_close((uv_handle_t *)&aio__app.start_tasks, NULL);
}
