/* Authentication, authorization and traversal, with callbacks that suspend
 * (the point of aiopyramid in these areas).
 *
 *   POST /login   form field `user`: remembers the user (a signed cookie)
 *   POST /logout  forgets
 *   GET  /whoami  {"userid": ...} (null when anonymous)
 *   GET  /secret  needs permission `view`, granted to every authenticated user
 *   GET  /admin   needs permission `admin`, granted to group:admins
 *   GET  /tree/...  served by traversal of a small resource tree whose child
 *                   lookups suspend; /tree/private/... is for admins only
 *
 * Users and their groups come from a "directory" looked up by a callback
 * that suspends (a 10 ms sleep stands for a database query): admin is in
 * group:admins, alice and bob in group:users; anybody else is unknown.
 * Setting: secure.secret (at least 32 bytes).
 */
#include <uwsgi-aio/aio.h>

#include <jansson.h>
#include <string.h>

#define LOOKUP_MS 10

/* ---- the directory: who is who ---------------------------------------- */

static const struct {
    const char *userid;
    const char *group;
} directory[] = {
    {"admin", "group:admins"},
    {"alice", "group:users"},
    {"bob", "group:users"},
};

static int groupfinder(aio_request *req, const char *userid, aio_principals *groups, void *arg)
{
    (void)arg;
    int rc = aio_sleep_ms(req, LOOKUP_MS); /* stands for a database query */
    if (rc != AIO_OK)
        return rc;
    for (size_t i = 0; i < sizeof(directory) / sizeof(directory[0]); i++)
        if (strcmp(directory[i].userid, userid) == 0)
            return aio_principals_add(req, groups, directory[i].group);
    return AIO_ENOTFOUND;
}

/* The routes' ACL, computed by a callback that suspends (aiopyramid's
 * __acl__ = synchronize(coroutine)). */
static int root_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *count)
{
    (void)context;
    static const struct aio_ace aces[] = {
        {AIO_ALLOW, AIO_AUTHENTICATED, "view"},
        {AIO_ALLOW, "group:admins", "admin"},
        {AIO_DENY, AIO_EVERYONE, AIO_ALL_PERMISSIONS},
    };
    int rc = aio_sleep_ms(req, LOOKUP_MS);
    *acl = aces;
    *count = sizeof(aces) / sizeof(aces[0]);
    return rc;
}

/* ---- login, logout, whoami, secret, admin -------------------------------- */

static int login(aio_request *req)
{
    const char *user = aio_param(req, "user");
    if (!user || !*user)
        return aio_respond_text(req, 400, "a form field 'user' is needed\n");
    int rc = aio_remember(req, user);
    if (rc != AIO_OK)
        return rc == AIO_EINVAL ? aio_respond_text(req, 400, "bad user name\n") : rc;
    return aio_result_set_string(req, "remembered", user);
}

static int logout(aio_request *req)
{
    int rc = aio_forget(req);
    return rc == AIO_OK ? aio_result_set_string(req, "forgotten", "yes") : rc;
}

static int whoami(aio_request *req)
{
    return aio_result_set_string(req, "userid", aio_authenticated_userid(req));
}

static int secret(aio_request *req)
{
    return aio_printf(req, "the secret is 42, %s\n", aio_authenticated_userid(req));
}

static int admin(aio_request *req)
{
    return aio_printf(req, "welcome to the admin page, %s\n", aio_authenticated_userid(req));
}

/* ---- the resource tree ------------------------------------------------------ */

struct node {
    const char *name;
    const char *body;            /* documents */
    const struct node *children; /* folders: ends with a NULL name */
    const struct aio_ace *acl;
    size_t acl_count;
};

static const struct aio_ace public_acl[] = {{AIO_ALLOW, AIO_EVERYONE, "view"}};
static const struct aio_ace admins_only[] = {
    {AIO_ALLOW, "group:admins", "view"},
    {AIO_DENY, AIO_EVERYONE, AIO_ALL_PERMISSIONS},
};

