/* libFuzzer target for the broadcast envelope (proto/pubsub.c), which reads
 * whatever arrives on a Redis channel. Input: any bytes on the channel.
 * A decoded envelope must lie inside the input and encode back to the
 * same bytes. ASan and UBSan watch the memory. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "proto/pubsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aio_pubsub_msg msg;
    if (aio__pubsub_decode((const char *)data, size, &msg) != AIO_OK)
        return 0;
    assert(msg.name >= (const char *)data && msg.payload + msg.payload_len ==
                                                 (const char *)data + size);
    assert(aio__pubsub_size(&msg) == size);
    char *again = malloc(size);
    assert(again && aio__pubsub_encode(&msg, again) == AIO_OK);
    assert(memcmp(again, data, size) == 0);
    free(again);
    return 0;
}
