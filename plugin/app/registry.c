/* registry.c - the registry: what the view modules' aio_main() built
 * (config.c), checked and committed once per worker, then the lookup that
 * maps a request to its route and view. Read-only once committed, so
 * executor threads may read it freely. */
#include "app/registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/request.h"
#include "base/array.h"
#include "base/buf.h"
#include "proto/http.h"

int aio__registry_error(struct aio_registry *reg, const char *fmt, ...)
{
    if (reg->error[0] == '\0') { /* keep the first error: later ones often follow from it */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reg->error, sizeof(reg->error), fmt, ap);
        va_end(ap);
    }
    return AIO_EINVAL;
}

void aio__registry_init(struct aio_registry *reg)
{
    memset(reg, 0, sizeof(*reg));
}

void aio__registry_free(struct aio_registry *reg)
{
    for (size_t i = 0; i < reg->nviews; i++) {
        free(reg->views[i]->route_name);
        free(reg->views[i]->template_name);
        free(reg->views[i]->permission);
        free(reg->views[i]->context);
        free(reg->views[i]->name);
        aio__predicates_free(&reg->views[i]->preds);
        aio__param_rules_free(reg->views[i]);
        free(reg->views[i]);
    }
    for (size_t i = 0; i < reg->nroutes; i++) {
        aio__pattern_free(&reg->routes[i]->pattern);
        free(reg->routes[i]->name);
        free(reg->routes[i]->views);
        free(reg->routes[i]);
    }
    for (size_t i = 0; i < reg->nmodules; i++)
        aio__module_free(reg->modules[i]);
    for (size_t i = 0; i < reg->nsettings; i++) {
        free(reg->settings[i].key);
        free(reg->settings[i].value);
    }
    for (size_t i = 0; i < reg->ntweens; i++)
        free(reg->tweens[i].name);
    for (size_t i = 0; i < reg->ntween_order; i++)
        free(reg->tween_order[i]);
    aio__route_index_free(reg->index);
    free(reg->patterns);
    if (reg->authn.free_state) /* once: the memset below forgets it */
        reg->authn.free_state(reg->authn.state);
    free(reg->tweens);
    free(reg->error_views);
    free(reg->tween_order);
    free(reg->chain);
    free(reg->views);
    free(reg->routes);
    free(reg->modules);
    free(reg->settings);
    memset(reg, 0, sizeof(*reg));
}

/* ---- construction ------------------------------------------------- */

static unsigned view_methods(const struct aio_view *view)
{
    unsigned methods = view->flags & AIO_METHOD_BITS;
    return methods ? methods : AIO_METHOD_BITS;
}

/* Two views of a route are chosen between by method only if they are for
 * the same context type and view name. */
static int same_selection(const struct aio_view *a, const struct aio_view *b)
{
    int same_context = (!a->context && !b->context) ||
                       (a->context && b->context && strcmp(a->context, b->context) == 0);
    return same_context && strcmp(a->name, b->name) == 0 &&
           aio__predicates_equal(&a->preds, &b->preds); /* else predicates tell them apart */
}

static int attach_view(struct aio_registry *reg, struct aio_view *view)
{
    struct aio_route *route = aio__registry_find_route(reg, view->route_name);
    if (!route)
        return aio__registry_error(reg, "view module '%s': a view names route '%s', which does not exist",
                         view->module->path, view->route_name);
    for (size_t i = 0; i < route->nviews; i++) {
        const struct aio_view *other = route->views[i];
        unsigned both = view_methods(other) & view_methods(view);
        if (both && same_selection(other, view)) {
            char methods[96];
            aio__http_format_methods(both, methods, sizeof(methods));
            return aio__registry_error(reg, "view module '%s': route '%s' has two views for %s",
                             view->module->path, route->name, methods);
        }
    }
    if (view->renderer == AIO_RENDER_TEMPLATE &&
        !(view->template = aio__module_template(view->module, view->template_name)))
        return aio__registry_error(reg, "view module '%s': route '%s': renderer template '%s' not found",
                         view->module->path, route->name, view->template_name);
    if ((view->context || view->name[0]) && !route->root)
        return aio__registry_error(reg, "view module '%s': route '%s': a view with a context or a "
                              "name needs a traversal route",
                         view->module->path, route->name);
    if (aio__array_grow((void **)&route->views, route->nviews, sizeof(*route->views)))
        return AIO_ENOMEM;
    route->views[route->nviews++] = view;
    route->methods |= view_methods(view);
    view->route = route;
    return AIO_OK;
}

/* Routes are looked up through an index once they are all added. */
static int build_index(struct aio_registry *reg)
{
    reg->patterns = calloc(reg->nroutes ? reg->nroutes : 1, sizeof(*reg->patterns));
    if (!reg->patterns)
        return AIO_ENOMEM;
    for (size_t i = 0; i < reg->nroutes; i++)
        reg->patterns[i] = &reg->routes[i]->pattern;
    reg->index = aio__route_index_new(reg->patterns, reg->nroutes);
    return reg->index ? AIO_OK : AIO_ENOMEM;
}

