/* The signed-ticket authentication policy: tickets that are tampered with,
 * expired, signed with another secret or cut short identify nobody;
 * cookies, principals, groupfinder, reissue, remember/forget headers and
 * the configuration checks; reserved userids ("system.*", with a ':')
 * neither log in nor gain the principal they are spelled like. */
#include "unit/testing.h"

#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <time.h>

#include <uwsgi-aio/aio.h>
#include "app/auth.h"
#include "app/registry.h"
#include "app/request.h"
#include "base/hex.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

static struct aio_registry reg;
static struct aio_authtkt options;
static int groupfinder_calls;

static int groupfinder(aio_request *req, const char *userid, aio_principals *groups, void *arg)
{
    (void)arg;
    groupfinder_calls++;
    if (strcmp(userid, "admin") == 0)
        return aio_principals_add(req, groups, "group:admins");
    if (strcmp(userid, "alice") == 0)
        return aio_principals_add(req, groups, "group:users");
    return AIO_ENOTFOUND;
}

/* A groupfinder that knows everybody: a directory where anyone may
 * register any name. "root" is in group:admins. */
static int everybody(aio_request *req, const char *userid, aio_principals *groups, void *arg)
{
    (void)arg;
    groupfinder_calls++;
    return aio_principals_add(req, groups, strcmp(userid, "root") == 0 ? "group:admins"
                                                                        : "group:users");
}

static int root_acl(aio_request *req, void *context, const struct aio_ace **acl, size_t *count)
{
    (void)req, (void)context;
    static const struct aio_ace aces[] = {
        {AIO_ALLOW, "group:admins", "admin"},
        {AIO_ALLOW, AIO_AUTHENTICATED, "view"},
        {AIO_DENY, AIO_EVERYONE, AIO_ALL_PERMISSIONS},
    };
    *acl = aces;
    *count = sizeof(aces) / sizeof(aces[0]);
    return AIO_OK;
}

static int view(aio_request *req)
{
    (void)req;
    return AIO_OK;
}

static int app(aio_config *cfg)
{
    aio_set_root_acl(cfg, root_acl);
    aio_add_route(cfg, "page", "/page");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "page", .view = view});
    return aio_use_authtkt(cfg, &options);
}

static int build(void)
{
    aio__registry_free(&reg);
    aio__registry_init(&reg);
    assert_int_equal(aio__registry_add_module(&reg, "auth.so", "/nonexistent", app), AIO_OK);
    return aio__registry_construct(&reg);
}

