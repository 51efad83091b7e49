/* crash.c - the last line of a worker that crashes. A view that faults
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL) or aborts takes every request of its
 * worker down with it; uWSGI logs a signal and a backtrace, but not which
 * of the thousand requests in flight did it. This handler writes one line
 * naming the request (or task) whose code was running, and whether the
 * fault was its coroutine's stack overflowing into the guard region, then
 * hands the signal on to what was there before (uWSGI's handler, or the
 * default action): the worker dies as before and the master respawns it.
 *
 * It runs on an alternate signal stack, since a stack overflow leaves no
 * room on the faulting one, and uses only write(2) and plain memory reads:
 * no stdio, no malloc. */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uwsgi.h>

#include "app/registry.h"
#include "app/request.h"
#include "engine/engine.h"
#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

/* Room for the handler, uWSGI's backtrace after it, and a sanitizer's
 * report under test builds. */
#define ALT_STACK_SIZE (256u * 1024u)

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NSIGNALS (sizeof(crash_signals) / sizeof(crash_signals[0]))

/* ---- an async-signal-safe line ------------------------------------------- */

struct line {
    char text[768];
    size_t len;
};

static void put(struct line *l, const char *s, size_t max)
{
    for (size_t i = 0; s && s[i] && i < max && l->len < sizeof(l->text) - 1; i++)
        l->text[l->len++] = s[i];
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, sizeof(l->text));
}

static void put_uint(struct line *l, uint64_t n, unsigned base)
{
    char digits[24];
    size_t i = sizeof(digits);
    digits[--i] = '\0';
    do {
        digits[--i] = "0123456789abcdef"[n % base];
        n /= base;
    } while (n && i);
    put_str(l, digits + i);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "a signal";
    }
}

/* ---- what was running ------------------------------------------------------ */

static int in_guard_region(const struct aio_task *task, const void *addr)
{
    const char *a = addr, *map = task->coro.map, *stack = task->coro.stack;
    return map && a >= map && a < stack;
}

static void put_running(struct line *l, const struct aio_task *task, int in_executor)
{
    if (!task) {
        put_str(l, in_executor ? " in an executor thread, outside any job"
                               : " outside any request (the loop itself)");
        return;
    }
    if (in_executor)
        put_str(l, " in an executor thread");
    const struct aio_request *req = task->req;
    if (task->fn) {
        put_str(l, " while running task '");
        put(l, task->name, sizeof(task->name));
        put_str(l, "'");
    } else if (req && req->method) {
        put_str(l, " while running ");
        put(l, req->method, 16);
        put_str(l, " ");
        put(l, req->path, 256);
        if (req->route) {
            put_str(l, " (route '");
            put(l, req->route->name, 128);
            put_str(l, "')");
        }
    } else {
        put_str(l, " while reading a request head");
    }
}

/* ---- the handler ------------------------------------------------------------- */

static struct sigaction previous[NSIGNALS];

static size_t signal_index(int sig)
{
    for (size_t i = 0; i < NSIGNALS; i++)
        if (crash_signals[i] == sig)
            return i;
    return 0;
}

static void on_crash(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int on_loop = aio__on_loop_thread();
    const struct aio_task *task = on_loop ? aio__engine.current : aio__executor_running_task();
    struct line l = {.len = 0};
    put_str(&l, "aio: worker ");
    put_uint(&l, (uint64_t)uwsgi.mywid, 10);
    put_str(&l, " (pid ");
    put_uint(&l, (uint64_t)getpid(), 10);
    put_str(&l, ") got ");
    put_str(&l, signal_name(sig));
    if (on_loop && task && (sig == SIGSEGV || sig == SIGBUS) &&
        in_guard_region(task, info->si_addr)) {
        put_str(&l, ": its coroutine overflowed its stack (aio-stack-size = ");
        put_uint(&l, (uint64_t)task->coro.stack_size / 1024, 10);
        put_str(&l, "k)");
    } else if (sig == SIGSEGV || sig == SIGBUS) {
        put_str(&l, " at 0x");
        put_uint(&l, (uint64_t)(uintptr_t)info->si_addr, 16);
    }
    put_running(&l, task, !on_loop);
    put_str(&l, "; the worker dies and the master respawns it\n");
    ssize_t ignored = write(STDERR_FILENO, l.text, l.len);
    (void)ignored; /* nothing left to tell it to */
    /* Hand over: a fault happens again on return, now to the previous
     * handler; a signal that was sent (abort(), kill) is sent again. */
    sigaction(sig, &previous[signal_index(sig)], NULL);
    if (info->si_code <= 0)
        raise(sig);
}

int aio__crash_reports_install(void)
{
    void *stack = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (stack == MAP_FAILED)
        return AIO_ENOMEM;
    stack_t alt = {.ss_sp = stack, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&alt, NULL) != 0) {
        munmap(stack, ALT_STACK_SIZE);
        return AIO_ERROR;
    }
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_crash;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++)
        if (sigaction(crash_signals[i], &action, &previous[i]) != 0)
            return AIO_ERROR;
    return AIO_OK;
}
