/*
 * aio_common.h - what every layer of uwsgi-aio shares with its users: status
 * codes, method bits, fd event flags and the macros of the public headers.
 * Included by <uwsgi-aio/aio.h>; it needs nothing else, so the lowest
 * layers of the implementation use it too.
 */
#ifndef AIO_COMMON_H
#define AIO_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AIO_API __attribute__((visibility("default")))
#define AIO_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#define AIO_SENTINEL __attribute__((sentinel))
#else
#define AIO_API
#define AIO_PRINTF(fmt, first)
#define AIO_SENTINEL
#endif

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

enum aio_status {
    AIO_OK = 0,
    AIO_ERROR = -1,      /* generic failure (the log has details)          */
    AIO_ESCOPE = -2,     /* suspending call outside a coroutine             */
    AIO_ECANCELLED = -3, /* request cancelled: the client went away         */
    AIO_ETIMEDOUT = -4,  /* the wait timed out                              */
    AIO_EINVAL = -5,     /* invalid argument                                */
    AIO_ENOMEM = -6,     /* out of memory                                   */
    AIO_EBUSY = -7,      /* the fd is already being waited on by a task (only that) */
    AIO_ENOTFOUND = -8,  /* no such template / route / item                 */
    AIO_ECLOSED = -9,    /* the websocket is closed                         */
    AIO_EFULL = -10,     /* a bounded queue or limit is full (executor, tasks) */
    AIO_EUNAVAILABLE = -11, /* a service the worker uses (Redis) is not reachable now */
};

/* A short English description of a status code. Never NULL. */
AIO_API const char *aio_strerror(int status);

/* Request methods, as bits (a view's flags, aio_request_method_bit ...). */
#define AIO_GET     0x0100u
#define AIO_HEAD    0x0200u
#define AIO_POST    0x0400u
#define AIO_PUT     0x0800u
#define AIO_DELETE  0x1000u
#define AIO_PATCH   0x2000u
#define AIO_OPTIONS 0x4000u

/* Events to wait for on a file descriptor (aio_wait_fd). */
#define AIO_READ 0x1
#define AIO_WRITE 0x2

#ifdef __cplusplus
}
#endif

#endif
