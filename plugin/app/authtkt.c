/* authtkt.c - the built-in signed-ticket cookie policy (Pyramid's
 * AuthTktAuthenticationPolicy, hashalg='sha512').
 *
 * A ticket is  <HMAC-SHA-512 hex>!<timestamp>!<userid hex>!<tokens>  where
 * the HMAC, keyed with the secret, covers everything after the first '!'.
 * Tickets are compared in constant time; a tampered, truncated, expired or
 * foreign (other secret) ticket identifies nobody. Tokens ('.'-separated,
 * [A-Za-z0-9_:-]) are signed along and become principals. A userid spelled
 * like another kind of principal (aio__userid_reserved: "system.*", or with
 * a ':') is never signed, and a signed ticket naming one identifies nobody.
 */
#include "app/auth.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/registry.h"
#include "app/request.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/utf8.h"
#include "proto/http.h"

#define MAC_HEX 128
#define MAX_TICKET 4096
/* The longest ticket lifetime, cookie age... accepted: 100 years. */
#define MAX_AGE_MS (INT64_C(100) * 365 * 24 * 3600 * 1000)

struct authtkt {
    struct aio_authtkt opt; /* strings below are our copies */
    char *secret;
    size_t secret_len;
};

/* What this request's ticket said (kept in the request's memory). */
struct ticket {
    const char *userid;        /* NULL: no valid ticket */
    const char *tokens;        /* "" for none */
    long long timestamp;
    int checked;               /* the groupfinder ran */
    int known;                 /* ... and knew the user */
    aio_principals groups;
};

static int valid_tokens(const char *tokens)
{
    for (const char *p = tokens; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_:-.", *p))
            return 0;
    return tokens[0] != '.' && (!*tokens || tokens[strlen(tokens) - 1] != '.') &&
           !strstr(tokens, "..");
}

/* HMAC-SHA-512 of `signed_part` with the secret, as 128 hex digits. */
static int sign(const struct authtkt *t, const char *signed_part, char out[MAC_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha512(), t->secret, (int)t->secret_len, (const unsigned char *)signed_part,
              strlen(signed_part), mac, &mac_len) ||
        mac_len != MAC_HEX / 2)
        return AIO_ERROR;
    aio__hex_encode(mac, mac_len, out);
    return AIO_OK;
}

int aio__authtkt_make_ticket(const void *state, const char *userid, const char *tokens,
                            long long timestamp, struct aio_buf *out)
{
    const struct authtkt *t = state;
    size_t len = strlen(userid);
    if (!len || len > 512 || !aio__utf8_valid(userid, len) || aio__userid_reserved(userid) ||
        !valid_tokens(tokens))
        return AIO_EINVAL;
    char user_hex[1025];
    aio__hex_encode((const unsigned char *)userid, len, user_hex);
    struct aio_buf signed_part = AIO_BUF_INIT;
    char mac[MAC_HEX + 1];
    int rc = aio__buf_printf(&signed_part, "%lld!%s!%s", timestamp, user_hex, tokens);
    if (rc == AIO_OK)
        rc = sign(t, signed_part.data, mac);
    if (rc == AIO_OK)
        rc = aio__buf_printf(out, "%s!%s", mac, signed_part.data);
    aio__buf_free(&signed_part);
    return rc;
}

/* Whether a ticket stamped at `timestamp` (seconds, like `now`) is older
 * than `ms`: in milliseconds, the options' unit. The timestamp has at most
 * 12 digits (read_ticket), so the products cannot overflow. */
static int older_than(long long now, long long timestamp, int64_t ms)
{
    return (now - timestamp) * 1000 > ms;
}

int aio__authtkt_read_ticket(const void *state, const char *value, long long now,
                            struct aio_arena *arena, const char **userid, const char **tokens,
                            long long *timestamp)
{
    const struct authtkt *t = state;
    *userid = NULL;
    size_t len = value ? strlen(value) : 0;
    if (len < MAC_HEX + 5 || len > MAX_TICKET || value[MAC_HEX] != '!')
        return AIO_EINVAL;
    const char *ts = value + MAC_HEX + 1;
    const char *user = strchr(ts, '!');
    const char *tok = user ? strchr(user + 1, '!') : NULL;
    if (!user || !tok || strchr(tok + 1, '!') || user == ts || user - ts > 12)
        return AIO_EINVAL;
    for (const char *p = ts; p < user; p++)
        if (!isdigit((unsigned char)*p))
            return AIO_EINVAL;
    /* the signature first, in constant time: nothing else is trusted before */
    char expected[MAC_HEX + 1];
    if (sign(t, ts, expected) != AIO_OK || CRYPTO_memcmp(expected, value, MAC_HEX) != 0)
        return AIO_EINVAL;
    *timestamp = strtoll(ts, NULL, 10);
    if (t->opt.timeout_ms && older_than(now, *timestamp, t->opt.timeout_ms))
        return AIO_ETIMEDOUT;
    size_t user_hex_len = (size_t)(tok - user - 1);
    unsigned char *raw = aio__arena_alloc(arena, user_hex_len / 2 + 1);
    if (!raw || !user_hex_len || !aio__hex_decode(user + 1, user_hex_len, raw))
        return AIO_EINVAL;
    raw[user_hex_len / 2] = '\0';
    if (memchr(raw, '\0', user_hex_len / 2) || !aio__utf8_valid((char *)raw, user_hex_len / 2))
        return AIO_EINVAL;
    if (aio__userid_reserved((char *)raw)) {
        /* We never sign one, so whoever did holds the secret: another
         * application sharing it, or an older version that let such a
         * name log in. Said once per process: every request of such a
         * browser would otherwise repeat it. */
        static int logged;
        if (!logged) /* without the name: it could hold anything, newlines too */
            aio__log("authtkt: a validly signed ticket names a reserved userid (\"system.*\" "
                     "or with a ':'): treated as anonymous (further ones are not logged)");
        logged = 1;
        return AIO_EINVAL;
    }
    *userid = (const char *)raw;
    *tokens = aio__arena_strdup(arena, tok + 1);
    return *tokens ? AIO_OK : AIO_ENOMEM;
}

