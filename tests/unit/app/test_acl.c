#define _GNU_SOURCE
/* ACL authorization (first match wins, default deny, Deny before Allow,
 * lineage), traversal (segments, view names, subpaths, lineage), view
 * selection by context and name, renderers and the tween chain. */
#include "unit/testing.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <uwsgi-aio/aio.h>
#include "app/registry.h"
#include "app/request.h"

static struct aio_registry reg;

/* ---- a policy that says who the request is, to test ACLs --------------- */

static const char *principals_to_grant[8];

static const char *who(aio_request *req, void *state)
{
    (void)req;
    (void)state;
    return principals_to_grant[1] ? principals_to_grant[1] : NULL;
}

static int principals(aio_request *req, void *state, aio_principals *out)
{
    (void)state;
    int rc = aio_principals_add(req, out, AIO_EVERYONE);
    for (int i = 0; rc == AIO_OK && principals_to_grant[i]; i++)
        rc = aio_principals_add(req, out, principals_to_grant[i]);
    return rc;
}

static int nothing(aio_request *req, void *state, const char *userid)
{
    (void)req, (void)state, (void)userid;
    return AIO_OK;
}

static int forget_nothing(aio_request *req, void *state)
{
    (void)req, (void)state;
    return AIO_OK;
}

/* ---- a resource tree --------------------------------------------------- */

struct node {
    const char *name;
    const struct node *children;
    const struct aio_ace *acl;
    size_t nacl;
};

static const struct aio_ace root_aces[] = {
    {AIO_ALLOW, AIO_EVERYONE, "view"},
    {AIO_ALLOW, "group:editors", AIO_ALL_PERMISSIONS},
};
static const struct aio_ace locked_aces[] = {
    {AIO_DENY, "mallory", AIO_ALL_PERMISSIONS}, /* Deny before Allow: wins */
    {AIO_ALLOW, "mallory", "view"},
    {AIO_ALLOW, AIO_AUTHENTICATED, "view"},
    {AIO_DENY, AIO_EVERYONE, "view"},
};
static const struct node leaves[] = {{"leaf", NULL, NULL, 0}, {NULL, NULL, NULL, 0}};
static const struct node branches[] = {
    {"open", leaves, NULL, 0},
    {"locked", leaves, locked_aces, 4},
    {NULL, NULL, NULL, 0},
};
static const struct node tree_root = {"root", branches, root_aces, 2};
static int child_calls;

static int node_acl(aio_request *req, void *resource, const struct aio_ace **acl, size_t *n)
{
    (void)req;
    const struct node *node = resource;
    *acl = node->acl;
    *n = node->nacl;
    return AIO_OK;
}

static const struct aio_resource_type branch_type, leaf_type;

static int child(aio_request *req, void *resource, const char *segment, void **found,
                 const struct aio_resource_type **type)
{
    (void)req;
    child_calls++;
    if (strcmp(segment, "boom") == 0)
        return AIO_ERROR;
    for (const struct node *c = ((const struct node *)resource)->children; c && c->name; c++)
        if (strcmp(c->name, segment) == 0) {
            *found = (void *)c;
            *type = c->children ? &branch_type : &leaf_type;
            return AIO_OK;
        }
    return AIO_ENOTFOUND;
}

static const struct aio_resource_type branch_type = {"branch", child, node_acl};
static const struct aio_resource_type leaf_type = {"leaf", NULL, node_acl};

static int root_factory(aio_request *req, void **root, const struct aio_resource_type **type)
{
    (void)req;
    *root = (void *)&tree_root;
    *type = &branch_type;
    return AIO_OK;
}

static int module_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *n)
{
    (void)req, (void)context;
    static const struct aio_ace aces[] = {{AIO_ALLOW, AIO_AUTHENTICATED, "view"}};
    *acl = aces;
    *n = 1;
    return AIO_OK;
}

static int v_any(aio_request *req) { return aio_result_set_string(req, "view", "any"); }
static int v_leaf(aio_request *req) { return aio_result_set_string(req, "view", "leaf"); }
static int v_edit(aio_request *req) { return aio_result_set_string(req, "view", "edit"); }
static int v_page(aio_request *req)
{
    aio_result_set_string(req, "title", "<Hi>");
    aio_result_set_int(req, "count", 3);
    return aio_result_set_string(req, "missing", NULL);
}
static int v_text(aio_request *req) { return aio_printf(req, "plain"); }

static int app(aio_config *cfg)
{
    struct aio_authn_policy policy = {who, who, principals, nothing, forget_nothing, NULL, NULL};
    aio_set_authentication_policy(cfg, &policy);
    aio_set_root_acl(cfg, module_acl);
    aio_add_route_traversal(cfg, "tree", "/tree*traverse", root_factory);
    aio_add_route(cfg, "page", "/page");
    aio_add_route(cfg, "json", "/json");
    aio_add_route(cfg, "text", "/text");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree", .view = v_any});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree", .view = v_leaf,
                                                   .context = "leaf"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree", .view = v_edit,
                                                   .context = "leaf", .name = "edit",
                                                   .flags = AIO_POST});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "page", .view = v_page,
                                                   .renderer = "templates/page.html"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "json", .view = v_page,
                                                   .renderer = "json"});
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "text", .view = v_text,
                                                          .renderer = "string"});
}

