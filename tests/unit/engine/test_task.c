/* Parked tasks: only a wake resumes one (with the waker's result), its
 * timeout is AIO_ETIMEDOUT, and a task woken "soon" from a timer's
 * callback resumes at once, not when the loop next has an event. */
#include "unit/testing.h"

#include <stdlib.h>

#include "engine/engine.h"

struct parked {
    struct aio_task task;
    int timeout_ms;
    int result;
    uint64_t resumed_ms;
    int finished;
};

static void finished(struct aio_task *task)
{
    ((struct parked *)task)->finished = 1;
}

static const struct aio_task_ops ops = {.finished = finished};

static void park_body(void *arg)
{
    struct parked *p = arg;
    p->result = aio__task_park(&p->task, p->timeout_ms);
    uv_update_time(&aio__engine.loop);
    p->resumed_ms = aio__loop_ms();
}

static void start(struct parked *p, int timeout_ms)
{
    memset(p, 0, sizeof(*p));
    p->timeout_ms = timeout_ms;
    assert_int_equal(aio__coro_init(&p->task.coro, 64 * 1024), AIO_OK);
    aio__task_init(&p->task);
    p->task.ops = &ops;
    aio__coro_prepare(&p->task.coro, park_body, p);
    aio__task_run(&p->task);
    assert_int_equal(p->task.state, AIO_TASK_WAITING);
}

static void stop(struct parked *p)
{
    uv_close((uv_handle_t *)&p->task.timer, NULL);
    uv_run(&aio__engine.loop, UV_RUN_NOWAIT);
    aio__coro_destroy(&p->task.coro);
}

static int setup(void **state)
{
    (void)state;
    return aio__engine_open() == AIO_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    aio__engine_close();
    return 0;
}

static void a_timeout_is_etimedout(void **state)
{
    (void)state;
    struct parked p;
    start(&p, 20);
    uv_run(&aio__engine.loop, UV_RUN_DEFAULT);
    assert_true(p.finished);
    assert_int_equal(p.result, AIO_ETIMEDOUT);
    stop(&p);
}

static void wake_from_timer(uv_timer_t *timer)
{
    aio__task_wake_soon(timer->data, 7);
}

static void nothing(uv_timer_t *timer)
{
    (void)timer;
}

/* A timer wakes the task soon; another timer, 2 s away, is all the loop
 * has left to wait for: the task must not wait for it. */
static void woken_soon_from_a_timer_resumes_at_once(void **state)
{
    (void)state;
    struct parked p;
    start(&p, -1);
    uv_timer_t waker, far;
    uv_timer_init(&aio__engine.loop, &waker);
    uv_timer_init(&aio__engine.loop, &far);
    waker.data = &p.task;
    uv_update_time(&aio__engine.loop);
    uint64_t began = aio__loop_ms();
    uv_timer_start(&waker, wake_from_timer, 10, 0);
    uv_timer_start(&far, nothing, 2000, 0);
    while (!p.finished && uv_run(&aio__engine.loop, UV_RUN_ONCE))
        ;
    assert_true(p.finished);
    assert_int_equal(p.result, 7);
    assert_true(p.resumed_ms - began < 500);
    uv_close((uv_handle_t *)&waker, NULL);
    uv_close((uv_handle_t *)&far, NULL);
    stop(&p);
}

static void cancelling_resumes_a_parked_task(void **state)
{
    (void)state;
    struct parked p;
    start(&p, -1);
    aio__task_cancel(&p.task, NULL);
    assert_true(p.finished);
    assert_int_equal(p.result, AIO_ECANCELLED);
    stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_timeout_is_etimedout, setup, teardown),
        cmocka_unit_test_setup_teardown(woken_soon_from_a_timer_resumes_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelling_resumes_a_parked_task, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
