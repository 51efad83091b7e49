/* Stackful coroutines: resume/yield order, reuse after finishing, many at
 * once, deep stacks, floating point state, and the guard page that turns a
 * stack overflow into a fault instead of silent corruption. Built twice:
 * with the assembly switch and with -DAIO_CORO_UCONTEXT. */
#define _GNU_SOURCE
#include "unit/testing.h"

#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uwsgi-aio/aio_common.h>
#include "engine/coro.h"

struct trace {
    struct aio_coro *co;
    char log[64];
    int steps;
};

static void append(struct trace *t, char c)
{
    size_t n = strlen(t->log);
    t->log[n] = c;
    t->log[n + 1] = '\0';
}

static void stepper(void *arg)
{
    struct trace *t = arg;
    for (int i = 0; i < t->steps; i++) {
        append(t, (char)('a' + i));
        aio__coro_yield(t->co);
    }
    append(t, '!');
}

static void resume_and_yield(void **state)
{
    (void)state;
    struct aio_coro co;
    assert_int_equal(aio__coro_init(&co, 64 * 1024), AIO_OK);
    assert_true(aio__coro_finished(&co)); /* a new coroutine has nothing to run */
    struct trace t = {&co, "", 3};
    aio__coro_prepare(&co, stepper, &t);
    assert_false(aio__coro_finished(&co));
    for (int i = 0; i < 3; i++) {
        aio__coro_resume(&co);
        append(&t, '.');
    }
    assert_false(aio__coro_finished(&co));
    aio__coro_resume(&co);
    assert_true(aio__coro_finished(&co));
    assert_str(t.log, "a.b.c.!");
    /* a finished coroutine can be prepared again (cores are reused) */
    struct trace again = {&co, "", 1};
    aio__coro_prepare(&co, stepper, &again);
    aio__coro_resume(&co);
    aio__coro_resume(&co);
    assert_true(aio__coro_finished(&co));
    assert_str(again.log, "a!");
    aio__coro_destroy(&co);
}

static void interleaved(void **state)
{
    (void)state;
    enum { N = 200 };
    static struct aio_coro cos[N];
    static struct trace traces[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(aio__coro_init(&cos[i], 32 * 1024), AIO_OK);
        traces[i] = (struct trace){&cos[i], "", 1 + i % 5};
        aio__coro_prepare(&cos[i], stepper, &traces[i]);
    }
    int running = N;
    while (running) {
        running = 0;
        for (int i = 0; i < N; i++) {
            if (aio__coro_finished(&cos[i]))
                continue;
            aio__coro_resume(&cos[i]);
            running += !aio__coro_finished(&cos[i]);
        }
    }
    for (int i = 0; i < N; i++) {
        char expected[16] = "";
        for (int s = 0; s < 1 + i % 5; s++)
            expected[s] = (char)('a' + s);
        strcat(expected, "!");
        assert_str(traces[i].log, expected);
        aio__coro_destroy(&cos[i]);
    }
}

static int depth_sum(int n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    return n == 0 ? 0 : pad[0] + depth_sum(n - 1) - (char)n + n;
}

struct deep {
    struct aio_coro *co;
    int depth;
    int result;
};

static void deep_body(void *arg)
{
    struct deep *d = arg;
    d->result = depth_sum(d->depth);
}

static void deep_stack(void **state)
{
    (void)state;
    struct aio_coro co;
    assert_int_equal(aio__coro_init(&co, 256 * 1024), AIO_OK);
    struct deep d = {&co, 400, -1}; /* ~120 KiB of frames */
    aio__coro_prepare(&co, deep_body, &d);
    aio__coro_resume(&co);
    assert_true(aio__coro_finished(&co));
    assert_int_equal(d.result, 400 * 401 / 2);
    aio__coro_destroy(&co);
}

struct fp {
    struct aio_coro *co;
    double value;
    int rounding_seen;
};

static void fp_body(void *arg)
{
    struct fp *f = arg;
    f->value = 1.0;
    for (int i = 0; i < 3; i++) {
        f->value = f->value * 1.5 + 0.25;
        aio__coro_yield(f->co);
    }
    f->rounding_seen = fegetround();
}