static char asset_dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(asset_dir, "/tmp/aio-acl-XXXXXX");
    assert_non_null(mkdtemp(asset_dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/templates", asset_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/templates/page.html", asset_dir);
    FILE *f = fopen(path, "w");
    fputs("<h1>{{title}}</h1> {{count}} [{{missing}}] [{{nope}}]", f);
    fclose(f);
    aio__registry_init(&reg);
    assert_int_equal(aio__registry_add_module(&reg, "acl.so", asset_dir, app), AIO_OK);
    assert_int_equal(aio__registry_construct(&reg), AIO_OK);
    memset(principals_to_grant, 0, sizeof(principals_to_grant));
    child_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aio__registry_free(&reg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", asset_dir);
    return system(cmd);
}

/* Routes, traverses and picks the view of a GET (or `method`) to `path`. */
static struct aio_request *walk(const char *method, const char *path, int *found)
{
    struct aio_request *req = aio__request_new();
    req->registry = &reg;
    aio__request_set_line(req, method, path, "");
    const struct aio_route *route;
    assert_int_equal(aio__registry_match(&reg, path, &req->arena, &req->match, &route),
                     AIO_DISPATCH_FOUND);
    req->route = route;
    if (route->root && aio__traverse(req, route) != AIO_OK) {
        *found = -1;
        return req;
    }
    const struct aio_view *view;
    unsigned allowed;
    *found = aio__route_pick_view(route, req->method_bit, aio_context_type(req), req->view_name,
                                 req, &view, &allowed);
    req->view = *found == AIO_DISPATCH_FOUND ? view : NULL;
    return req;
}

static void traversal(void **state)
{
    (void)state;
    int found;
    struct aio_request *req = walk("GET", "/tree/open/leaf", &found);
    assert_int_equal(found, AIO_DISPATCH_FOUND);
    assert_str(aio_context_type(req), "leaf");
    assert_str(((const struct node *)aio_context(req))->name, "leaf");
    assert_str(aio_view_name(req), "");
    assert_str(aio_subpath(req), "");
    assert_int_equal(req->lineage_len, 3); /* leaf, open, root */
    assert_ptr_equal(req->view->fn, v_leaf); /* the view for this context type wins */
    aio__request_free(req);

    req = walk("POST", "/tree//open/./x/../leaf/edit/a/b", &found);
    assert_int_equal(found, AIO_DISPATCH_FOUND);
    assert_str(aio_view_name(req), "edit");
    assert_str(aio_subpath(req), "a/b");
    assert_ptr_equal(req->view->fn, v_edit);
    aio__request_free(req);

    req = walk("GET", "/tree/open/leaf/edit", &found); /* the named view is POST only */
    assert_int_equal(found, AIO_DISPATCH_METHOD_NOT_ALLOWED);
    aio__request_free(req);
    req = walk("GET", "/tree/open/leaf/nosuchview", &found);
    assert_int_equal(found, AIO_DISPATCH_NOT_FOUND);
    aio__request_free(req);
    req = walk("GET", "/tree", &found); /* the root itself, any-context view */
    assert_int_equal(found, AIO_DISPATCH_FOUND);
    assert_str(aio_context_type(req), "branch");
    assert_ptr_equal(req->view->fn, v_any);
    aio__request_free(req);
    req = walk("GET", "/tree/boom", &found); /* a failing lookup is an error */
    assert_int_equal(found, -1);
    aio__request_free(req);
    assert_true(child_calls > 0);
}

static int allowed(const char *path, const char *permission)
{
    int found;
    struct aio_request *req = walk("GET", path, &found);
    int granted = aio_has_permission(req, permission);
    aio__request_free(req);
    return granted;
}

static void acl(void **state)
{
    (void)state;
    /* anonymous: the root ACL lets everyone view, nothing else */
    assert_int_equal(allowed("/tree/open/leaf", "view"), 1);
    assert_int_equal(allowed("/tree/open/leaf", "edit"), 0); /* default deny */
    /* the locked branch's ACL comes first in the lineage */
    assert_int_equal(allowed("/tree/locked/leaf", "view"), 0);
    principals_to_grant[0] = AIO_AUTHENTICATED;
    principals_to_grant[1] = "alice";
    assert_int_equal(allowed("/tree/locked/leaf", "view"), 1);
    principals_to_grant[1] = "mallory"; /* Deny before Allow: the first match wins */
    assert_int_equal(allowed("/tree/locked/leaf", "view"), 0);
    principals_to_grant[1] = "alice";
    principals_to_grant[2] = "group:editors"; /* ALL_PERMISSIONS at the root */
    assert_int_equal(allowed("/tree/open/leaf", "edit"), 1);
    assert_int_equal(allowed("/tree/open/leaf", "anything"), 1);
    /* no permission asked: public */
    assert_int_equal(allowed("/tree/locked/leaf", NULL), 1);
    /* without traversal: the module's root ACL */
    memset(principals_to_grant, 0, sizeof(principals_to_grant));
    assert_int_equal(allowed("/page", "view"), 0);
    principals_to_grant[0] = AIO_AUTHENTICATED;
    assert_int_equal(allowed("/page", "view"), 1);
    assert_int_equal(allowed("/page", "edit"), 0);
}

static void renderers(void **state)
{
    (void)state;
    int found;
    struct aio_request *req = walk("GET", "/page", &found);
    assert_int_equal(req->view->fn(req), AIO_OK);
    assert_int_equal(aio__apply_renderer(req, req->view), AIO_OK);
    assert_str(req->response_body.data, "<h1>&lt;Hi&gt;</h1> 3 [] []");
    assert_str(aio_result_get(req, "title"), "<Hi>");
    assert_str(aio_result_get(req, "count"), "3");
    assert_str(aio_result_get(req, "missing"), "");
    assert_null(aio_result_get(req, "nope"));
    aio__request_free(req);

    req = walk("GET", "/json", &found);
    req->view->fn(req);
    assert_int_equal(aio__apply_renderer(req, req->view), AIO_OK);
    json_t *parsed = json_loads(req->response_body.data, 0, NULL);
    assert_non_null(parsed);
    assert_str(json_string_value(json_object_get(parsed, "title")), "<Hi>");
    assert_int_equal(json_integer_value(json_object_get(parsed, "count")), 3);
    assert_true(json_is_null(json_object_get(parsed, "missing")));
    json_decref(parsed);
    assert_int_equal(aio_result_set_string(req, "bad", "\xc0\xaf"), AIO_EINVAL); /* not UTF-8 */
    aio__request_free(req);

    req = walk("GET", "/text", &found);
    req->view->fn(req);
    assert_int_equal(aio__apply_renderer(req, req->view), AIO_OK);
    assert_str(req->response_body.data, "plain");
    assert_str(req->response_headers.items[0].value, "text/plain; charset=utf-8");
    aio__request_free(req);
}

/* ---- tweens --------------------------------------------------------------- */

static char trace[64];

static int outer(aio_request *req, aio_next *next)
{
    strcat(trace, "(outer");
    int rc = aio_call_next(req, next);
    strcat(trace, ")");
    return rc;
}

static int inner(aio_request *req, aio_next *next)
{
    strcat(trace, "(inner");
    int rc = aio_call_next(req, next);
    aio_add_header(req, "X-Inner", "seen");
    strcat(trace, ")");
    return rc;
}

static int handler(aio_request *req)
{
    strcat(trace, "view");
    return aio_set_status(req, 201);
}

static int tween_app(aio_config *cfg)
{
    aio_add_tween(cfg, "outer", outer);
    return aio_add_tween(cfg, "inner", inner);
}

static void tweens(void **state)
{
    (void)state;
    struct aio_registry r;
    aio__registry_init(&r);
    aio__registry_add_module(&r, "t.so", "/nonexistent", tween_app);
    assert_int_equal(aio__registry_construct(&r), AIO_OK);
    struct aio_request *req = aio__request_new();
    trace[0] = '\0';
    assert_int_equal(aio__run_tweens(req, r.chain, r.nchain, handler), AIO_OK);
    assert_str(trace, "(outer(innerview))");
    assert_int_equal(req->status, 201);
    assert_str(req->response_headers.items[0].key, "X-Inner");
    aio__request_free(req);
    aio__registry_free(&r);

    /* aio-tweens: a chosen order, with the built-in timing tween */
    aio__registry_init(&r);
    aio__registry_set_tween_order(&r, "timing, inner outer");
    aio__registry_add_module(&r, "t.so", "/nonexistent", tween_app);
    assert_int_equal(aio__registry_construct(&r), AIO_OK);
    req = aio__request_new();
    trace[0] = '\0';
    aio__run_tweens(req, r.chain, r.nchain, handler);
    assert_str(trace, "(inner(outerview))");
    assert_str(req->response_headers.items[1].key, "X-Response-Time");
    assert_non_null(strstr(req->response_headers.items[1].value, " ms"));
    aio__request_free(req);
    aio__registry_free(&r);

    aio__registry_init(&r);
    aio__registry_set_tween_order(&r, "outer,nosuch");
    aio__registry_add_module(&r, "t.so", "/nonexistent", tween_app);
    assert_int_equal(aio__registry_construct(&r), AIO_EINVAL);
    assert_non_null(strstr(r.error, "'nosuch'"));
    aio__registry_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(traversal, setup, teardown),
        cmocka_unit_test_setup_teardown(acl, setup, teardown),
        cmocka_unit_test_setup_teardown(renderers, setup, teardown),
        cmocka_unit_test(tweens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
