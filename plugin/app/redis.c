/* redis.c - aio_redis(): Redis commands from coroutines, over a pool of
 * connections per worker (`aio-redis`, `aio-redis-pool`).
 *
 * Each connection carries many commands at once (Redis answers a
 * connection's commands in order, so hiredis matches replies to callers
 * without a connection per caller); a command goes to the connection with
 * the fewest in flight. The caller's coroutine is suspended until the
 * reply, the timeout or its cancellation (the client left, the worker
 * stops). A caller that stopped waiting leaves its call behind: the reply,
 * when it comes, frees it. The reply is copied into the request's memory,
 * so it is freed with the request, like everything else a request gives.
 *
 * Commands that would change the shared connection for everyone after
 * them (SELECT, AUTH, (P)SUBSCRIBE, MONITOR, QUIT, RESET, CLIENT ...) or
 * block it (BLPOP and friends, WAIT) are refused with AIO_EINVAL. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"

/* One aio_redis() call in flight. */
struct redis_call {
    struct aio_task *task;     /* NULL once the caller stopped waiting */
    struct aio_request *req;
    struct aio_redis_conn *conn;
    const aio_redis_reply *reply;
    int status;
    int done;
};

#define P aio__app.redis

static const char *const refused[] = {
    "SELECT", "AUTH", "HELLO", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE",
    "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "QUIT", "RESET", "CLIENT", "SYNC", "PSYNC",
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
    "WAIT", "WAITAOF", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
};

/* The command's name in its RESP form "*N\r\n$L\r\nNAME\r\n...". */
static int command_refused(const char *cmd, size_t len)
{
    const char *p = memchr(cmd, '$', len);
    const char *end = cmd + len;
    if (!p)
        return 1;
    size_t name_len = (size_t)strtoul(p + 1, NULL, 10);
    const char *name = memchr(p, '\n', (size_t)(end - p));
    if (!name || (size_t)(end - ++name) < name_len)
        return 1;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strlen(refused[i]) == name_len && strncasecmp(refused[i], name, name_len) == 0)
            return 1;
    return 0;
}

/* ---- replies ----------------------------------------------------------- */

static int copy_reply(struct aio_request *req, aio_redis_reply *out, const redisReply *in,
                      int depth)
{
    memset(out, 0, sizeof(*out));
    out->type = in->type;
    out->integer = in->integer;
    switch (in->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: {
        char *s = aio_alloc(req, in->len + 1);
        if (!s)
            return AIO_ENOMEM;
        memcpy(s, in->str, in->len);
        s[in->len] = '\0';
        out->str = s;
        out->len = in->len;
        return AIO_OK;
    }
    case REDIS_REPLY_ARRAY: {
        if (depth > 16)
            return AIO_EINVAL; /* nothing a command answers is nested that deep */
        aio_redis_reply *elements =
            in->elements ? aio_alloc(req, in->elements * sizeof(*elements)) : NULL;
        if (in->elements && !elements)
            return AIO_ENOMEM;
        for (size_t i = 0; i < in->elements; i++) {
            int rc = copy_reply(req, &elements[i], in->element[i], depth + 1);
            if (rc != AIO_OK)
                return rc;
        }
        out->element = elements;
        out->elements = in->elements;
        return AIO_OK;
    }
    default:
        return AIO_OK; /* integer, nil */
    }
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct redis_call *call = privdata;
    if (!call->task) {
        free(call); /* the caller stopped waiting */
        return;
    }
    call->done = 1;
    if (!r) {
        /* the connection dropped: for a reply past its deadline, or lost */
        call->status = call->conn->timed_out ? AIO_ETIMEDOUT : AIO_EUNAVAILABLE;
    } else {
        aio_redis_reply *reply = aio_alloc(call->req, sizeof(*reply));
        call->status = reply ? copy_reply(call->req, reply, r, 0) : AIO_ENOMEM;
        call->reply = reply;
    }
    /* not from inside hiredis: the coroutine may send the next command */
    aio__task_wake_soon(call->task, AIO_OK);
}

