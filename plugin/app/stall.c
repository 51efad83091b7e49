/* stall.c - naming what held the loop. The engine measures every task run
 * (aio-stall-ms); a run that did not suspend for that long made every
 * other request of the worker wait, like a slow callback in asyncio's
 * debug mode. This says which request or task it was, at most once a
 * second so that a view that always blocks cannot flood the log. */
#include <inttypes.h>

#include "app/app.h"
#include "app/registry.h"

#define STALL_LOG_INTERVAL_NS 1000000000u

/* " (and N more since the last report)", or "" */
static void more_since(char *out, size_t size, uint64_t more)
{
    if (more)
        snprintf(out, size, " (and %" PRIu64 " more since the last report)", more);
    else
        out[0] = '\0';
}

void aio__app_report_stall(struct aio_task *task, uint64_t held_ns)
{
    uint64_t now = aio__monotonic_ns();
    if (aio__app.stall.reported_ns && now - aio__app.stall.reported_ns < STALL_LOG_INTERVAL_NS) {
        aio__app.stall.unreported++;
        return;
    }
    char more[64];
    more_since(more, sizeof(more), aio__app.stall.unreported);
    aio__app.stall.reported_ns = now;
    aio__app.stall.unreported = 0;
    unsigned long long ms = (unsigned long long)(held_ns / 1000000u);
    const struct aio_request *req = task->req;
    if (task->fn) {
        aio__log("stall: task '%s' held the loop for %llu ms without suspending; every "
                 "other request of this worker waited (aio-stall-ms = %ld)%s",
                 task->name, ms, aio__app.opts.engine.stall_ms, more);
    } else if (req && req->method) {
        aio__log("stall: %s %s (route '%s') held the loop for %llu ms without suspending; "
                 "every other request of this worker waited (aio-stall-ms = %ld)%s",
                 req->method, req->path, aio__route_label(req), ms,
                 aio__app.opts.engine.stall_ms, more);
    } else {
        aio__log("stall: a request held the loop for %llu ms before its head was read "
                 "(aio-stall-ms = %ld)%s", ms, aio__app.opts.engine.stall_ms, more);
    }
}
