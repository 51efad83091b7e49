/* config.c - the configuration API of aio.h: what a view module's
 * aio_main() calls to add routes, views, policies and settings. Every
 * mistake is a configuration error naming the module (the first one is
 * kept: later ones often follow from it). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/registry.h"
#include "app/request.h"
#include "base/array.h"

/* ---- settings ----------------------------------------------------- */

int aio__registry_add_setting(struct aio_registry *reg, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return AIO_ENOMEM;
    for (size_t i = 0; i < reg->nsettings; i++) {
        if (strcmp(reg->settings[i].key, key) == 0) {
            free(reg->settings[i].value);
            reg->settings[i].value = v;
            return AIO_OK;
        }
    }
    char *k = strdup(key);
    if (!k || aio__array_grow((void **)&reg->settings, reg->nsettings, sizeof(*reg->settings))) {
        free(k);
        free(v);
        return AIO_ENOMEM;
    }
    reg->settings[reg->nsettings++] = (struct aio_setting){k, v};
    return AIO_OK;
}

const char *aio__registry_setting(const struct aio_registry *reg, const char *key)
{
    for (size_t i = 0; i < reg->nsettings; i++)
        if (strcmp(reg->settings[i].key, key) == 0)
            return reg->settings[i].value;
    return NULL;
}

/* ---- what views read: aio_setting() ---------------------------------- */

const char *aio_setting(const aio_request *req, const char *key)
{
    return req->registry && key ? aio__registry_setting(req->registry, key) : NULL;
}

/* ---- what aio_main() calls ---------------------------------------- */

static int add_route(aio_config *cfg, const char *name, const char *pattern, aio_root_fn root);

int aio_add_route(aio_config *cfg, const char *name, const char *pattern)
{
    return add_route(cfg, name, pattern, NULL);
}

int aio_add_route_traversal(aio_config *cfg, const char *name, const char *pattern,
                            aio_root_fn root)
{
    if (!root)
        return aio__registry_error(cfg->registry, "view module '%s': route '%s': traversal needs a root "
                                        "factory",
                         cfg->module->path, name ? name : "");
    return add_route(cfg, name, pattern, root);
}

static int add_route(aio_config *cfg, const char *name, const char *pattern, aio_root_fn root)
{
    struct aio_registry *reg = cfg->registry;
    const char *mod = cfg->module->path;
    if (!name || !*name)
        return aio__registry_error(reg, "view module '%s': aio_add_route() needs a route name", mod);
    if (!pattern)
        return aio__registry_error(reg, "view module '%s': route '%s' has no pattern", mod, name);
    if (aio__registry_find_route(reg, name))
        return aio__registry_error(reg, "view module '%s': duplicate route name '%s'", mod, name);
    struct aio_route *route = calloc(1, sizeof(*route));
    if (!route)
        return AIO_ENOMEM;
    char why[256] = "";
    int rc = aio__pattern_compile(&route->pattern, pattern, why, sizeof(why));
    if (rc == AIO_OK && !(route->name = strdup(name)))
        rc = AIO_ENOMEM;
    if (rc == AIO_OK && aio__array_grow((void **)&reg->routes, reg->nroutes, sizeof(*reg->routes)))
        rc = AIO_ENOMEM;
    if (rc != AIO_OK) {
        aio__pattern_free(&route->pattern);
        free(route->name);
        free(route);
        return rc == AIO_EINVAL
                   ? aio__registry_error(reg, "view module '%s': route '%s': %s", mod, name, why)
                   : rc;
    }
    route->module = cfg->module;
    route->root = root;
    reg->routes[reg->nroutes++] = route;
    return AIO_OK;
}

/* Checks what every kind of view needs and adds a view with `flags` and
 * traversal view name `name` (NULL: the default view, ""). */
static struct aio_view *add_view(aio_config *cfg, const char *route, int has_fn, unsigned flags,
                                 unsigned allowed, const char *name)
{
    struct aio_registry *reg = cfg->registry;
    const char *mod = cfg->module->path;
    if (!route || !*route) {
        aio__registry_error(reg, "view module '%s': a view needs a route name", mod);
        return NULL;
    }
    if (!has_fn) {
        aio__registry_error(reg, "view module '%s': route '%s': the view function is NULL", mod, route);
        return NULL;
    }
    if (flags & ~allowed) {
        aio__registry_error(reg, "view module '%s': route '%s': unknown view flags 0x%x", mod, route,
                  flags & ~allowed);
        return NULL;
    }
    struct aio_view *view = calloc(1, sizeof(*view));
    if (!view || !(view->route_name = strdup(route)) ||
        aio__array_grow((void **)&reg->views, reg->nviews, sizeof(*reg->views))) {
        if (view)
            free(view->route_name);
        free(view);
        return NULL;
    }
    view->flags = flags;
    view->module = cfg->module;
    view->name = strdup(name ? name : "");
    reg->views[reg->nviews++] = view;
    return view->name ? view : NULL;
}

