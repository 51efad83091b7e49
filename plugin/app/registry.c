/* registry.c - view modules, routes and views (SPEC §4). Built once per
 * worker by the modules' aio_main() and read-only afterwards, so executor
 * threads may read it freely. */
#include "app/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static void free_module(struct aio_module *module)
{
    for (size_t i = 0; i < module->ntemplates; i++) {
        free(module->templates[i].name);
        aio__template_free(&module->templates[i].tpl);
    }
    free(module->templates);
    free(module->path);
    free(module->name);
    free(module->asset_dir);
    /* The handle stays open: code of the module may still be referenced
     * (atexit handlers, threads it started); the process is ending anyway. */
    free(module);
}

void aio__registry_free(struct aio_registry *reg)
{
    for (size_t i = 0; i < reg->nviews; i++) {
        free(reg->views[i]->route_name);
        free(reg->views[i]->template_name);
        free(reg->views[i]->permission);
        free(reg->views[i]->context);
        free(reg->views[i]->name);
        free(reg->views[i]);
    }
    for (size_t i = 0; i < reg->nroutes; i++) {
        aio__pattern_free(&reg->routes[i]->pattern);
        free(reg->routes[i]->name);
        free(reg->routes[i]->views);
        free(reg->routes[i]);
    }
    for (size_t i = 0; i < reg->nmodules; i++)
        free_module(reg->modules[i]);
    for (size_t i = 0; i < reg->nsettings; i++) {
        free(reg->settings[i].key);
        free(reg->settings[i].value);
    }
    for (size_t i = 0; i < reg->ntweens; i++)
        free(reg->tweens[i].name);
    for (size_t i = 0; i < reg->ntween_order; i++)
        free(reg->tween_order[i]);
    if (reg->authn.free_state) /* once: the memset below forgets it */
        reg->authn.free_state(reg->authn.state);
    free(reg->tweens);
    free(reg->tween_order);
    free(reg->chain);
    free(reg->views);
    free(reg->routes);
    free(reg->modules);
    free(reg->settings);
    memset(reg, 0, sizeof(*reg));
}

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

/* ---- modules ------------------------------------------------------ */

static struct aio_module *new_module(struct aio_registry *reg, const char *path,
                                     const char *name, const char *asset_dir)
{
    struct aio_module *module = calloc(1, sizeof(*module));
    if (!module)
        return NULL;
    module->path = strdup(path);
    module->name = strdup(name);
    module->asset_dir = strdup(asset_dir);
    if (!module->path || !module->name || !module->asset_dir ||
        aio__array_grow((void **)&reg->modules, reg->nmodules, sizeof(*reg->modules))) {
        free_module(module);
        return NULL;
    }
    reg->modules[reg->nmodules++] = module;
    return module;
}

int aio__registry_add_module(struct aio_registry *reg, const char *name, const char *asset_dir,
                            int (*main_fn)(aio_config *))
{
    struct aio_module *module = new_module(reg, name, name, asset_dir);
    if (!module)
        return AIO_ENOMEM;
    module->main = main_fn;
    return AIO_OK;
}

int aio__registry_open_module(struct aio_registry *reg, const char *path)
{
    /* dlopen() searches the library path for bare names: make them
     * relative to the working directory, as a user would expect. */
    struct aio_buf file = AIO_BUF_INIT;
    if (aio__buf_printf(&file, "%s%s", strchr(path, '/') ? "" : "./", path))
        return AIO_ENOMEM;
    const char *base = strrchr(file.data, '/') + 1;
    size_t name_len = strlen(base);
    if (name_len > 3 && strcmp(base + name_len - 3, ".so") == 0)
        name_len -= 3;
    struct aio_buf asset_dir = AIO_BUF_INIT;
    int rc = aio__buf_printf(&asset_dir, "%.*s%.*s", (int)(base - file.data), file.data,
                            (int)name_len, base);
    struct aio_module *module = NULL;
    if (rc == AIO_OK) {
        char *name = strndup(base, name_len);
        module = name ? new_module(reg, path, name, asset_dir.data) : NULL;
        free(name);
        rc = module ? AIO_OK : AIO_ENOMEM;
    }
    if (rc == AIO_OK) {
        struct stat st;
        if (stat(file.data, &st) != 0) {
            rc = aio__registry_error(reg, "view module '%s': %s", path, strerror(errno));
        } else if (!(module->handle = dlopen(file.data, RTLD_NOW | RTLD_LOCAL))) {
            rc = aio__registry_error(reg, "view module '%s' cannot be loaded: %s", path, dlerror());
        } else if (!(*(void **)&module->main = dlsym(module->handle, "aio_main"))) {
            rc = aio__registry_error(reg, "view module '%s' has no aio_main() function", path);
        }
        if (rc != AIO_OK) { /* a module that cannot run is not kept */
            reg->nmodules--;
            free_module(module);
        }
    }
    aio__buf_free(&file);
    aio__buf_free(&asset_dir);
    return rc;
}

