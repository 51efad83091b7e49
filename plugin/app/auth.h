/* auth.h - between auth.c (identity through the policy) and authtkt.c (the
 * signed-ticket policy), and the ticket functions for their unit tests. */
#ifndef AIO_APP_AUTH_H
#define AIO_APP_AUTH_H

#include "base/arena.h"
#include "base/buf.h"

#define AIO_AUTHTKT_MIN_SECRET 32

struct aio_request;
/* The application's authentication policy, or NULL when it has none. */
const struct aio_authn_policy *aio__authn_policy(const struct aio_request *req);

/* `state` is the policy state aio_use_authtkt() set up. */
int aio__authtkt_make_ticket(const void *state, const char *userid, const char *tokens,
                            long long timestamp, struct aio_buf *out);
/* AIO_OK (and the ticket's fields), AIO_ETIMEDOUT (expired) or AIO_EINVAL
 * (not a ticket of ours: malformed, truncated, tampered, other secret). */
int aio__authtkt_read_ticket(const void *state, const char *value, long long now,
                            struct aio_arena *arena, const char **userid, const char **tokens,
                            long long *timestamp);

#endif
