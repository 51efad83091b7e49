/* libFuzzer target for the Redis address parser (proto/redisurl.c), which
 * reads the aio-broadcast and aio-redis options. Input: any option value.
 * It is accepted or refused with a reason, and what it accepts is within
 * the documented ranges. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "proto/redisurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    struct aio_redis_url u;
    char why[512] = "";
    int rc = aio__redis_url_parse(url, size && data[0] & 1, &u, why, sizeof(why));
    if (rc == AIO_OK) {
        assert(u.host[0] && u.port >= 1 && u.port <= 65535 && u.db >= 0 && u.db <= 1000000);
        assert(u.channel[0] && strlen(u.channel) <= 128);
    } else {
        assert(rc == AIO_EINVAL && why[0]);
    }
    free(url);
    return 0;
}
