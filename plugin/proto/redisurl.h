/* redisurl.h - the address of a Redis server as the options give it:
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?channel=NAME]
 *
 * Strict, so that a typo stops start-up with a reason instead of pointing
 * a production worker at the wrong server: only the redis scheme, a host
 * name, an IPv4 address or a bracketed IPv6 address, a port from 1 to
 * 65535 (default 6379), a database number from 0 to 1000000 (default 0)
 * and, where the caller allows it, one query parameter `channel`. Nothing
 * is percent-decoded: a password holding '@', '/', '?' or '%' is refused. */
#ifndef AIO_PROTO_REDISURL_H
#define AIO_PROTO_REDISURL_H

#include <stddef.h>

#define AIO_REDIS_DEFAULT_PORT 6379
#define AIO_REDIS_DEFAULT_CHANNEL "aio"

struct aio_redis_url {
    char host[256];      /* without brackets for IPv6 */
    int port;
    long db;
    char user[128];      /* "" when none */
    char password[256];  /* "" when none */
    char channel[129];   /* the pub/sub channel (AIO_REDIS_DEFAULT_CHANNEL) */
};

/* Parses `url` into `out`. With allow_channel 0, a `?channel=` is an error.
 * Returns AIO_OK, or AIO_EINVAL with a one-line reason in `error`. */
int aio__redis_url_parse(const char *url, int allow_channel, struct aio_redis_url *out,
                         char *error, size_t error_size);

#endif
