/* mapper.c - how a view runs (SPEC §5). The coroutine mapper calls the view
 * right here, in the request's coroutine on the loop: the view may suspend
 * anywhere (aio_sleep, aio_wait_fd, uWSGI's own reads and writes) and the
 * loop serves other requests meanwhile. */
#include "internal.h"

int aio_mapper_run(struct aio_request *req, const struct aio_view *view)
{
    return view->fn(req);
}