static int added(const aio_config *cfg, const struct aio_view *view)
{
    return view ? AIO_OK : cfg->registry->error[0] ? AIO_EINVAL : AIO_ENOMEM;
}

static char *copy_or_null(const char *s, int *failed)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        *failed = 1;
    return copy;
}

/* A websocket view runs in its connection's coroutine: it is a GET view
 * that may not use the executor. */
static struct aio_view *add_ws_view(aio_config *cfg, const char *route, int has_fn,
                                    unsigned flags, const char *name)
{
    if (flags & AIO_EXECUTOR) {
        aio__registry_error(cfg->registry,
                  "view module '%s': route '%s': a websocket view runs on the loop, in its "
                  "connection's coroutine: the executor mapper (AIO_EXECUTOR) cannot serve it",
                  cfg->module->path, route ? route : "");
        return NULL;
    }
    if (flags & AIO_METHOD_BITS & ~AIO_GET) {
        aio__registry_error(cfg->registry,
                  "view module '%s': route '%s': a websocket view answers GET requests only",
                  cfg->module->path, route ? route : "");
        return NULL;
    }
    return add_view(cfg, route, has_fn, flags | AIO_GET | AIO_COROUTINE | AIO_VIEW_WEBSOCKET,
                    AIO_GET | AIO_COROUTINE | AIO_WS_BYTES | AIO_VIEW_WEBSOCKET, name);
}

/* What a request must satisfy to reach the view: its predicates and
 * declared parameters. AIO_OK, AIO_ENOMEM, or AIO_EINVAL (recorded as the
 * configuration error). */
static int copy_conditions(aio_config *cfg, struct aio_view *view,
                           const struct aio_view_spec *spec, const char *route)
{
    const char *predicate_why = NULL;
    char why[256] = "";
    int rc = aio__predicates_copy(&view->preds, spec, &predicate_why);
    if (rc == AIO_EINVAL)
        snprintf(why, sizeof(why), "%s", predicate_why);
    else if (rc == AIO_OK)
        rc = aio__param_rules_copy(view, spec->params, why, sizeof(why));
    if (rc == AIO_EINVAL)
        return aio__registry_error(cfg->registry, "view module '%s': route '%s': %s",
                                   cfg->module->path, route ? route : "", why);
    return rc;
}

/* The websocket half of aio_add_view_spec(). */
static int add_ws_view_spec(aio_config *cfg, const struct aio_view_spec *spec)
{
    const char *mod = cfg->module->path, *route = spec->route ? spec->route : "";
    if (spec->view || (spec->websocket && spec->ws_callbacks))
        return aio__registry_error(cfg->registry,
                                   "view module '%s': route '%s': a view is a function, a "
                                   "websocket function or websocket callbacks: one of them",
                                   mod, route);
    if (spec->renderer)
        return aio__registry_error(cfg->registry,
                                   "view module '%s': route '%s': a websocket view has no renderer",
                                   mod, route);
    if (spec->timeout_ms)
        return aio__registry_error(cfg->registry,
                                   "view module '%s': route '%s': a websocket view has no "
                                   "timeout_ms (its session lasts as long as it likes)",
                                   mod, route);
    int has_fn = spec->websocket || (spec->ws_callbacks && spec->ws_callbacks->on_message);
    struct aio_view *view = add_ws_view(cfg, spec->route, has_fn, spec->flags, spec->name);
    if (!view)
        return added(cfg, view);
    view->ws_fn = spec->websocket;
    if (spec->ws_callbacks)
        view->ws_callbacks = *spec->ws_callbacks;
    int failed = 0;
    view->permission = copy_or_null(spec->permission, &failed);
    view->context = copy_or_null(spec->context, &failed);
    int rc = copy_conditions(cfg, view, spec, route);
    return failed && rc == AIO_OK ? AIO_ENOMEM : rc;
}