/* ---- templates ---------------------------------------------------- */

static int read_file(const char *path, struct aio_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return AIO_ERROR;
    char chunk[4096];
    size_t n;
    int rc = AIO_OK;
    while (rc == AIO_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = aio__buf_append(out, chunk, n);
    if (ferror(f))
        rc = AIO_ERROR;
    fclose(f);
    return rc;
}

static int add_template(struct aio_registry *reg, struct aio_module *module, const char *file,
                        const char *name)
{
    struct aio_buf text = AIO_BUF_INIT;
    if (read_file(file, &text) != AIO_OK) {
        aio__buf_free(&text);
        return aio__registry_error(reg, "view module '%s': cannot read template %s: %s", module->path,
                         file, strerror(errno));
    }
    struct aio_template tpl;
    char why[256] = "";
    int rc = aio__template_compile(&tpl, text.data ? text.data : "", text.len, why, sizeof(why));
    aio__buf_free(&text);
    if (rc == AIO_EINVAL)
        return aio__registry_error(reg, "view module '%s': template %s: %s", module->path, name, why);
    if (rc != AIO_OK)
        return rc;
    char *copy = strdup(name);
    if (!copy || aio__array_grow((void **)&module->templates, module->ntemplates, sizeof(*module->templates))) {
        free(copy);
        aio__template_free(&tpl);
        return AIO_ENOMEM;
    }
    module->templates[module->ntemplates++] = (struct aio_template_entry){copy, tpl};
    return AIO_OK;
}

/* Compiles every file below <asset_dir>/<rel>, recursively. */
static int load_templates(struct aio_registry *reg, struct aio_module *module, const char *rel)
{
    struct aio_buf dir_path = AIO_BUF_INIT;
    if (aio__buf_printf(&dir_path, "%s/%s", module->asset_dir, rel))
        return AIO_ENOMEM;
    DIR *dir = opendir(dir_path.data);
    aio__buf_free(&dir_path);
    if (!dir)
        return AIO_OK; /* no templates: fine */
    int rc = AIO_OK;
    struct dirent *entry;
    while (rc == AIO_OK && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        struct aio_buf name = AIO_BUF_INIT, file = AIO_BUF_INIT;
        struct stat st;
        rc = aio__buf_printf(&name, "%s/%s", rel, entry->d_name) ||
                     aio__buf_printf(&file, "%s/%s", module->asset_dir, name.data)
                 ? AIO_ENOMEM
                 : AIO_OK;
        if (rc == AIO_OK && stat(file.data, &st) == 0)
            rc = S_ISDIR(st.st_mode) ? load_templates(reg, module, name.data)
                                     : add_template(reg, module, file.data, name.data);
        aio__buf_free(&name);
        aio__buf_free(&file);
    }
    closedir(dir);
    return rc;
}

const struct aio_template *aio__module_template(const struct aio_module *module, const char *name)
{
    for (size_t i = 0; module && i < module->ntemplates; i++)
        if (strcmp(module->templates[i].name, name) == 0)
            return &module->templates[i].tpl;
    return NULL;
}

/* ---- the configuration API of aio.h ------------------------------- */

struct aio_route *aio__registry_find_route(const struct aio_registry *reg, const char *name)
{
    for (size_t i = 0; name && i < reg->nroutes; i++)
        if (strcmp(reg->routes[i]->name, name) == 0)
            return reg->routes[i];
    return NULL;
}

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

int aio_add_view_spec(aio_config *cfg, const struct aio_view_spec *spec)
{
    const char *route = spec ? spec->route : NULL;
    if (spec && (spec->flags & AIO_MAPPER_BITS) == AIO_MAPPER_BITS)
        return aio__registry_error(cfg->registry,
                         "view module '%s': route '%s': a view is either a coroutine "
                         "(AIO_COROUTINE) or runs in the executor (AIO_EXECUTOR), not both",
                         cfg->module->path, route ? route : "");
    struct aio_view *view = add_view(cfg, route, spec && spec->view != NULL,
                                     spec ? spec->flags : 0, AIO_METHOD_BITS | AIO_MAPPER_BITS,
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
    view->permission = copy_or_null(spec->permission, &failed);
    view->context = copy_or_null(spec->context, &failed);
    return failed ? AIO_ENOMEM : AIO_OK;
}

int aio_add_view(aio_config *cfg, const char *route, aio_view_fn fn, unsigned flags)
{
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = route, .view = fn,
                                                          .flags = flags});
}

