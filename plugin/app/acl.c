/* acl.c - ACL authorization, Pyramid's ACLAuthorizationPolicy:
 * walking from the request's context up to its root (then to the module's
 * root ACL), the first ACE whose principal the request has and whose
 * permission matches decides; when none does, the answer is no. ACLs may
 * be computed by callbacks that suspend. */
#include <string.h>

#include "app/registry.h"
#include "app/request.h"

static int has_principal(const aio_principals *principals, const char *name)
{
    for (size_t i = 0; name && i < principals->count; i++)
        if (strcmp(principals->names[i], name) == 0)
            return 1;
    return 0;
}

/* The ACL of the i-th place of the lineage (context first, the module's
 * root ACL last). */
static int acl_at(aio_request *req, size_t i, const struct aio_ace **aces, size_t *count)
{
    *count = 0;
    if (i < req->lineage_len) {
        aio_acl_fn acl = req->lineage_types[i]->acl;
        return acl ? acl(req, req->lineage[i], aces, count) : AIO_OK;
    }
    aio_acl_fn root_acl = req->view ? req->view->module->root_acl : NULL;
    return root_acl ? root_acl(req, aio_context(req), aces, count) : AIO_OK;
}

int aio_has_permission(aio_request *req, const char *permission)
{
    if (!permission)
        return 1;
    aio_principals principals;
    int rc = aio_effective_principals(req, &principals);
    if (rc != AIO_OK)
        return rc;
    for (size_t i = 0; i <= req->lineage_len; i++) {
        const struct aio_ace *aces = NULL;
        size_t count = 0;
        if ((rc = acl_at(req, i, &aces, &count)) != AIO_OK)
            return rc;
        for (size_t k = 0; k < count; k++) {
            const struct aio_ace *ace = &aces[k];
            if (has_principal(&principals, ace->principal) &&
                (!ace->permission || strcmp(ace->permission, permission) == 0))
                return ace->action == AIO_ALLOW;
        }
    }
    return 0; /* nothing said yes: denied */
}
