/* Every framework callback of this module suspends for 100 ms: a tween,
 * the authentication groupfinder, the ACL, and the traversal lookup. The
 * tests send many requests at once to prove they really suspend (the
 * worker serves the others meanwhile) rather than block. */
#include <uwsgi-aio/aio.h>

#include <string.h>

#define PAUSE_MS 100

static int slow_tween(aio_request *req, aio_next *next)
{
    int rc = aio_sleep_ms(req, PAUSE_MS);
    return rc == AIO_OK ? aio_call_next(req, next) : rc;
}

static int slow_groupfinder(aio_request *req, const char *userid, aio_principals *groups,
                            void *arg)
{
    (void)userid;
    (void)arg;
    int rc = aio_sleep_ms(req, PAUSE_MS);
    return rc == AIO_OK ? aio_principals_add(req, groups, "group:sleepers") : rc;
}

static int slow_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *count)
{
    (void)context;
    static const struct aio_ace aces[] = {{AIO_ALLOW, "group:sleepers", "view"}};
    *acl = aces;
    *count = 1;
    return aio_sleep_ms(req, PAUSE_MS);
}

static const struct aio_resource_type item_type = {"item", NULL, slow_acl};

static int slow_child(aio_request *req, void *resource, const char *segment, void **child,
                      const struct aio_resource_type **type)
{
    (void)resource;
    int rc = aio_sleep_ms(req, PAUSE_MS);
    if (rc != AIO_OK)
        return rc;
    if (strcmp(segment, "item") != 0)
        return AIO_ENOTFOUND;
    *child = (void *)segment;
    *type = &item_type;
    return AIO_OK;
}

static const struct aio_resource_type root_type = {"root", slow_child, NULL};

static int root(aio_request *req, void **resource, const struct aio_resource_type **type)
{
    (void)req;
    *resource = (void *)"root";
    *type = &root_type;
    return AIO_OK;
}

static int login(aio_request *req)
{
    return aio_remember(req, "sleeper");
}

static int item(aio_request *req)
{
    return aio_printf(req, "%s\n", aio_authenticated_userid(req));
}

int aio_main(aio_config *cfg)
{
    aio_use_authtkt(cfg, &(struct aio_authtkt){.secret = aio_config_setting(cfg, "slow.secret"),
                                               .callback = slow_groupfinder});
    aio_add_tween(cfg, "slow", slow_tween);
    aio_add_route(cfg, "login", "/login");
    aio_add_view(cfg, "login", login, AIO_COROUTINE | AIO_POST);
    aio_add_route_traversal(cfg, "items", "/items*traverse", root);
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "items", .view = item,
                                                          .flags = AIO_COROUTINE | AIO_GET,
                                                          .renderer = "string",
                                                          .permission = "view",
                                                          .context = "item"});
}
