/* mapper.c - how a view runs.
 *
 *   coroutine (AIO_COROUTINE): the view runs right here, in the request's
 *     coroutine on the loop; it may suspend anywhere and the loop serves
 *     other requests meanwhile.
 *   executor (AIO_EXECUTOR, and the default for views not declared
 *     coroutines): the whole view runs in an executor thread while the
 *     request's coroutine is suspended. The view reads the request and
 *     builds the response through the same API; the loop sends the buffered
 *     response once the view has returned, so the thread never touches the
 *     loop.
 */
#include "app/app.h"

/* An executor view cannot suspend: work out who is asking beforehand, on
 * the loop, so the thread reads the cached answers. */
static void prime_identity(struct aio_request *req)
{
    if (!req->registry->authn.unauthenticated_userid)
        return;
    aio_unauthenticated_userid(req);
    aio_authenticated_userid(req);
    aio_effective_principals(req, NULL);
}

static int run_view_in_thread(void *arg)
{
    struct aio_request *req = arg;
    return req->view->fn(req);
}

int aio__mapper_run(struct aio_request *req, const struct aio_view *view)
{
    if (view->flags & AIO_COROUTINE)
        return view->fn(req);
    prime_identity(req);
    int result = AIO_ERROR;
    int rc = aio__executor_call(req->task, run_view_in_thread, req, &result);
    if (rc == AIO_EFULL)
        req->unavailable = 1;
    return rc == AIO_OK ? result : rc;
}