static int commit(struct aio_registry *reg)
{
    int rc = aio__tween_chain_build(reg);
    if (rc != AIO_OK)
        return rc;
    for (size_t i = 0; i < reg->nviews && rc == AIO_OK; i++)
        rc = attach_view(reg, reg->views[i]);
    if (rc != AIO_OK)
        return rc;
    for (size_t i = 0; i < reg->nroutes; i++)
        if (reg->routes[i]->nviews == 0)
            return aio__registry_error(reg, "view module '%s': route '%s' has no view",
                             reg->routes[i]->module->path, reg->routes[i]->name);
    return build_index(reg);
}

int aio__registry_construct(struct aio_registry *reg)
{
    for (size_t i = 0; i < reg->nmodules; i++) {
        struct aio_module *module = reg->modules[i];
        int rc = aio__module_load_templates(reg, module);
        if (rc != AIO_OK)
            return rc;
        struct aio_config cfg = {reg, module};
        int status = module->main(&cfg);
        if (reg->error[0])
            return AIO_EINVAL;
        if (status != 0)
            return aio__registry_error(reg, "view module '%s': aio_main() returned %d", module->path,
                             status);
    }
    return commit(reg);
}

/* ---- lookup ----------------------------------------------------- */

const char *aio_route_name(const aio_request *req)
{
    return req->route ? aio__route_get_name(req->route) : NULL;
}

const char *aio__route_label(const struct aio_request *req)
{
    return req->route ? aio__route_get_name(req->route) : "-";
}

struct aio_route *aio__registry_find_route(const struct aio_registry *reg, const char *name)
{
    for (size_t i = 0; name && i < reg->nroutes; i++)
        if (strcmp(reg->routes[i]->name, name) == 0)
            return reg->routes[i];
    return NULL;
}


static int selects(const struct aio_view *view, const char *context, const char *name)
{
    return (!view->context || (context && strcmp(view->context, context) == 0)) &&
           strcmp(view->name, name ? name : "") == 0;
}

enum aio_dispatch aio__route_pick_view(const struct aio_route *route, unsigned method_bit,
                                      const char *context, const char *name,
                                      const struct aio_request *req,
                                      const struct aio_view **view, unsigned *allowed)
{
    const struct aio_view *get_view = NULL;
    unsigned methods_here = 0;
    int refused = 0, acceptable_elsewise = 0;
    *view = NULL;
    for (size_t i = 0; i < route->nviews; i++) {
        const struct aio_view *v = route->views[i];
        if (!selects(v, context, name))
            continue;
        unsigned methods = v->flags & AIO_METHOD_BITS;
        methods_here |= methods ? methods : AIO_METHOD_BITS;
        int for_method = !methods || (methods & method_bit);
        int for_head = !for_method && method_bit == AIO_HEAD && (methods & AIO_GET);
        if (!for_method && !for_head)
            continue;
        enum aio_predicate_result judged =
            req ? aio__predicates_judge(&v->preds, req) : AIO_PREDICATES_HOLD;
        if (judged != AIO_PREDICATES_HOLD) {
            refused = 1; /* a view that only wants another media type: 406 */
            acceptable_elsewise |= judged == AIO_PREDICATES_ACCEPT_FAILS;
            continue;
        }
        if (for_head) {
            if (!get_view)
                get_view = v;
            continue;
        }
        /* more predicates first; then a view for this very context type
         * beats one for any */
        if (!*view || v->preds.count > (*view)->preds.count ||
            (v->preds.count == (*view)->preds.count && v->context && !(*view)->context))
            *view = v;
    }
    if (!*view && method_bit == AIO_HEAD)
        *view = get_view;
    if (*view)
        return AIO_DISPATCH_FOUND;
    if (refused)
        return acceptable_elsewise ? AIO_DISPATCH_NOT_ACCEPTABLE : AIO_DISPATCH_NOT_FOUND;
    if (!methods_here)
        return AIO_DISPATCH_NOT_FOUND;
    *allowed = methods_here | ((methods_here & AIO_GET) ? AIO_HEAD : 0);
    return AIO_DISPATCH_METHOD_NOT_ALLOWED;
}

enum aio_dispatch aio__registry_match(const struct aio_registry *reg, const char *path,
                                     struct aio_arena *arena, struct aio_kvlist *match,
                                     const struct aio_route **route)
{
    if (reg->index) {
        size_t i;
        int rc = aio__route_index_match(reg->index, path, arena, match, &i);
        if (rc < 0)
            return AIO_DISPATCH_ERROR;
        if (rc == 0)
            return AIO_DISPATCH_NOT_FOUND;
        *route = reg->routes[i];
        return AIO_DISPATCH_FOUND;
    }
    for (size_t i = 0; i < reg->nroutes; i++) { /* before the index is built */
        int rc = aio__pattern_match(&reg->routes[i]->pattern, path, arena, match);
        if (rc < 0)
            return AIO_DISPATCH_ERROR;
        if (rc > 0) {
            *route = reg->routes[i];
            return AIO_DISPATCH_FOUND;
        }
    }
    return AIO_DISPATCH_NOT_FOUND;
}

enum aio_dispatch aio__registry_dispatch(const struct aio_registry *reg, unsigned method_bit,
                                        const char *path, struct aio_arena *arena,
                                        struct aio_kvlist *match, const struct aio_view **view,
                                        unsigned *allowed)
{
    const struct aio_route *route;
    enum aio_dispatch found = aio__registry_match(reg, path, arena, match, &route);
    if (found != AIO_DISPATCH_FOUND)
        return found;
    return aio__route_pick_view(route, method_bit, NULL, "", NULL, view, allowed);
}
