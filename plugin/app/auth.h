/* auth.h - between auth.c (identity through the policy) and authtkt.c (the
 * signed-ticket policy), and the ticket functions for their unit tests. */
#ifndef AIO_APP_AUTH_H
#define AIO_APP_AUTH_H

#include "base/arena.h"
#include "base/buf.h"

#define AIO_AUTHTKT_MIN_SECRET 32
/* The secret example.ini and README.rst publish: a policy given it gets a
 * warning at start-up (anyone can sign tickets with it). */
#define AIO_AUTHTKT_EXAMPLE_SECRET "example-only-secret-change-me-0123456789"

struct aio_request;
/* The application's authentication policy, or NULL when it has none. */
const struct aio_authn_policy *aio__authn_policy(const struct aio_request *req);

/* 1 when `userid` may not be a userid: it is spelled like a principal of
 * another kind (auth.c says which). */
int aio__userid_reserved(const char *userid);

/* `state` is the policy state aio_use_authtkt() set up. */
int aio__authtkt_make_ticket(const void *state, const char *userid, const char *tokens,
                            long long timestamp, struct aio_buf *out);
/* make_ticket: AIO_EINVAL for an empty, too long, non-UTF-8 or reserved
 * userid (aio__userid_reserved) or bad tokens.
 * read_ticket: AIO_OK (and the ticket's fields), AIO_ETIMEDOUT (expired) or
 * AIO_EINVAL (not a ticket of ours: malformed, truncated, tampered, other
 * secret; or signed but for a reserved userid). */
int aio__authtkt_read_ticket(const void *state, const char *value, long long now,
                            struct aio_arena *arena, const char **userid, const char **tokens,
                            long long *timestamp);

#endif
