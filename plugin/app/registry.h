/* registry.h - view modules, named routes, views and settings: what
 * aio_main() builds, and the lookup that maps a request to its view. */
#ifndef AIO_APP_REGISTRY_H
#define AIO_APP_REGISTRY_H

#include <stddef.h>

#include <uwsgi-aio/aio.h>
#include "base/arena.h"
#include "proto/params.h"
#include "app/route.h"
#include "app/template.h"

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
    aio_acl_fn root_acl; /* aio_set_root_acl() */
    struct aio_template_entry *templates;
    size_t ntemplates;
};

/* Internal view flag: a websocket view (fn is unused). */
#define AIO_VIEW_WEBSOCKET 0x80000000u

enum aio_renderer {
    AIO_RENDER_NONE,     /* the view writes its response */
    AIO_RENDER_JSON,     /* aio_result() as JSON */
    AIO_RENDER_STRING,   /* the body as text/plain */
    AIO_RENDER_TEMPLATE, /* a template with aio_result()'s members */
};

/* A view's predicates (struct aio_view_spec's), copied; NULL: none. */
struct aio_view_predicates {
    char *accept;
    char *header_name, *header_value;   /* value NULL: present is enough */
    char *param_name, *param_value;
    char *content_type;
    int xhr;
    int count;                          /* how many are given */
};

struct aio_view {
    aio_view_fn fn;
    aio_ws_view_fn ws_fn;                /* websocket function view */
    struct aio_ws_callbacks ws_callbacks; /* websocket callback view */
    unsigned flags;
    char *route_name;
    enum aio_renderer renderer;
    char *template_name;                 /* AIO_RENDER_TEMPLATE */
    const struct aio_template *template; /* resolved when committed */
    char *permission;                    /* NULL: public */
    long timeout_ms;                     /* 0: aio-request-timeout, < 0: none */
    char *context;                       /* traversal: context type, NULL: any */
    char *name;                          /* traversal: view name, "" for the default */
    struct aio_view_predicates preds;    /* predicates.c */
    struct aio_param_check *params;      /* validate.c: declared parameters */
    size_t nparams;
    struct aio_route *route; /* resolved when the registry is committed */
    struct aio_module *module;
};

struct aio_route {
    char *name;
    struct aio_pattern pattern;
    aio_root_fn root;  /* traversal: the root factory, NULL without traversal */
    struct aio_module *module;
    struct aio_view **views;
    size_t nviews;
    unsigned methods; /* union of the views' method bits (all: ~0) */
};

struct aio_setting {
    char *key;
    char *value;
};

struct aio_tween {
    char *name;
    aio_tween_fn fn;
};

struct aio_error_view {
    int status; /* 0: any status without its own */
    aio_error_view_fn fn;
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
    struct aio_tween *tweens; /* added by modules, in order */
    size_t ntweens;
    char **tween_order;       /* `aio-tweens`, when given */
    size_t ntween_order;
    aio_tween_fn *chain;      /* the tweens that run, outermost first */
    size_t nchain;
    struct aio_authn_policy authn; /* .unauthenticated_userid NULL: none */
    struct aio_error_view *error_views; /* aio_add_error_view(), errors.c */
    size_t nerror_views;
    struct aio_route_index *index;  /* routeindex.c, built when committed */
    const struct aio_pattern **patterns; /* the routes' patterns, for the index */
    char error[512]; /* the first configuration error, "" if none */
};

struct aio_config {
    struct aio_registry *registry;
    struct aio_module *module;
};

#define AIO_METHOD_BITS                                                                        \
    (AIO_GET | AIO_HEAD | AIO_POST | AIO_PUT | AIO_DELETE | AIO_PATCH | AIO_OPTIONS)
#define AIO_MAPPER_BITS (AIO_COROUTINE | AIO_EXECUTOR)

void aio__registry_init(struct aio_registry *reg);
void aio__registry_free(struct aio_registry *reg);


/* A built-in tween by name ("timing"), or NULL (tween.c). */
aio_tween_fn aio__builtin_tween(const char *name);

/* Records the first configuration error (later ones often follow from it).
 * Returns AIO_EINVAL. */
