/* registry.h - view modules, named routes, views and settings: what
 * aio_main() builds, and the lookup that maps a request to its view. */
#ifndef AIO_REGISTRY_H
#define AIO_REGISTRY_H

#include <stddef.h>

#include "aio.h"
#include "arena.h"
#include "params.h"
#include "route.h"
#include "template.h"

struct aio_template_entry {
    char *name; /* path below the asset dir: "templates/home.html" */
    struct aio_template tpl;
};

struct aio_module {
    char *path;      /* as configured */
    char *name;      /* file name without directory and ".so" */
    char *asset_dir; /* <dir of the .so>/<name> */
    void *handle;
    int (*main)(aio_config *);
    struct aio_template_entry *templates;
    size_t ntemplates;
};

/* Internal view flag: a websocket view (fn is unused). */
#define AIO_VIEW_WEBSOCKET 0x80000000u

struct aio_view {
    aio_view_fn fn;
    aio_ws_view_fn ws_fn;                /* websocket function view */
    struct aio_ws_callbacks ws_callbacks; /* websocket callback view */
    unsigned flags;
    char *route_name;
    struct aio_route *route; /* resolved when the registry is committed */
    struct aio_module *module;
};

struct aio_route {
    char *name;
    struct aio_pattern pattern;
    struct aio_module *module;
    struct aio_view **views;
    size_t nviews;
    unsigned methods; /* union of the views' method bits (all: ~0) */
};

struct aio_setting {
    char *key;
    char *value;
};

struct aio_registry {
    struct aio_module **modules;
    size_t nmodules;
    struct aio_route **routes;
    size_t nroutes;
    struct aio_view **views;
    size_t nviews;
    struct aio_setting *settings;
    size_t nsettings;
    char error[512]; /* the first configuration error, "" if none */
};

struct aio_config {
    struct aio_registry *registry;
    struct aio_module *module;
};

#define AIO_METHOD_BITS                                                                        \
    (AIO_GET | AIO_HEAD | AIO_POST | AIO_PUT | AIO_DELETE | AIO_PATCH | AIO_OPTIONS)
#define AIO_MAPPER_BITS (AIO_COROUTINE | AIO_EXECUTOR)

void aio_registry_init(struct aio_registry *reg);
void aio_registry_free(struct aio_registry *reg);

/* Settings: the last value given for a key wins. */
int aio_registry_add_setting(struct aio_registry *reg, const char *key, const char *value);
const char *aio_registry_setting(const struct aio_registry *reg, const char *key);

/* Opens a view module (dlopen, finds aio_main). On failure reg->error
 * names the module and the reason. */
int aio_registry_open_module(struct aio_registry *reg, const char *path);

/* Loads templates, runs every module's aio_main() and checks the result
 * (routes without views, views of unknown routes, conflicting views).
 * On failure reg->error says what, naming the module/route. */
int aio_registry_construct(struct aio_registry *reg);

/* Adds a module that is already in memory (tests, built-in modules). */
int aio_registry_add_module(struct aio_registry *reg, const char *name, const char *asset_dir,
                            int (*main_fn)(aio_config *));

enum aio_dispatch {
    AIO_DISPATCH_FOUND,
    AIO_DISPATCH_NOT_FOUND,          /* 404 */
    AIO_DISPATCH_METHOD_NOT_ALLOWED, /* 405, *allowed holds the methods */
    AIO_DISPATCH_ERROR,              /* out of memory */
};

/* Finds the view for a decoded path and method; fills `match`. */
enum aio_dispatch aio_registry_dispatch(const struct aio_registry *reg, unsigned method_bit,
                                        const char *path, struct aio_arena *arena,
                                        struct aio_kvlist *match, const struct aio_view **view,
                                        unsigned *allowed);

const struct aio_template *aio_module_template(const struct aio_module *module,
                                               const char *name);

static inline const char *aio_route_get_name(const struct aio_route *route)
{
    return route->name;
}

static inline const struct aio_module *aio_view_module(const struct aio_view *view)
{
    return view->module;
}

#endif
