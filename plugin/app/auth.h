/* auth.h - the ticket functions of auth.c, for its unit tests. */
#ifndef AIO_AUTH_H
#define AIO_AUTH_H

#include "base/arena.h"
#include "base/buf.h"

#define AIO_AUTHTKT_MIN_SECRET 32

/* `state` is the policy state aio_use_authtkt() set up. */
int aio__authtkt_make_ticket(const void *state, const char *userid, const char *tokens,
                            long long timestamp, struct aio_buf *out);
/* AIO_OK (and the ticket's fields), AIO_ETIMEDOUT (expired) or AIO_EINVAL
 * (not a ticket of ours: malformed, truncated, tampered, other secret). */
int aio__authtkt_read_ticket(const void *state, const char *value, long long now,
                            struct aio_arena *arena, const char **userid, const char **tokens,
                            long long *timestamp);

#endif