int aio__registry_error(struct aio_registry *reg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Builds reg->chain (tween.c): aio-tweens' names in order, or every module
 * tween. */
int aio__tween_chain_build(struct aio_registry *reg);
/* `aio-tweens`: the tweens to run, by name, outermost first. */
int aio__registry_set_tween_order(struct aio_registry *reg, const char *names);

/* Settings: the last value given for a key wins. */
int aio__registry_add_setting(struct aio_registry *reg, const char *key, const char *value);
const char *aio__registry_setting(const struct aio_registry *reg, const char *key);

/* module.c: frees a module (its handle stays open: code of the module may
 * still be referenced, by atexit handlers or threads it started). */
void aio__module_free(struct aio_module *module);
/* module.c: compiles the module's templates/ (recursively). */
int aio__module_load_templates(struct aio_registry *reg, struct aio_module *module);

/* Opens a view module (dlopen, finds aio_main). On failure reg->error
 * names the module and the reason. */
int aio__registry_open_module(struct aio_registry *reg, const char *path);

/* Loads templates, runs every module's aio_main() and checks the result
 * (routes without views, views of unknown routes, conflicting views).
 * On failure reg->error says what, naming the module/route. */
int aio__registry_construct(struct aio_registry *reg);

/* Adds a module that is already in memory (tests, built-in modules). */
int aio__registry_add_module(struct aio_registry *reg, const char *name, const char *asset_dir,
                            int (*main_fn)(aio_config *));

enum aio_dispatch {
    AIO_DISPATCH_FOUND,
    AIO_DISPATCH_NOT_FOUND,          /* 404 */
    AIO_DISPATCH_METHOD_NOT_ALLOWED, /* 405, *allowed holds the methods */
    AIO_DISPATCH_NOT_ACCEPTABLE,     /* 406: a view failed on its accept predicate alone */
    AIO_DISPATCH_ERROR,              /* out of memory */
};

/* The route named `name`, or NULL. */
struct aio_route *aio__registry_find_route(const struct aio_registry *reg, const char *name);

/* The first route matching a decoded path; fills `match`. */
enum aio_dispatch aio__registry_match(const struct aio_registry *reg, const char *path,
                                     struct aio_arena *arena, struct aio_kvlist *match,
                                     const struct aio_route **route);

/* The route's view for the method, the context type (NULL: none, as
 * without traversal) and the view name ("" for the default view), whose
 * predicates `req` satisfies (NULL: predicates are not looked at). */
enum aio_dispatch aio__route_pick_view(const struct aio_route *route, unsigned method_bit,
                                      const char *context, const char *name,
                                      const struct aio_request *req,
                                      const struct aio_view **view, unsigned *allowed);

/* validate.c: a view's declared parameters (struct aio_param_rule),
 * compiled; freed; checked against a request: 0, or 400 with *why (in
 * request memory) saying which parameter broke which rule. */
struct aio_param_check;
int aio__param_rules_copy(struct aio_view *view, const struct aio_param_rule *rules,
                          char *why, size_t why_size);
void aio__param_rules_free(struct aio_view *view);
int aio__params_check(struct aio_request *req, const struct aio_view *view, const char **why);

/* predicates.c: what a view's spec says (AIO_OK, AIO_EINVAL with the
 * reason in *why, AIO_ENOMEM), freeing, and judging a request. */
int aio__predicates_copy(struct aio_view_predicates *p, const struct aio_view_spec *spec,
                         const char **why);
void aio__predicates_free(struct aio_view_predicates *p);
/* 1 when both say the same (no request could tell their views apart). */
int aio__predicates_equal(const struct aio_view_predicates *a, const struct aio_view_predicates *b);
enum aio_predicate_result {
    AIO_PREDICATES_HOLD,
    AIO_PREDICATES_ACCEPT_FAILS, /* only `accept` fails */
    AIO_PREDICATES_FAIL,
};
enum aio_predicate_result aio__predicates_judge(const struct aio_view_predicates *p,
                                                const struct aio_request *req);

/* Both, for routes without traversal. */
enum aio_dispatch aio__registry_dispatch(const struct aio_registry *reg, unsigned method_bit,
                                        const char *path, struct aio_arena *arena,
                                        struct aio_kvlist *match, const struct aio_view **view,
                                        unsigned *allowed);

const struct aio_template *aio__module_template(const struct aio_module *module,
                                               const char *name);
/* The same for name[0..len) (a partial's name inside a template). */
const struct aio_template *aio__module_template_n(const struct aio_module *module,
                                                 const char *name, size_t len);

/* The request's route name for a log line: "-" before (or without) one. */
const char *aio__route_label(const struct aio_request *req);

static inline const char *aio__route_get_name(const struct aio_route *route)
{
    return route->name;
}

static inline const struct aio_module *aio__view_module(const struct aio_view *view)
{
    return view->module;
}

#endif