static int setup(void **state)
{
    (void)state;
    options = (struct aio_authtkt){.secret = SECRET, .callback = groupfinder,
                                   .timeout_ms = 3600 * 1000, .reissue_time_ms = 600 * 1000};
    groupfinder_calls = 0;
    aio__registry_init(&reg);
    assert_int_equal(build(), AIO_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aio__registry_free(&reg);
    return 0;
}

static struct aio_buf ticket_buf;

static char *ticket_for(const char *userid, const char *tokens, long long when)
{
    struct aio_buf buf = AIO_BUF_INIT;
    aio__buf_free(&ticket_buf);
    assert_int_equal(aio__authtkt_make_ticket(reg.authn.state, userid, tokens, when, &buf), AIO_OK);
    ticket_buf = buf;
    return buf.data;
}

static int read_ticket(const char *value, const char **userid)
{
    const char *tokens;
    long long ts;
    return aio__authtkt_read_ticket(reg.authn.state, value, (long long)time(NULL), &arena, userid,
                                   &tokens, &ts);
}

static void good_ticket(void **state)
{
    (void)state;
    const char *userid = NULL, *tokens = NULL;
    long long ts = 0, now = (long long)time(NULL);
    char *value = ticket_for("J\xc3\xb6rg", "mfa.role:editor", now);
    assert_int_equal(aio__authtkt_read_ticket(reg.authn.state, value, now, &arena, &userid, &tokens,
                                             &ts),
                     AIO_OK);
    assert_str(userid, "J\xc3\xb6rg");
    assert_str(tokens, "mfa.role:editor");
    assert_true(ts == now);
    assert_int_equal(strlen(value), 128 + 1 + strlen("1700000000") + 1 + 10 + 1 + 15);
}

static void tampered_tickets(void **state)
{
    (void)state;
    const char *userid;
    char *value = strdup(ticket_for("alice", "", (long long)time(NULL)));
    size_t len = strlen(value);
    for (size_t i = 0; i < len; i++) {
        char saved = value[i];
        value[i] = saved == '0' ? '1' : '0'; /* one changed character anywhere */
        if (read_ticket(value, &userid) == AIO_OK)
            fail_msg("ticket changed at %zu still accepted", i);
        value[i] = saved;
    }
    /* a different user spliced onto alice's signature */
    char forged[512];
    snprintf(forged, sizeof(forged), "%.*s%s", 129 + 10 + 1, value, "61646d696e!");
    assert_int_not_equal(read_ticket(forged, &userid), AIO_OK);
    assert_null(userid);
    assert_int_equal(read_ticket(value, &userid), AIO_OK);
    free(value);
}

static void truncated_tickets(void **state)
{
    (void)state;
    const char *userid;
    char *value = strdup(ticket_for("alice", "a.b", (long long)time(NULL)));
    for (size_t len = 0; len < strlen(value); len++) {
        char *cut = strndup(value, len);
        if (read_ticket(cut, &userid) == AIO_OK)
            fail_msg("ticket cut to %zu bytes accepted", len);
        free(cut);
    }
    const char *garbage[] = {"", "!", "!!!", "nonsense", "a!b!c!d", NULL};
    for (int i = 0; garbage[i]; i++)
        assert_int_equal(read_ticket(garbage[i], &userid), AIO_EINVAL);
    free(value);
}

static void expired_ticket(void **state)
{
    (void)state;
    const char *userid;
    long long now = (long long)time(NULL);
    assert_int_equal(read_ticket(ticket_for("alice", "", now - 3601), &userid), AIO_ETIMEDOUT);
    assert_null(userid);
    assert_int_equal(read_ticket(ticket_for("alice", "", now - 3500), &userid), AIO_OK);
}

static void other_secret(void **state)
{
    (void)state;
    char *value = strdup(ticket_for("alice", "", (long long)time(NULL)));
    options.secret = "another secret, just as long as the first one";
    assert_int_equal(build(), AIO_OK);
    const char *userid;
    assert_int_equal(read_ticket(value, &userid), AIO_EINVAL);
    free(value);
}

static struct aio_request *request_with_cookie(const char *cookie)
{
    struct aio_request *req = aio__request_new();
    req->registry = &reg;
    if (cookie)
        aio__request_add_header_var(req, "HTTP_COOKIE", 11, cookie, strlen(cookie));
    return req;
}

static const char *header_value(struct aio_request *req, const char *name)
{
    for (size_t i = 0; i < req->response_headers.count; i++)
        if (strcmp(req->response_headers.items[i].key, name) == 0)
            return req->response_headers.items[i].value;
    return NULL;
}

static int has(const aio_principals *p, const char *name)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->names[i], name) == 0)
            return 1;
    return 0;
}

static void request_identity(void **state)
{
    (void)state;
    char cookie[1024];
    snprintf(cookie, sizeof(cookie), "theme=dark; auth_tkt=\"%s\" ; other=1",
             ticket_for("admin", "mfa", (long long)time(NULL)));
    struct aio_request *req = request_with_cookie(cookie);
    assert_str(aio_cookie(req, "theme"), "dark");
    assert_str(aio_cookie(req, "other"), "1");
    assert_str(aio_unauthenticated_userid(req), "admin");
    assert_str(aio_authenticated_userid(req), "admin");
    aio_principals p;
    assert_int_equal(aio_effective_principals(req, &p), AIO_OK);
    assert_str(p.names[0], AIO_EVERYONE);
    assert_true(has(&p, AIO_AUTHENTICATED) && has(&p, "admin") && has(&p, "group:admins"));
    assert_true(has(&p, "mfa")); /* a signed token becomes a principal */
    assert_int_equal(groupfinder_calls, 1); /* once per request */
    assert_null(header_value(req, "Set-Cookie")); /* a fresh ticket is not reissued */
    aio__request_free(req);
}

/* A ticket signed with SECRET here, not by the policy: for userids the
 * policy refuses to sign. */
