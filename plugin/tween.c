/* tween.c - tweens (SPEC §9): functions wrapping every request, each
 * calling the next through aio_call_next(). They run in the request's
 * coroutine, so any of them may suspend without the others knowing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "registry.h"
#include "request.h"

struct aio_next {
    aio_tween_fn const *chain;
    size_t remaining;
    int (*handler)(aio_request *req); /* what the last tween calls */
};

int aio_call_next(aio_request *req, aio_next *next)
{
    if (!next)
        return AIO_EINVAL;
    if (!next->remaining)
        return next->handler(req);
    aio_next inner = {next->chain + 1, next->remaining - 1, next->handler};
    return next->chain[0](req, &inner);
}

int aio_run_tweens(aio_request *req, aio_tween_fn const *chain, size_t n,
                   int (*handler)(aio_request *req))
{
    aio_next first = {chain, n, handler};
    return aio_call_next(req, &first);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The built-in "timing" tween: how long the rest of the chain took, in an
 * X-Response-Time header (suspensions included). */
static int timing_tween(aio_request *req, aio_next *next)
{
    double start = now_ms();
    int rc = aio_call_next(req, next);
    char value[32];
    snprintf(value, sizeof(value), "%.3f ms", now_ms() - start);
    aio_add_header(req, "X-Response-Time", value);
    return rc;
}

aio_tween_fn aio_builtin_tween(const char *name)
{
    return name && strcmp(name, "timing") == 0 ? timing_tween : NULL;
}