int aio_add_view_spec(aio_config *cfg, const struct aio_view_spec *spec)
{
    if (spec && (spec->websocket || spec->ws_callbacks))
        return add_ws_view_spec(cfg, spec);
    const char *route = spec ? spec->route : NULL;
    if (spec && (spec->flags & AIO_MAPPER_BITS) == AIO_MAPPER_BITS)
        return aio__registry_error(cfg->registry,
                         "view module '%s': route '%s': a view is either a coroutine "
                         "(AIO_COROUTINE) or runs in the executor (AIO_EXECUTOR), not both",
                         cfg->module->path, route ? route : "");
    if (spec && (spec->flags & AIO_STREAM_BODY) && !(spec->flags & AIO_COROUTINE))
        return aio__registry_error(cfg->registry,
                         "view module '%s': route '%s': AIO_STREAM_BODY needs AIO_COROUTINE "
                         "(aio_body_read() suspends)",
                         cfg->module->path, route ? route : "");
    struct aio_view *view = add_view(cfg, route, spec && spec->view != NULL,
                                     spec ? spec->flags : 0,
                                     AIO_METHOD_BITS | AIO_MAPPER_BITS | AIO_STREAM_BODY,
                                     spec ? spec->name : NULL);
    if (!view)
        return added(cfg, view);
    view->fn = spec->view;
    int failed = 0;
    const char *renderer = spec->renderer;
    if (!renderer)
        view->renderer = AIO_RENDER_NONE;
    else if (strcmp(renderer, "json") == 0)
        view->renderer = AIO_RENDER_JSON;
    else if (strcmp(renderer, "string") == 0)
        view->renderer = AIO_RENDER_STRING;
    else {
        view->renderer = AIO_RENDER_TEMPLATE; /* resolved when committed */
        view->template_name = copy_or_null(renderer, &failed);
    }
    if (spec->timeout_ms < AIO_NO_TIMEOUT)
        return aio__registry_error(cfg->registry,
                                   "view module '%s': route '%s': timeout_ms must be a number of "
                                   "milliseconds, 0 (aio-request-timeout) or AIO_NO_TIMEOUT",
                                   cfg->module->path, route ? route : "");
    view->timeout_ms = spec->timeout_ms;
    view->permission = copy_or_null(spec->permission, &failed);
    view->context = copy_or_null(spec->context, &failed);
    int rc = copy_conditions(cfg, view, spec, route);
    return failed && rc == AIO_OK ? AIO_ENOMEM : rc;
}

int aio_add_view(aio_config *cfg, const char *route, aio_view_fn fn, unsigned flags)
{
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = route, .view = fn,
                                                          .flags = flags});
}

int aio_add_websocket_view(aio_config *cfg, const char *route, aio_ws_view_fn fn,
                           unsigned flags)
{
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = route, .websocket = fn,
                                                          .flags = flags});
}

int aio_set_root_acl(aio_config *cfg, aio_acl_fn acl)
{
    cfg->module->root_acl = acl;
    return AIO_OK;
}

int aio_set_authentication_policy(aio_config *cfg, const struct aio_authn_policy *policy)
{
    struct aio_registry *reg = cfg->registry;
    if (!policy || !policy->unauthenticated_userid || !policy->authenticated_userid ||
        !policy->effective_principals || !policy->remember || !policy->forget)
        return aio__registry_error(reg, "view module '%s': an authentication policy needs all five "
                              "functions",
                         cfg->module->path);
    if (reg->authn.unauthenticated_userid)
        return aio__registry_error(reg, "view module '%s': a second authentication policy (one per "
                              "application)",
                         cfg->module->path);
    reg->authn = *policy;
    return AIO_OK;
}

int aio_add_websocket_callbacks(aio_config *cfg, const char *route,
                                const struct aio_ws_callbacks *callbacks, unsigned flags)
{
    if (!callbacks)
        return aio__registry_error(cfg->registry,
                                   "view module '%s': route '%s': the view function is NULL",
                                   cfg->module->path, route ? route : "");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = route,
                                                          .ws_callbacks = callbacks,
                                                          .flags = flags});
}

const char *aio_config_setting(const aio_config *cfg, const char *key)
{
    return key ? aio__registry_setting(cfg->registry, key) : NULL;
}

const char *aio_config_asset_dir(const aio_config *cfg)
{
    return cfg->module->asset_dir;
}

int aio_config_fail(aio_config *cfg, const char *fmt, ...)
{
    char message[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return aio__registry_error(cfg->registry, "view module '%s': %s", cfg->module->path, message);
}