static void float_state(void **state)
{
    (void)state;
    struct aio_coro co;
    assert_int_equal(aio__coro_init(&co, 64 * 1024), AIO_OK);
    struct fp f = {&co, 0, -1};
    aio__coro_prepare(&co, fp_body, &f);
    double mine = 2.0;
    for (int i = 0; i < 4; i++) {
        aio__coro_resume(&co);
        mine = mine * 3.0 - 1.0; /* live FP values on the caller's side */
    }
    assert_true(f.value == ((1.0 * 1.5 + 0.25) * 1.5 + 0.25) * 1.5 + 0.25);
    assert_true(mine == 122.0);
    assert_int_equal(f.rounding_seen, FE_TONEAREST); /* a coroutine starts with defaults */
    aio__coro_destroy(&co);
}

static void overflow_body(void *arg)
{
    (void)arg;
    depth_sum(1 << 20); /* far more than the stack holds */
}

/* Runs `overflow` in a child process: it must die of SIGSEGV (its exit
 * status otherwise says what went wrong instead). */
static void expect_segv(void (*overflow)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        overflow();
        _exit(0); /* not reached: the guard faults */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

static void overflow_in_small_steps(void)
{
    struct aio_coro co;
    if (aio__coro_init(&co, 64 * 1024) != AIO_OK)
        _exit(2);
    aio__coro_prepare(&co, overflow_body, NULL);
    aio__coro_resume(&co);
}

static void guard_page(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* ASan reports the overflow itself */
#endif
    expect_segv(overflow_in_small_steps);
}

/* One frame larger than the whole stack and its guard together: built with
 * -fstack-clash-protection, its pages are touched one after the other from
 * the top, so the guard faults before any byte below it is written. */
static size_t big_frame_size;

static void big_frame_body(void *arg)
{
    (void)arg;
    volatile char frame[big_frame_size];
    frame[0] = 1; /* the lowest byte: far below the guard without probing */
    frame[big_frame_size - 1] = frame[0];
}

static void overflow_in_one_frame(void)
{
    /* mmap hands out addresses downwards: `below` is the neighbour an
     * unprobed frame of `co` would write into */
    struct aio_coro co, below;
    int neighbours = 0;
    /* A pair may straddle a hole that the first of them filled exactly (the
     * libraries loaded leave some): the next pair lies lower. The pairs
     * that are not neighbours stay mapped until this child exits. */
    for (int tries = 0; tries < 16 && !neighbours; tries++) {
        if (aio__coro_init(&co, 64 * 1024) != AIO_OK ||
            aio__coro_init(&below, 64 * 1024) != AIO_OK)
            _exit(2);
        neighbours = (char *)below.map + below.map_size == (char *)co.map;
    }
    if (!neighbours)
        _exit(3); /* never neighbours: the test would prove nothing */
    big_frame_size = 64 * 1024 + AIO_CORO_GUARD_SIZE + 32 * 1024; /* ends mid-`below` */
    aio__coro_prepare(&co, big_frame_body, NULL);
    aio__coro_resume(&co); /* without probing it returns: the neighbour's stack took it */
}

static void big_frame_faults_at_the_guard(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* ASan reports the overflow itself */
#endif
    expect_segv(overflow_in_one_frame);
}

static void stack_rounding(void **state)
{
    (void)state;
    struct aio_coro co;
    assert_int_equal(aio__coro_init(&co, 20000), AIO_OK);
    long page = sysconf(_SC_PAGESIZE);
    assert_int_equal(co.stack_size % (size_t)page, 0);
    assert_true(co.stack_size >= 20000);
    /* the guard region below */
    assert_int_equal((char *)co.stack - (char *)co.map, AIO_CORO_GUARD_SIZE);
    aio__coro_destroy(&co);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_and_yield), cmocka_unit_test(interleaved),
        cmocka_unit_test(deep_stack),       cmocka_unit_test(float_state),
        cmocka_unit_test(guard_page),       cmocka_unit_test(big_frame_faults_at_the_guard),
        cmocka_unit_test(stack_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