static char *forged_ticket_for(const char *userid, long long when)
{
    char user_hex[1025], signed_part[1200], mac_hex[129];
    aio__hex_encode((const unsigned char *)userid, strlen(userid), user_hex);
    snprintf(signed_part, sizeof(signed_part), "%lld!%s!", when, user_hex);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha512(), SECRET, (int)strlen(SECRET),
                         (const unsigned char *)signed_part, strlen(signed_part), mac, &mac_len));
    assert_int_equal(mac_len, 64);
    aio__hex_encode(mac, mac_len, mac_hex);
    struct aio_buf buf = AIO_BUF_INIT;
    assert_int_equal(aio__buf_printf(&buf, "%s!%s", mac_hex, signed_part), AIO_OK);
    aio__buf_free(&ticket_buf);
    ticket_buf = buf;
    return buf.data;
}

static const char *reserved[] = {
    AIO_EVERYONE, AIO_AUTHENTICATED, "system.Admin", "group:admins", "role:editor", "a:", ":",
    NULL,
};

/* The page's request, routed (its view, hence the module's root ACL). */
static struct aio_request *page_request(const char *userid)
{
    char cookie[1024] = "";
    if (userid)
        snprintf(cookie, sizeof(cookie), "auth_tkt=%s",
                 forged_ticket_for(userid, (long long)time(NULL)));
    struct aio_request *req = request_with_cookie(userid ? cookie : NULL);
    unsigned allowed;
    assert_int_equal(aio__request_set_line(req, "GET", "/page", ""), AIO_OK);
    assert_int_equal(aio__registry_dispatch(&reg, AIO_GET, "/page", &req->arena, &req->match,
                                            &req->view, &allowed),
                     AIO_DISPATCH_FOUND);
    return req;
}

static void assert_anonymous(struct aio_request *req)
{
    assert_null(aio_unauthenticated_userid(req));
    assert_null(aio_authenticated_userid(req));
    aio_principals p;
    assert_int_equal(aio_effective_principals(req, &p), AIO_OK);
    assert_int_equal(p.count, 1);
    assert_str(p.names[0], AIO_EVERYONE);
}

static void reserved_userids_are_not_remembered(void **state)
{
    (void)state;
    for (int i = 0; reserved[i]; i++) {
        struct aio_buf buf = AIO_BUF_INIT;
        struct aio_request *req = request_with_cookie(NULL);
        if (aio__authtkt_make_ticket(reg.authn.state, reserved[i], "", 1700000000, &buf) !=
                AIO_EINVAL ||
            aio_remember(req, reserved[i]) != AIO_EINVAL ||
            aio_authtkt_remember(req, reserved[i], "") != AIO_EINVAL)
            fail_msg("userid '%s' remembered", reserved[i]);
        assert_null(header_value(req, "Set-Cookie"));
        aio__request_free(req);
        aio__buf_free(&buf);
    }
    /* what is not reserved: a dot or "system" elsewhere, tokens with ':' */
    struct aio_request *req = request_with_cookie(NULL);
    assert_int_equal(aio_remember(req, "system"), AIO_OK);
    assert_int_equal(aio_remember(req, "j.doe@example.com"), AIO_OK);
    assert_int_equal(aio_remember(req, "my.system.Everyone"), AIO_OK);
    assert_int_equal(aio_authtkt_remember(req, "alice", "role:editor"), AIO_OK);
    aio__request_free(req);
}

/* A validly signed ticket naming a reserved userid (another application
 * sharing the secret, an older version) identifies nobody. */
static void reserved_userids_in_tickets_identify_nobody(void **state)
{
    (void)state;
    const char *userid;
    /* the forger signs like the policy: its ticket for alice is good */
    assert_int_equal(read_ticket(forged_ticket_for("alice", (long long)time(NULL)), &userid),
                     AIO_OK);
    assert_str(userid, "alice");
    struct aio_request *req = page_request("alice");
    assert_str(aio_authenticated_userid(req), "alice");
    aio__request_free(req);
    groupfinder_calls = 0;

    for (int i = 0; reserved[i]; i++) {
        if (read_ticket(forged_ticket_for(reserved[i], (long long)time(NULL)), &userid) !=
            AIO_EINVAL)
            fail_msg("ticket for '%s' accepted", reserved[i]);
        assert_null(userid);
        req = page_request(reserved[i]);
        assert_anonymous(req);
        assert_int_equal(aio_has_permission(req, "view"), 0);
        aio__request_free(req);
    }
    assert_int_equal(groupfinder_calls, 0); /* never asked about them */
}

