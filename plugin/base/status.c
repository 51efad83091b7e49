/* status.c - the text of each status code (<uwsgi-aio/aio_common.h>). */
#include <uwsgi-aio/aio_common.h>

const char *aio_strerror(int status)
{
    switch (status) {
    case AIO_OK: return "success";
    case AIO_ERROR: return "failure";
    case AIO_ESCOPE: return "suspending call outside a coroutine (ScopeError)";
    case AIO_ECANCELLED: return "request cancelled (the client went away)";
    case AIO_ETIMEDOUT: return "timed out";
    case AIO_EINVAL: return "invalid argument";
    case AIO_ENOMEM: return "out of memory";
    case AIO_EBUSY: return "file descriptor already waited on by another task";
    case AIO_ENOTFOUND: return "not found";
    case AIO_ECLOSED: return "websocket closed";
    case AIO_EFULL: return "full (executor queue or task limit reached)";
    case AIO_EUNAVAILABLE: return "service unavailable (not connected to Redis)";
    default: return "unknown status";
    }
}