/* A websocket view runs in its connection's coroutine: it is a GET view
 * that may not use the executor. */
static struct aio_view *add_ws_view(aio_config *cfg, const char *route, int has_fn,
                                    unsigned flags)
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
                    AIO_GET | AIO_COROUTINE | AIO_WS_BYTES | AIO_VIEW_WEBSOCKET, NULL);
}

int aio_add_websocket_view(aio_config *cfg, const char *route, aio_ws_view_fn fn,
                           unsigned flags)
{
    struct aio_view *view = add_ws_view(cfg, route, fn != NULL, flags);
    if (view)
        view->ws_fn = fn;
    return added(cfg, view);
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
    struct aio_view *view = add_ws_view(cfg, route, callbacks && callbacks->on_message, flags);
    if (view)
        view->ws_callbacks = *callbacks;
    return added(cfg, view);
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
    return same_context && strcmp(a->name, b->name) == 0;
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
    return AIO_OK;
}

int aio__registry_construct(struct aio_registry *reg)
{
    for (size_t i = 0; i < reg->nmodules; i++) {
        struct aio_module *module = reg->modules[i];
        int rc = load_templates(reg, module, "templates");
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

/* ---- dispatch ----------------------------------------------------- */

static int selects(const struct aio_view *view, const char *context, const char *name)
{
    return (!view->context || (context && strcmp(view->context, context) == 0)) &&
           strcmp(view->name, name ? name : "") == 0;
}

enum aio_dispatch aio__route_pick_view(const struct aio_route *route, unsigned method_bit,
                                      const char *context, const char *name,
                                      const struct aio_view **view, unsigned *allowed)
{
    const struct aio_view *get_view = NULL;
    unsigned methods_here = 0;
    *view = NULL;
    for (size_t i = 0; i < route->nviews; i++) {
        const struct aio_view *v = route->views[i];
        if (!selects(v, context, name))
            continue;
        unsigned methods = v->flags & AIO_METHOD_BITS;
        methods_here |= methods ? methods : AIO_METHOD_BITS;
        if (!methods || (methods & method_bit)) {
            /* a view for this very context type beats one for any */
            if (!*view || (v->context && !(*view)->context))
                *view = v;
        } else if ((methods & AIO_GET) && !get_view) {
            get_view = v;
        }
    }
    if (!*view && method_bit == AIO_HEAD)
        *view = get_view;
    if (*view)
        return AIO_DISPATCH_FOUND;
    if (!methods_here)
        return AIO_DISPATCH_NOT_FOUND;
    *allowed = methods_here | ((methods_here & AIO_GET) ? AIO_HEAD : 0);
    return AIO_DISPATCH_METHOD_NOT_ALLOWED;
}

enum aio_dispatch aio__registry_match(const struct aio_registry *reg, const char *path,
                                     struct aio_arena *arena, struct aio_kvlist *match,
                                     const struct aio_route **route)
{
    for (size_t i = 0; i < reg->nroutes; i++) {
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
    return aio__route_pick_view(route, method_bit, NULL, "", view, allowed);
}
