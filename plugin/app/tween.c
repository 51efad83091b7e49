/* tween.c - tweens: functions wrapping every request, each
 * calling the next through aio_call_next(). They run in the request's
 * coroutine, so any of them may suspend without the others knowing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/registry.h"
#include "app/request.h"
#include "base/array.h"
#include "engine/engine.h"

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

int aio__run_tweens(aio_request *req, aio_tween_fn const *chain, size_t n,
                   int (*handler)(aio_request *req))
{
    aio_next first = {chain, n, handler};
    return aio_call_next(req, &first);
}

static double now_ms(void)
{
    return (double)aio__monotonic_ns() / 1e6;
}

/* The built-in "timing" tween: how long the rest of the chain took, in an
 * X-Response-Time header (suspensions included), and a log line for a
 * request slower than aio-slow-request-ms. */
static int timing_tween(aio_request *req, aio_next *next)
{
    double start = now_ms();
    int rc = aio_call_next(req, next);
    double took = now_ms() - start;
    char value[32];
    snprintf(value, sizeof(value), "%.3f ms", took);
    aio_add_header(req, "X-Response-Time", value);
    long slow = aio__app.opts.slow_request_ms;
    if (slow > 0 && took > (double)slow)
        aio_log(req, "slow request: %.1f ms (aio-slow-request-ms = %ld), answered %d", took, slow,
                aio_response_status(req));
    return rc;
}

aio_tween_fn aio__builtin_tween(const char *name)
{
    return name && strcmp(name, "timing") == 0 ? timing_tween : NULL;
}

/* ---- the chain, from what modules added and aio-tweens says ---------------- */

int aio_add_tween(aio_config *cfg, const char *name, aio_tween_fn fn)
{
    struct aio_registry *reg = cfg->registry;
    if (!name || !*name || !fn)
        return aio__registry_error(reg, "view module '%s': a tween needs a name and a function",
                         cfg->module->path);
    for (size_t i = 0; i < reg->ntweens; i++)
        if (strcmp(reg->tweens[i].name, name) == 0)
            return aio__registry_error(reg, "view module '%s': duplicate tween name '%s'",
                             cfg->module->path, name);
    char *copy = strdup(name);
    if (!copy || aio__array_grow((void **)&reg->tweens, reg->ntweens, sizeof(*reg->tweens))) {
        free(copy);
        return AIO_ENOMEM;
    }
    reg->tweens[reg->ntweens++] = (struct aio_tween){copy, fn};
    return AIO_OK;
}

int aio__registry_set_tween_order(struct aio_registry *reg, const char *names)
{
    const char *p = names;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ", \t");
        if (!len)
            break;
        char *name = strndup(p, len);
        if (!name || aio__array_grow((void **)&reg->tween_order, reg->ntween_order,
                          sizeof(*reg->tween_order))) {
            free(name);
            return AIO_ENOMEM;
        }
        reg->tween_order[reg->ntween_order++] = name;
        p += len;
    }
    return AIO_OK;
}

/* The tween chain: aio-tweens' names in order, or every module tween. */
int aio__tween_chain_build(struct aio_registry *reg)
{
    size_t n = reg->ntween_order ? reg->ntween_order : reg->ntweens;
    reg->chain = calloc(n ? n : 1, sizeof(*reg->chain));
    if (!reg->chain)
        return AIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!reg->ntween_order) {
            reg->chain[i] = reg->tweens[i].fn;
            continue;
        }
        const char *name = reg->tween_order[i];
        aio_tween_fn fn = aio__builtin_tween(name);
        for (size_t k = 0; k < reg->ntweens && !fn; k++)
            if (strcmp(reg->tweens[k].name, name) == 0)
                fn = reg->tweens[k].fn;
        if (!fn)
            return aio__registry_error(reg, "option 'aio-tweens' names '%s', which is no built-in tween "
                                  "and which no view module adds",
                             name);
        reg->chain[i] = fn;
    }
    reg->nchain = n;
    return AIO_OK;
}