static const struct node docs[] = {
    {"readme", "Read me first.", NULL, NULL, 0},
    {"howto", "How to do it.", NULL, NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};
static const struct node private_docs[] = {
    {"plans", "World domination, phase 2.", NULL, NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};
static const struct node top[] = {
    {"docs", NULL, docs, NULL, 0},
    {"private", NULL, private_docs, admins_only, 2},
    {NULL, NULL, NULL, NULL, 0},
};
static const struct node root = {"", NULL, top, public_acl, 1};

static int node_acl(aio_request *req, void *resource, const struct aio_ace **acl, size_t *count)
{
    (void)req;
    const struct node *n = resource;
    *acl = n->acl;
    *count = n->acl_count;
    return AIO_OK;
}

static const struct aio_resource_type folder_type, document_type;

/* A child lookup that suspends, as one that reads a database would. */
static int child(aio_request *req, void *resource, const char *segment, void **found,
                 const struct aio_resource_type **type)
{
    const struct node *n = resource;
    int rc = aio_sleep_ms(req, LOOKUP_MS);
    if (rc != AIO_OK)
        return rc;
    for (const struct node *c = n->children; c && c->name; c++) {
        if (strcmp(c->name, segment) == 0) {
            *found = (void *)c;
            *type = c->children ? &folder_type : &document_type;
            return AIO_OK;
        }
    }
    return AIO_ENOTFOUND;
}

static const struct aio_resource_type folder_type = {"folder", child, node_acl};
static const struct aio_resource_type document_type = {"document", NULL, node_acl};

static int tree_root(aio_request *req, void **resource, const struct aio_resource_type **type)
{
    (void)req;
    *resource = (void *)&root;
    *type = &folder_type;
    return AIO_OK;
}

static int show_folder(aio_request *req)
{
    const struct node *n = aio_context(req);
    json_t *children = json_array();
    for (const struct node *c = n->children; c->name; c++)
        json_array_append_new(children, json_string(c->name));
    aio_result_set_string(req, "type", "folder");
    aio_result_set_string(req, "name", n->name);
    return json_object_set_new(aio_result(req), "children", children) ? AIO_ENOMEM : AIO_OK;
}

static int show_document(aio_request *req)
{
    const struct node *n = aio_context(req);
    aio_result_set_string(req, "type", "document");
    aio_result_set_string(req, "name", n->name);
    return aio_result_set_string(req, "body", n->body);
}

/* GET /tree/<document>/history/<anything>: a named view, with a subpath. */
static int document_history(aio_request *req)
{
    const struct node *n = aio_context(req);
    aio_result_set_string(req, "document", n->name);
    return aio_result_set_string(req, "subpath", aio_subpath(req));
}

int aio_main(aio_config *cfg)
{
    int rc = aio_use_authtkt(cfg, &(struct aio_authtkt){
                                      .secret = aio_config_setting(cfg, "secure.secret"),
                                      .callback = groupfinder,
                                      .timeout_ms = 3600 * 1000,
                                      .reissue_time_ms = 600 * 1000,
                                      .max_age_ms = 3600 * 1000,
                                  });
    if (rc != AIO_OK)
        return rc;
    aio_set_root_acl(cfg, root_acl);
    aio_add_route(cfg, "login", "/login");
    aio_add_route(cfg, "logout", "/logout");
    aio_add_route(cfg, "whoami", "/whoami");
    aio_add_route(cfg, "secret", "/secret");
    aio_add_route(cfg, "admin", "/admin");
    aio_add_route_traversal(cfg, "tree", "/tree*traverse", tree_root);
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "login", .view = login,
                                                   .flags = AIO_COROUTINE | AIO_POST,
                                                   .renderer = "json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "logout", .view = logout,
                                                   .flags = AIO_COROUTINE | AIO_POST,
                                                   .renderer = "json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "whoami", .view = whoami,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "json"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "secret", .view = secret,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "string", .permission = "view"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "admin", .view = admin,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "string",
                                                   .permission = "admin"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree", .view = show_folder,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "json", .permission = "view",
                                                   .context = "folder"});
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree", .view = show_document,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "json", .permission = "view",
                                                   .context = "document"});
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "tree",
                                                          .view = document_history,
                                                          .flags = AIO_COROUTINE | AIO_GET,
                                                          .renderer = "json",
                                                          .permission = "view",
                                                          .context = "document",
                                                          .name = "history"});
}
