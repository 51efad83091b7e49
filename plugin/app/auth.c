/* auth.c - authentication: the request's identity and principals through the application's policy (aio_set_authentication_policy;
 * the built-in signed-ticket policy is authtkt.c). */
#include "app/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http.h"
#include "app/registry.h"
#include "app/request.h"
#include "base/utf8.h"

enum {
    HAVE_CLAIMED = 1,
    HAVE_USERID = 2,
    HAVE_PRINCIPALS = 4,
};

/* ---- principals and the request's identity ---------------------------------- */

int aio_principals_add(aio_request *req, aio_principals *principals, const char *name)
{
    if (!name)
        return AIO_EINVAL;
    for (size_t i = 0; i < principals->count; i++)
        if (strcmp(principals->names[i], name) == 0)
            return AIO_OK;
    const char **names = aio__arena_alloc(&req->arena, (principals->count + 1) * sizeof(*names));
    const char *copy = aio__arena_strdup(&req->arena, name);
    if (!names || !copy)
        return AIO_ENOMEM;
    if (principals->count)
        memcpy(names, principals->names, principals->count * sizeof(*names));
    names[principals->count++] = copy;
    principals->names = names;
    return AIO_OK;
}

/* Userids and the other principals share one namespace: an ACE names a
 * principal by its spelling only, so a user called "group:admins" would be
 * granted what the group is, and one called "system.Authenticated" would
 * stand for every logged-in user. Pyramid refuses the two system principals
 * as userids (CallbackAuthenticationPolicy._clean_principal); we refuse a
 * little more, so that the spellings cannot overlap at all:
 *   - the whole "system." prefix (AIO_EVERYONE, AIO_AUTHENTICATED and any
 *     system principal to come);
 *   - any ':', the mark of a principal of another kind: "group:admins",
 *     "role:editor" (the form the groupfinder's groups and signed tokens
 *     take). Prefixing userids instead ("userid:alice") would keep them
 *     apart too, but would break every ACL that names a user.
 * The built-in policy neither signs nor accepts such a userid, and
 * aio_remember() refuses it whatever the policy. */
int aio__userid_reserved(const char *userid)
{
    return strncmp(userid, "system.", 7) == 0 || strchr(userid, ':') != NULL;
}

const struct aio_authn_policy *aio__authn_policy(const struct aio_request *req)
{
    if (!req->registry || !req->registry->authn.unauthenticated_userid)
        return NULL;
    return &req->registry->authn;
}

const char *aio_unauthenticated_userid(aio_request *req)
{
    const struct aio_authn_policy *p = aio__authn_policy(req);
    if (p && !(req->identity_done & HAVE_CLAIMED))
        req->claimed_userid = p->unauthenticated_userid(req, p->state);
    req->identity_done |= HAVE_CLAIMED;
    return req->claimed_userid;
}

const char *aio_authenticated_userid(aio_request *req)
{
    const struct aio_authn_policy *p = aio__authn_policy(req);
    if (p && !(req->identity_done & HAVE_USERID))
        req->userid = p->authenticated_userid(req, p->state);
    req->identity_done |= HAVE_USERID;
    return req->userid;
}

int aio_effective_principals(aio_request *req, aio_principals *out)
{
    if (!(req->identity_done & HAVE_PRINCIPALS)) {
        const struct aio_authn_policy *p = aio__authn_policy(req);
        int rc = p ? p->effective_principals(req, p->state, &req->principals)
                   : aio_principals_add(req, &req->principals, AIO_EVERYONE);
        if (rc != AIO_OK)
            return rc;
        req->identity_done |= HAVE_PRINCIPALS;
    }
    if (out)
        *out = req->principals;
    return AIO_OK;
}

int aio_remember(aio_request *req, const char *userid)
{
    const struct aio_authn_policy *p = aio__authn_policy(req);
    if (!p || !userid || aio__userid_reserved(userid))
        return AIO_EINVAL;
    return p->remember(req, p->state, userid);
}

int aio_forget(aio_request *req)
{
    const struct aio_authn_policy *p = aio__authn_policy(req);
    if (!p)
        return AIO_EINVAL;
    return p->forget(req, p->state);
}