/* ---- the call ------------------------------------------------------------- */

static struct aio_redis_conn *least_busy(void)
{
    struct aio_redis_conn *best = NULL;
    for (long i = 0; i < P.nconns; i++) {
        struct aio_redis_conn *c = &P.conns[i];
        if (c->state == AIO_REDIS_UP && (!best || c->pending < best->pending))
            best = c;
    }
    return best;
}

static int call_formatted(aio_request *req, struct aio_task *task, const aio_redis_reply **reply,
                          const char *cmd, size_t len)
{
    if (command_refused(cmd, len))
        return AIO_EINVAL;
    struct aio_redis_conn *conn = least_busy();
    if (!conn)
        return AIO_EUNAVAILABLE;
    struct redis_call *call = calloc(1, sizeof(*call));
    if (!call)
        return AIO_ENOMEM;
    call->task = task;
    call->req = req;
    call->conn = conn;
    int rc = aio__redis_send(conn, on_reply, call, cmd, len);
    if (rc != AIO_OK) {
        free(call);
        return rc;
    }
    struct aio_wait wait = {.fd = -1, .timeout_ms = (int)aio__app.opts.redis_timeout_ms};
    rc = aio__task_wait(task, &wait);
    if (!call->done) {
        call->task = NULL; /* timed out or cancelled: the reply frees it */
        /* AIO_OK: the wait's own deadline, which may come just before the
         * connection's (the same aio-redis-timeout) drops it */
        return rc == AIO_OK ? AIO_ETIMEDOUT : rc;
    }
    rc = call->status;
    if (rc == AIO_OK)
        *reply = call->reply;
    free(call);
    return rc;
}

int aio_redisv(aio_request *req, const aio_redis_reply **reply, const char *format, va_list ap)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!reply || !format)
        return AIO_EINVAL;
    *reply = NULL;
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, format, ap);
    if (len == -2)
        return AIO_EINVAL; /* a bad format */
    if (len < 0)
        return AIO_ENOMEM;
    int rc = call_formatted(req, task, reply, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

int aio_redis(aio_request *req, const aio_redis_reply **reply, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = aio_redisv(req, reply, format, ap);
    va_end(ap);
    return rc;
}

int aio_redis_argv(aio_request *req, const aio_redis_reply **reply, int argc,
                   const char **argv, const size_t *argvlen)
{
    struct aio_task *task = aio__scope_check(req);
    if (!task)
        return AIO_ESCOPE;
    if (!reply || argc < 1 || !argv)
        return AIO_EINVAL;
    *reply = NULL;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return AIO_ENOMEM;
    int rc = call_formatted(req, task, reply, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

/* ---- the pool's life -------------------------------------------------------- */

int aio__redis_pool_open(void)
{
    const struct aio_options *o = &aio__app.opts;
    memset(&P, 0, sizeof(P));
    if (!o->redis_set)
        return AIO_OK;
    P.conns = calloc((size_t)o->redis_pool, sizeof(*P.conns));
    if (!P.conns)
        return AIO_ENOMEM;
    for (long i = 0; i < o->redis_pool; i++) {
        struct aio_redis_conn *c = &P.conns[i];
        c->url = o->redis;
        c->role = "aio_redis pool";
        c->timeout_ms = (int)o->redis_timeout_ms;
        if (aio__redis_open(c, &aio__engine.loop) != AIO_OK)
            return AIO_ERROR;
        P.nconns++;
    }
    return AIO_OK;
}

void aio__redis_pool_close(void)
{
    for (long i = 0; i < P.nconns; i++)
        aio__redis_close(&P.conns[i]);
    /* the timers are closing: freed after the loop ran their callbacks */
}

void aio__redis_pool_free(void)
{
    free(P.conns);
    P.conns = NULL;
    P.nconns = 0;
}