static int set_cookie(struct aio_request *req, const struct authtkt *t, const char *value,
                      int expire)
{
    struct aio_cookie_options o = {
        .max_age_s = (t->opt.max_age_ms + 999) / 1000, /* whole seconds, rounded up */
        .path = t->opt.path,
        .domain = t->opt.domain,
        .secure = t->opt.secure,
        .http_only = t->opt.http_only > 0,
        .same_site = t->opt.same_site,
    };
    return expire ? aio_delete_cookie(req, t->opt.cookie_name, &o)
                  : aio_set_cookie(req, t->opt.cookie_name, value, &o);
}

static int remember_with(struct aio_request *req, const struct authtkt *t, const char *userid,
                         const char *tokens)
{
    struct aio_buf ticket = AIO_BUF_INIT;
    int rc = aio__authtkt_make_ticket(t, userid, tokens, (long long)time(NULL), &ticket);
    if (rc == AIO_OK)
        rc = set_cookie(req, t, ticket.data, 0);
    aio__buf_free(&ticket);
    return rc;
}

static struct ticket *ticket_of(struct aio_request *req, const struct authtkt *t)
{
    struct ticket *tk = req->authn_data;
    if (tk)
        return tk;
    if (!(tk = req->authn_data = aio_alloc(req, sizeof(*tk))))
        return NULL;
    memset(tk, 0, sizeof(*tk));
    long long now = (long long)time(NULL);
    const char *value = aio_cookie(req, t->opt.cookie_name);
    if (value && aio__authtkt_read_ticket(t, value, now, &req->arena, &tk->userid, &tk->tokens,
                                         &tk->timestamp) != AIO_OK)
        tk->userid = NULL;
    /* an old ticket is renewed on the way out */
    if (tk->userid && t->opt.reissue_time_ms &&
        older_than(now, tk->timestamp, t->opt.reissue_time_ms))
        remember_with(req, t, tk->userid, tk->tokens);
    return tk;
}

static const char *tkt_unauthenticated_userid(aio_request *req, void *state)
{
    struct ticket *tk = ticket_of(req, state);
    return tk ? tk->userid : NULL;
}

/* The groupfinder runs once per request (it may suspend). */
static int check_user(aio_request *req, const struct authtkt *t, struct ticket *tk)
{
    if (!tk->checked && tk->userid) {
        tk->checked = 1;
        tk->known = 1;
        if (t->opt.callback) {
            int rc = t->opt.callback(req, tk->userid, &tk->groups, t->opt.callback_arg);
            if (rc != AIO_OK && rc != AIO_ENOTFOUND)
                return rc;
            tk->known = rc == AIO_OK;
        }
    }
    return AIO_OK;
}

static const char *tkt_authenticated_userid(aio_request *req, void *state)
{
    struct ticket *tk = ticket_of(req, state);
    if (!tk || check_user(req, state, tk) != AIO_OK)
        return NULL;
    return tk->known ? tk->userid : NULL;
}

static int tkt_effective_principals(aio_request *req, void *state, aio_principals *out)
{
    struct ticket *tk = ticket_of(req, state);
    if (!tk)
        return AIO_ENOMEM;
    int rc = check_user(req, state, tk);
    if (rc == AIO_OK)
        rc = aio_principals_add(req, out, AIO_EVERYONE);
    if (rc != AIO_OK || !tk->userid || !tk->known)
        return rc;
    rc = aio_principals_add(req, out, AIO_AUTHENTICATED);
    if (rc == AIO_OK)
        rc = aio_principals_add(req, out, tk->userid);
    for (size_t i = 0; rc == AIO_OK && i < tk->groups.count; i++)
        rc = aio_principals_add(req, out, tk->groups.names[i]);
    for (const char *p = tk->tokens; rc == AIO_OK && *p;) {
        size_t len = strcspn(p, ".");
        char *token = aio__arena_strndup(&req->arena, p, len);
        rc = token ? aio_principals_add(req, out, token) : AIO_ENOMEM;
        p += len + (p[len] == '.');
    }
    return rc;
}

