/* broadcast.c - websocket messages for every worker and host: aio_ws_broadcast()
 * and aio_publish().
 *
 * A message goes to this worker's websockets at once (websocket.c), and,
 * with `aio-broadcast = redis://...`, to Redis as one PUBLISH on the
 * configured channel, in an envelope (proto/pubsub.h) that names its
 * target and its sending worker. Every worker holds one subscriber
 * connection to that channel and delivers what arrives to its own
 * websockets, except what it sent itself (delivered already): so each
 * websocket gets each message once, and the messages of one worker arrive
 * everywhere in the order it sent them (one publisher connection, and
 * Redis keeps a connection's order).
 *
 * Delivery across workers is at most once, as Redis pub/sub is: a message
 * published while a worker's subscriber is reconnecting does not reach that
 * worker's websockets. While the publisher is down, a publish returns
 * AIO_EUNAVAILABLE at once, and while more than PUBLISH_BACKLOG bytes wait
 * for Redis to acknowledge them, AIO_EFULL: the worker never queues without
 * bound. Local delivery goes on meanwhile. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "proto/pubsub.h"

_Static_assert(AIO_MSG_TEXT == 1 && AIO_MSG_BINARY == 2,
               "proto/pubsub.c writes the message types as aio.h numbers them");

/* Bytes published and not yet acknowledged by Redis, at most. */
#define PUBLISH_BACKLOG (16u * 1024u * 1024u)

#define B aio__app.broadcast

static uint64_t random_origin(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id)) {
        /* no entropy yet (early boot): pid and time still tell workers apart */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    }
    return id;
}

/* ---- receiving ---------------------------------------------------------- */

static void deliver_envelope(const char *data, size_t len)
{
    struct aio_pubsub_msg msg;
    if (aio__pubsub_decode(data, len, &msg) != AIO_OK) {
        if (!B.warned_foreign)
            aio__log("broadcast: ignoring messages on Redis channel '%s' that uwsgi-aio did "
                     "not publish (logged once)", B.sub.url.channel);
        B.warned_foreign = 1;
        return;
    }
    if (msg.origin == B.origin)
        return; /* ours: our websockets have it already */
    aio__ws_deliver(msg.target, msg.name, msg.name_len, msg.type, msg.payload, msg.payload_len);
}

/* SUBSCRIBE's callback: its confirmation, then every message; NULL when
 * the connection drops. */
static void on_channel(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    (void)privdata;
    const redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    const redisReply *kind = reply->element[0], *payload = reply->element[2];
    if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "message") == 0 &&
        payload->type == REDIS_REPLY_STRING)
        deliver_envelope(payload->str, payload->len);
}

static void subscriber_up(struct aio_redis_conn *conn)
{
    if (aio__redis_subscribe(conn, on_channel, NULL, conn->url.channel) != AIO_OK)
        aio__log("broadcast: cannot subscribe to Redis channel '%s'", conn->url.channel);
}

/* ---- sending ------------------------------------------------------------- */

static void on_published(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    (void)reply; /* an error reply, or none: the message is gone either way */
    size_t size = (size_t)(uintptr_t)privdata;
    B.backlog = size > B.backlog ? 0 : B.backlog - size;
}

static void publisher_down(struct aio_redis_conn *conn)
{
    (void)conn;
    B.backlog = 0; /* every pending publish has been answered with NULL */
}

static int publish(const struct aio_pubsub_msg *msg)
{
    if (B.pub.state != AIO_REDIS_UP)
        return AIO_EUNAVAILABLE;
    size_t size = aio__pubsub_size(msg);
    if (B.backlog + size > PUBLISH_BACKLOG)
        return AIO_EFULL;
    char *envelope = malloc(size);
    if (!envelope)
        return AIO_ENOMEM;
    int rc = aio__pubsub_encode(msg, envelope);
    char *cmd = NULL;
    int len = rc == AIO_OK ? redisFormatCommand(&cmd, "PUBLISH %s %b", B.pub.url.channel,
                                                envelope, size)
                           : -1;
    free(envelope);
    if (len < 0)
        return rc == AIO_OK ? AIO_ENOMEM : rc;
    rc = aio__redis_send(&B.pub, on_published, (void *)(uintptr_t)size, cmd, (size_t)len);
    redisFreeCommand(cmd);
    if (rc == AIO_OK)
        B.backlog += size;
    return rc;
}

/* Here and everywhere else; the local count, or why it did not go out. */
static int send_everywhere(enum aio_pubsub_target target, const char *name, int type,
                           const void *data, size_t len)
{
    size_t name_len = name ? strlen(name) : 0;
    int local = aio__ws_deliver(target, name, name_len, type, data, len);
    if (local < 0 || !B.enabled)
        return local;
    struct aio_pubsub_msg msg = {
        .type = type,
        .target = target,
        .origin = B.origin,
        .name = name,
        .name_len = name_len,
        .payload = data,
        .payload_len = len,
    };
    int rc = publish(&msg);
    return rc == AIO_OK ? local : rc;
}

int aio_ws_broadcast(const char *route, int type, const void *data, size_t len)
{
    if (route && (!*route || strlen(route) > AIO_PUBSUB_NAME_MAX))
        return AIO_EINVAL;
    return send_everywhere(route ? AIO_PUBSUB_ROUTE : AIO_PUBSUB_ALL, route, type, data, len);
}

int aio_publish(const char *topic, int type, const void *data, size_t len)
{
    if (!topic || !*topic || strlen(topic) > AIO_PUBSUB_NAME_MAX)
        return AIO_EINVAL;
    return send_everywhere(AIO_PUBSUB_TOPIC, topic, type, data, len);
}

int aio_broadcast_connected(void)
{
    return B.enabled && B.pub.state == AIO_REDIS_UP && B.sub.state == AIO_REDIS_UP;
}

/* ---- life -------------------------------------------------------------- */

int aio__broadcast_open(void)
{
    memset(&B, 0, sizeof(B));
    const struct aio_options *o = &aio__app.opts;
    if (!o->broadcast_set)
        return AIO_OK;
    B.enabled = 1;
    B.origin = random_origin();
    B.pub.url = B.sub.url = o->broadcast;
    B.pub.role = "broadcast publisher";
    B.sub.role = "broadcast subscriber";
    B.pub.timeout_ms = B.sub.timeout_ms = (int)o->redis_timeout_ms;
    B.pub.on_down = publisher_down;
    B.sub.on_up = subscriber_up;
    if (aio__redis_open(&B.pub, &aio__engine.loop) != AIO_OK ||
        aio__redis_open(&B.sub, &aio__engine.loop) != AIO_OK)
        return AIO_ERROR;
    return AIO_OK;
}

void aio__broadcast_stop(void)
{
    /* a stopping worker's websockets are closing: what others send now is
     * not for them */
    if (B.enabled)
        aio__redis_close(&B.sub);
}

void aio__broadcast_close(void)
{
    if (!B.enabled)
        return;
    aio__redis_close(&B.sub);
    aio__redis_close(&B.pub);
    B.enabled = 0;
}