/* A user named "group:admins" is not in group:admins, with no groupfinder
 * or with one that accepts every name; real members still are. */
static void userid_is_never_a_group(void **state)
{
    (void)state;
    aio_groupfinder_fn finders[] = {NULL, everybody};
    for (int f = 0; f < 2; f++) {
        options.callback = finders[f];
        assert_int_equal(build(), AIO_OK);
        struct aio_request *req = page_request("group:admins");
        assert_anonymous(req);
        assert_int_equal(aio_has_permission(req, "admin"), 0);
        aio__request_free(req);

        req = page_request("alice"); /* an ordinary user: logged in, not an admin */
        assert_str(aio_authenticated_userid(req), "alice");
        aio_principals p;
        assert_int_equal(aio_effective_principals(req, &p), AIO_OK);
        assert_true(has(&p, AIO_AUTHENTICATED) && has(&p, "alice") && !has(&p, "group:admins"));
        assert_int_equal(aio_has_permission(req, "view"), 1);
        assert_int_equal(aio_has_permission(req, "admin"), 0);
        aio__request_free(req);
    }
    /* the ACL does admit the group: a member is let in */
    struct aio_request *req = page_request("root");
    assert_int_equal(aio_has_permission(req, "admin"), 1);
    aio__request_free(req);
}

static void unknown_user_and_anonymous(void **state)
{
    (void)state;
    char cookie[1024];
    snprintf(cookie, sizeof(cookie), "auth_tkt=%s", ticket_for("ghost", "", (long long)time(NULL)));
    struct aio_request *req = request_with_cookie(cookie);
    assert_str(aio_unauthenticated_userid(req), "ghost"); /* claimed ... */
    assert_null(aio_authenticated_userid(req));           /* ... not authenticated */
    aio_principals p;
    aio_effective_principals(req, &p);
    assert_int_equal(p.count, 1);
    assert_str(p.names[0], AIO_EVERYONE);
    aio__request_free(req);

    req = request_with_cookie("auth_tkt=tampered!123!616c696365!");
    assert_null(aio_unauthenticated_userid(req));
    assert_null(aio_authenticated_userid(req));
    aio__request_free(req);
    req = request_with_cookie(NULL);
    assert_null(aio_authenticated_userid(req));
    assert_null(aio_cookie(req, "auth_tkt"));
    aio__request_free(req);
}

static void reissue(void **state)
{
    (void)state;
    char cookie[1024];
    snprintf(cookie, sizeof(cookie), "auth_tkt=%s",
             ticket_for("alice", "", (long long)time(NULL) - 700)); /* older than reissue_time_ms */
    struct aio_request *req = request_with_cookie(cookie);
    assert_str(aio_authenticated_userid(req), "alice");
    const char *set = header_value(req, "Set-Cookie");
    assert_non_null(set);
    assert_true(strncmp(set, "auth_tkt=", 9) == 0);
    assert_true(strcmp(set + 9, cookie + 9) != 0); /* a new ticket */
    aio__request_free(req);
}

static void remember_and_forget(void **state)
{
    (void)state;
    struct aio_request *req = request_with_cookie(NULL);
    assert_int_equal(aio_remember(req, "alice"), AIO_OK);
    const char *set = header_value(req, "Set-Cookie");
    assert_non_null(strstr(set, "; Path=/"));
    assert_non_null(strstr(set, "; HttpOnly"));
    assert_non_null(strstr(set, "; SameSite=Lax"));
    assert_null(strstr(set, "Secure"));
    const char *userid;
    char value[1024];
    snprintf(value, sizeof(value), "%.*s", (int)strcspn(set + 9, ";"), set + 9);
    assert_int_equal(read_ticket(value, &userid), AIO_OK);
    assert_str(userid, "alice");
    assert_int_equal(aio_remember(req, ""), AIO_EINVAL);
    assert_int_equal(aio_authtkt_remember(req, "alice", "bad token!"), AIO_EINVAL);
    aio__request_free(req);

    req = request_with_cookie(NULL);
    assert_int_equal(aio_forget(req), AIO_OK);
    set = header_value(req, "Set-Cookie");
    assert_true(strncmp(set, "auth_tkt=;", 10) == 0);
    assert_non_null(strstr(set, "Max-Age=0"));
    aio__request_free(req);

    options.cookie_name = "sess";
    options.secure = 1;
    options.same_site = "Strict";
    options.domain = "example.com";
    options.max_age_ms = 60 * 1000;
    options.http_only = -1;
    assert_int_equal(build(), AIO_OK);
    req = request_with_cookie(NULL);
    aio_remember(req, "bob");
    set = header_value(req, "Set-Cookie");
    assert_true(strncmp(set, "sess=", 5) == 0);
    assert_non_null(strstr(set, "; Domain=example.com; Max-Age=60; Secure; SameSite=Strict"));
    assert_null(strstr(set, "HttpOnly"));
    aio__request_free(req);
}