static int tkt_remember(aio_request *req, void *state, const char *userid)
{
    return userid ? remember_with(req, state, userid, "") : AIO_EINVAL;
}

static int tkt_forget(aio_request *req, void *state)
{
    return set_cookie(req, state, "", 1);
}

int aio_authtkt_remember(aio_request *req, const char *userid, const char *tokens)
{
    const struct aio_authn_policy *p = aio__authn_policy(req);
    if (!p || p->remember != tkt_remember || !userid)
        return AIO_EINVAL;
    return remember_with(req, p->state, userid, tokens ? tokens : "");
}

/* ---- configuration -------------------------------------------------------- */

static void free_authtkt(void *state)
{
    struct authtkt *t = state;
    if (!t)
        return;
    OPENSSL_cleanse(t->secret, t->secret_len);
    free(t->secret);
    free((char *)t->opt.cookie_name);
    free((char *)t->opt.path);
    free((char *)t->opt.domain);
    free((char *)t->opt.same_site);
    free(t);
}

static int valid_attribute(const char *value)
{
    return value && *value && aio__http_valid_header_value(value) && !strchr(value, ';');
}

/* What is wrong with the options, or NULL. */
static const char *check_options(const struct aio_authtkt *o)
{
    if (!o->secret)
        return "no secret (give it as a setting: aio-setting = <name>=...)";
    if (strlen(o->secret) < AIO_AUTHTKT_MIN_SECRET)
        return "the secret is too short (at least 32 bytes)";
    if (o->cookie_name && !aio__http_is_token(o->cookie_name, strlen(o->cookie_name)))
        return "the cookie name is not a token";
    if ((o->path && !valid_attribute(o->path)) || (o->domain && !valid_attribute(o->domain)))
        return "bad cookie path or domain";
    if (o->same_site && strcasecmp(o->same_site, "Lax") && strcasecmp(o->same_site, "Strict") &&
        strcasecmp(o->same_site, "None"))
        return "same_site must be Lax, Strict or None";
    if (o->same_site && !strcasecmp(o->same_site, "None") && !o->secure)
        return "same_site None needs the Secure flag";
    if (o->timeout_ms < 0 || o->reissue_time_ms < 0 || o->max_age_ms < 0)
        return "timeout_ms, reissue_time_ms and max_age_ms cannot be negative";
    if (o->timeout_ms > MAX_AGE_MS || o->reissue_time_ms > MAX_AGE_MS || o->max_age_ms > MAX_AGE_MS)
        return "timeout_ms, reissue_time_ms and max_age_ms are at most 100 years";
    if (o->timeout_ms && o->reissue_time_ms >= o->timeout_ms)
        return "reissue_time_ms must be shorter than timeout_ms";
    return NULL;
}

int aio_use_authtkt(aio_config *cfg, const struct aio_authtkt *options)
{
    const char *why = options ? check_options(options) : "no options";
    if (why)
        return aio_config_fail(cfg, "authtkt: %s", why);
    struct authtkt *t = calloc(1, sizeof(*t));
    if (!t)
        return AIO_ENOMEM;
    if (strcmp(options->secret, AIO_AUTHTKT_EXAMPLE_SECRET) == 0)
        aio__log("authtkt: WARNING: the secret is the published example secret (example.ini): "
                 "anyone can sign a ticket for any user; give this application a secret of "
                 "its own");
    t->opt = *options;
    t->secret_len = strlen(options->secret);
    t->secret = strdup(options->secret);
    t->opt.cookie_name = strdup(options->cookie_name ? options->cookie_name : "auth_tkt");
    t->opt.path = strdup(options->path ? options->path : "/");
    t->opt.domain = options->domain ? strdup(options->domain) : NULL;
    t->opt.same_site = strdup(options->same_site ? options->same_site : "Lax");
    if (!options->http_only)
        t->opt.http_only = 1; /* on unless asked off (-1) */
    if (!t->secret || !t->opt.cookie_name || !t->opt.path || !t->opt.same_site ||
        (options->domain && !t->opt.domain)) {
        free_authtkt(t);
        return AIO_ENOMEM;
    }
    struct aio_authn_policy policy = {
        .unauthenticated_userid = tkt_unauthenticated_userid,
        .authenticated_userid = tkt_authenticated_userid,
        .effective_principals = tkt_effective_principals,
        .remember = tkt_remember,
        .forget = tkt_forget,
        .state = t,
        .free_state = free_authtkt,
    };
    int rc = aio_set_authentication_policy(cfg, &policy);
    if (rc != AIO_OK)
        free_authtkt(t); /* refused: still ours */
    return rc;
}
