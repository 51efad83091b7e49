#include "proto/pubsub.h"

#include <string.h>

#include <uwsgi-aio/aio_common.h>

#define MSG_TEXT 1   /* AIO_MSG_TEXT, which aio.h defines above this layer */
#define MSG_BINARY 2 /* AIO_MSG_BINARY */

static const char magic[4] = {'a', 'i', 'o', 1};

static int well_formed(int type, int target, size_t name_len)
{
    if (type != MSG_TEXT && type != MSG_BINARY)
        return 0;
    if (target == AIO_PUBSUB_ALL)
        return name_len == 0;
    if (target == AIO_PUBSUB_ROUTE || target == AIO_PUBSUB_TOPIC)
        return name_len > 0 && name_len <= AIO_PUBSUB_NAME_MAX;
    return 0;
}

size_t aio__pubsub_size(const struct aio_pubsub_msg *msg)
{
    return AIO_PUBSUB_HEADER + msg->name_len + msg->payload_len;
}

int aio__pubsub_encode(const struct aio_pubsub_msg *msg, char *out)
{
    if (!well_formed(msg->type, (int)msg->target, msg->name_len))
        return AIO_EINVAL;
    unsigned char *p = (unsigned char *)out;
    memcpy(p, magic, sizeof(magic));
    p[4] = (unsigned char)msg->type;
    p[5] = (unsigned char)msg->target;
    for (int i = 0; i < 8; i++)
        p[6 + i] = (unsigned char)(msg->origin >> (56 - 8 * i));
    p[14] = (unsigned char)(msg->name_len >> 8);
    p[15] = (unsigned char)msg->name_len;
    if (msg->name_len)
        memcpy(p + AIO_PUBSUB_HEADER, msg->name, msg->name_len);
    if (msg->payload_len)
        memcpy(p + AIO_PUBSUB_HEADER + msg->name_len, msg->payload, msg->payload_len);
    return AIO_OK;
}

int aio__pubsub_decode(const char *data, size_t len, struct aio_pubsub_msg *msg)
{
    const unsigned char *p = (const unsigned char *)data;
    if (!data || len < AIO_PUBSUB_HEADER || memcmp(p, magic, sizeof(magic)) != 0)
        return AIO_EINVAL;
    size_t name_len = ((size_t)p[14] << 8) | p[15];
    if (!well_formed(p[4], p[5], name_len) || name_len > len - AIO_PUBSUB_HEADER)
        return AIO_EINVAL;
    msg->type = p[4];
    msg->target = (enum aio_pubsub_target)p[5];
    msg->origin = 0;
    for (int i = 0; i < 8; i++)
        msg->origin = (msg->origin << 8) | p[6 + i];
    msg->name = data + AIO_PUBSUB_HEADER;
    msg->name_len = name_len;
    msg->payload = msg->name + name_len;
    msg->payload_len = len - AIO_PUBSUB_HEADER - name_len;
    return AIO_OK;
}
