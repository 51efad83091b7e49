/* executor.c - the thread pool: blocking code runs here so that it never
 * stalls the loop.
 *
 * The loop submits jobs to a bounded queue (aio-executor-queue); a fixed
 * set of threads (aio-executor-threads, started on first use) runs them.
 * A finished job goes onto a "done" list and a uv_async wakes the loop,
 * which resumes the task that waits for it. Nothing but this queue is
 * shared between threads: a job's thread owns the job's data until the job
 * is done, and the waiting task does not touch it meanwhile. */
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "engine/engine.h"

#define EX (aio__engine.executor)

/* The task whose job this executor thread is running, for a crash report:
 * each thread's own, set only around the job's call. */
static _Thread_local struct aio_task *job_task;

struct aio_task *aio__executor_running_task(void)
{
    return job_task;
}

void aio__executor_counts(int *running, int *queued)
{
    pthread_mutex_lock(&EX.lock);
    *running = EX.running;
    *queued = EX.queued;
    pthread_mutex_unlock(&EX.lock);
}

static void *thread_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&EX.lock);
    for (;;) {
        while (!EX.stopping && aio__list_empty(&EX.queue))
            pthread_cond_wait(&EX.work, &EX.lock);
        struct aio_list *node = aio__list_first(&EX.queue);
        if (!node)
            break; /* stopping, and nothing left to do */
        aio__list_remove(node);
        EX.queued--;
        EX.running++;
        pthread_mutex_unlock(&EX.lock);

        struct aio_job *job = aio__list_entry(node, struct aio_job, node);
        job_task = job->task;
        job->result = job->fn(job->arg);
        job_task = NULL;

        pthread_mutex_lock(&EX.lock);
        EX.running--;
        aio__list_append(&EX.done, &job->node);
        pthread_mutex_unlock(&EX.lock);
        uv_async_send(&EX.notify);
        pthread_mutex_lock(&EX.lock);
    }
    pthread_mutex_unlock(&EX.lock);
    return NULL;
}

/* Resumes tasks waiting for room in the queue, as many as there is room. */
static void wake_room_waiters(void)
{
    pthread_mutex_lock(&EX.lock);
    long room = aio__engine.config.executor_queue - EX.queued;
    pthread_mutex_unlock(&EX.lock);
    struct aio_list *node;
    while (room-- > 0 && (node = aio__list_first(&EX.room_waiters)) != NULL) {
        aio__list_remove(node);
        aio__task_wake(aio__list_entry(node, struct aio_task, queue_node), AIO_OK);
    }
}

static void on_jobs_done(uv_async_t *async)
{
    (void)async;
    struct aio_list done;
    pthread_mutex_lock(&EX.lock);
    aio__list_take_all(&done, &EX.done);
    pthread_mutex_unlock(&EX.lock);
    struct aio_list *node;
    while ((node = aio__list_first(&done)) != NULL) {
        aio__list_remove(node);
        struct aio_job *job = aio__list_entry(node, struct aio_job, node);
        aio__engine.jobs++;
        aio__engine.live--;
        aio__task_wake(job->task, job->result); /* may free the job */
    }
    wake_room_waiters();
    aio__engine_check_stop();
}

static int start_threads(void)
{
    int n = (int)aio__engine.config.executor_threads;
    EX.threads = calloc((size_t)n, sizeof(*EX.threads));
    if (!EX.threads || uv_async_init(&aio__engine.loop, &EX.notify, on_jobs_done) != 0) {
        free(EX.threads);
        EX.threads = NULL;
        return AIO_ERROR;
    }
    /* Signals are for the loop thread (uWSGI's handlers): block them in
     * the threads, which inherit the mask they are created with. Not the
     * faults a job itself causes: blocked, they would kill the worker
     * without a word from its crash handler. */
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&EX.threads[i], NULL, thread_main, NULL);
        if (rc) {
            aio__log("cannot start executor thread %d of %d: %s", i + 1, n, strerror(rc));
            break;
        }
        EX.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return EX.nthreads ? AIO_OK : AIO_ERROR;
}

static int submit(struct aio_job *job)
{
    if (!EX.threads && start_threads() != AIO_OK)
        return AIO_ERROR;
    pthread_mutex_lock(&EX.lock);
    if (EX.queued >= aio__engine.config.executor_queue) {
        pthread_mutex_unlock(&EX.lock);
        return AIO_EFULL;
    }
    aio__list_append(&EX.queue, &job->node);
    EX.queued++;
    pthread_cond_signal(&EX.work);
    pthread_mutex_unlock(&EX.lock);
    aio__engine.live++;
    return AIO_OK;
}

/* Suspends until the queue has room (aio-executor-when-full = wait). */
static int wait_for_room(struct aio_task *task)
{
    aio__list_append(&EX.room_waiters, &task->queue_node);
    struct aio_wait wait = {.fd = -1, .timeout_ms = -1, .executor_room = 1};
    int rc = aio__task_wait(task, &wait);
    aio__list_remove(&task->queue_node); /* cancelled: still in the list */
    return rc;
}

int aio__executor_call(struct aio_task *task, int (*fn)(void *), void *arg, int *result)
{
    struct aio_job job = {.fn = fn, .arg = arg, .task = task};
    aio__list_init(&job.node);
    for (;;) {
        if (task->cancelled)
            return AIO_ECANCELLED;
        int rc = submit(&job);
        if (rc == AIO_OK)
            break;
        if (rc != AIO_EFULL || aio__engine.config.when_full == AIO_FULL_REJECT)
            return rc;
        if ((rc = wait_for_room(task)) != AIO_OK)
            return rc;
    }
    struct aio_wait wait = {.fd = -1, .timeout_ms = -1, .job = &job};
    *result = aio__task_wait(task, &wait); /* only the job's end resumes us */
    return AIO_OK;
}

void aio__executor_init(void)
{
    memset(&EX, 0, sizeof(EX)); /* the test harness starts engines again and again */
    pthread_mutex_init(&EX.lock, NULL);
    pthread_cond_init(&EX.work, NULL);
    aio__list_init(&EX.queue);
    aio__list_init(&EX.done);
    aio__list_init(&EX.room_waiters);
}

void aio__executor_stop(void)
{
    if (!EX.threads)
        return;
    pthread_mutex_lock(&EX.lock);
    EX.stopping = 1;
    pthread_cond_broadcast(&EX.work);
    pthread_mutex_unlock(&EX.lock);
    for (int i = 0; i < EX.nthreads; i++)
        pthread_join(EX.threads[i], NULL);
    uv_close((uv_handle_t *)&EX.notify, NULL);
    free(EX.threads);
    EX.threads = NULL;
    EX.nthreads = 0;
}