/* The times are milliseconds, counted against a timestamp and a Max-Age
 * that are whole seconds. */
static void times_are_milliseconds(void **state)
{
    (void)state;
    options.timeout_ms = 1500;
    options.reissue_time_ms = 0;
    options.max_age_ms = 1500;
    assert_int_equal(build(), AIO_OK);
    const char *userid, *tokens;
    long long ts, now = (long long)time(NULL); /* one `now`: the clock may tick meanwhile */
    assert_int_equal(aio__authtkt_read_ticket(reg.authn.state, ticket_for("alice", "", now - 1),
                                             now, &arena, &userid, &tokens, &ts),
                     AIO_OK);
    assert_int_equal(aio__authtkt_read_ticket(reg.authn.state, ticket_for("alice", "", now - 2),
                                             now, &arena, &userid, &tokens, &ts),
                     AIO_ETIMEDOUT);
    struct aio_request *req = request_with_cookie(NULL);
    assert_int_equal(aio_remember(req, "alice"), AIO_OK);
    assert_non_null(strstr(header_value(req, "Set-Cookie"), "; Max-Age=2;")); /* rounded up */
    aio__request_free(req);
}

static void configuration_errors(void **state)
{
    (void)state;
    struct {
        struct aio_authtkt o;
        const char *why;
    } cases[] = {
        {{.secret = NULL}, "no secret"},
        {{.secret = "0123456789abcdef0123456789abcde"}, "too short"}, /* 31 bytes */
        {{.secret = SECRET, .cookie_name = "bad name"}, "not a token"},
        {{.secret = SECRET, .same_site = "Sometimes"}, "Lax, Strict or None"},
        {{.secret = SECRET, .same_site = "None"}, "needs the Secure flag"},
        {{.secret = SECRET, .timeout_ms = 10, .reissue_time_ms = 10}, "shorter than timeout"},
        {{.secret = SECRET, .max_age_ms = -1}, "cannot be negative"},
        {{.secret = SECRET, .timeout_ms = INT64_MAX}, "at most 100 years"},
        {{.secret = SECRET, .path = "/a;b"}, "path or domain"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        options = cases[i].o;
        assert_int_equal(build(), AIO_EINVAL);
        if (!strstr(reg.error, cases[i].why) || !strstr(reg.error, "authtkt"))
            fail_msg("case %zu: '%s' lacks '%s'", i, reg.error, cases[i].why);
    }
}

static void no_policy(void **state)
{
    (void)state;
    struct aio_registry empty;
    aio__registry_init(&empty);
    struct aio_request *req = aio__request_new();
    req->registry = &empty;
    assert_null(aio_authenticated_userid(req));
    aio_principals p;
    assert_int_equal(aio_effective_principals(req, &p), AIO_OK);
    assert_int_equal(p.count, 1);
    assert_str(p.names[0], AIO_EVERYONE);
    assert_int_equal(aio_remember(req, "x"), AIO_EINVAL);
    aio__request_free(req);
    aio__registry_free(&empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(good_ticket, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_tickets, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_tickets, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_ticket, setup, teardown),
        cmocka_unit_test_setup_teardown(times_are_milliseconds, setup, teardown),
        cmocka_unit_test_setup_teardown(other_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(request_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_user_and_anonymous, setup, teardown),
        cmocka_unit_test_setup_teardown(reissue, setup, teardown),
        cmocka_unit_test_setup_teardown(remember_and_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(reserved_userids_are_not_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(reserved_userids_in_tickets_identify_nobody, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(userid_is_never_a_group, setup, teardown),
        cmocka_unit_test_setup_teardown(configuration_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(no_policy, setup, teardown),
    };
    aio__arena_init(&arena);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    aio__arena_release(&arena);
    aio__buf_free(&ticket_buf);
    return failed;
}
