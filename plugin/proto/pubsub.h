/* pubsub.h - the envelope of a websocket message that crosses workers and
 * hosts through a Redis pub/sub channel.
 *
 * Every worker publishes and subscribes on one channel; the envelope says
 * which websockets the message is for (all of them, one route's, or those
 * subscribed to a topic), its type, and which worker sent it, so that the
 * sender, which has delivered it to its own websockets already, skips it
 * when Redis echoes it back.
 *
 *   bytes 0-3   "aio" 0x01 (magic and version)
 *   byte  4     1 text, 2 binary (AIO_MSG_TEXT, AIO_MSG_BINARY)
 *   byte  5     0 every websocket, 1 a route's, 2 a topic's
 *   bytes 6-13  origin: the sending worker's random id, big-endian
 *   bytes 14-15 length of the name (route or topic), big-endian; 0 for "every"
 *   then        the name, then the payload to the end */
#ifndef AIO_PROTO_PUBSUB_H
#define AIO_PROTO_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#define AIO_PUBSUB_HEADER 16
#define AIO_PUBSUB_NAME_MAX 255

enum aio_pubsub_target {
    AIO_PUBSUB_ALL = 0,
    AIO_PUBSUB_ROUTE = 1,
    AIO_PUBSUB_TOPIC = 2,
};

struct aio_pubsub_msg {
    int type;                      /* AIO_MSG_TEXT or AIO_MSG_BINARY */
    enum aio_pubsub_target target;
    uint64_t origin;
    const char *name;              /* not NUL-terminated */
    size_t name_len;
    const char *payload;
    size_t payload_len;
};

/* Bytes the envelope of `msg` takes. */
size_t aio__pubsub_size(const struct aio_pubsub_msg *msg);
/* Writes the envelope into out[aio__pubsub_size(msg)]. AIO_EINVAL for a
 * bad type, target, or name (empty for a route or topic, longer than
 * AIO_PUBSUB_NAME_MAX, or given for "every"). */
int aio__pubsub_encode(const struct aio_pubsub_msg *msg, char *out);
/* Reads an envelope (pointers into `data`). AIO_EINVAL for anything that is
 * not a well-formed envelope. Text payloads are not checked for UTF-8 here:
 * the websocket layer checks what it sends. */
int aio__pubsub_decode(const char *data, size_t len, struct aio_pubsub_msg *msg);

#endif
