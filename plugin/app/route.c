#include "app/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio.h>
#include "base/buf.h"

static int fail(char *error, size_t size, const char *source, const char *why)
{
    snprintf(error, size, "bad pattern '%s': %s", source, why);
    return AIO_EINVAL;
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Compiles a regex only to learn whether it is valid and how many groups
 * it opens; on failure, `reason` says why. */
static int regex_groups(const char *source, size_t *groups, char *reason, size_t size)
{
    regex_t re;
    int rerr = regcomp(&re, source, REG_EXTENDED);
    if (rerr) {
        regerror(rerr, &re, reason, size);
        return rerr;
    }
    *groups = re.re_nsub;
    regfree(&re);
    return 0;
}

/* Learns how many capture groups a placeholder's regex opens by letting
 * regcomp() parse it alone: counting '(' by hand gets bracket expressions
 * such as "[[:alpha:](]" wrong, and a miscount maps a later placeholder to
 * a group the matcher never fills. The fragment must also be whole: it
 * compiles on its own, and "(" + fragment does not. A fragment that closes
 * a group it did not open ("a)|(b)", which compiles alone because a lone
 * ')' may be taken as a literal) would close the group wrapping it and
 * take the rest of the pattern out of the anchored match. */
static int fragment_groups(const struct aio_pattern *pattern, const char *name, size_t name_len,
                           const char *frag, size_t len, size_t *groups, char *error, size_t size)
{
    char *opened = malloc(len + 2);
    if (!opened)
        return AIO_ENOMEM;
    opened[0] = '(';
    memcpy(opened + 1, frag, len);
    opened[len + 1] = '\0';
    char reason[120], why[200] = "";
    size_t ignored;
    if (regex_groups(opened + 1, groups, reason, sizeof(reason)))
        snprintf(why, sizeof(why), "invalid regex in placeholder '%.*s': %s", (int)name_len,
                 name, reason);
    else if (regex_groups(opened, &ignored, reason, sizeof(reason)) == 0)
        snprintf(why, sizeof(why), "the regex of placeholder '%.*s' closes a group it does "
                 "not open", (int)name_len, name);
    free(opened);
    return why[0] ? fail(error, size, pattern->source, why) : AIO_OK;
}

/* Finds the '}' closing the placeholder whose '{' is at `open`. */
static const char *closing_brace(const char *open)
{
    int depth = 0;
    for (const char *p = open; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p;
        }
    }
    return NULL;
}

static int append_literal(struct aio_buf *re, char c)
{
    if (strchr(".[]()*+?{}|^$\\", c)) {
        char escaped[2] = {'\\', c};
        return aio__buf_append(re, escaped, 2);
    }
    return aio__buf_append(re, &c, 1);
}

static int add_name(struct aio_pattern *pattern, const char *name, size_t len,
                    size_t group, char *error, size_t size)
{
    if (len == 0 || !is_name_start(name[0]))
        return fail(error, size, pattern->source, "placeholder names are [A-Za-z_][A-Za-z0-9_]*");
    for (size_t i = 1; i < len; i++)
        if (!is_name_char(name[i]))
            return fail(error, size, pattern->source, "placeholder names are [A-Za-z_][A-Za-z0-9_]*");
    for (size_t i = 0; i < pattern->nplaceholders; i++)
        if (strlen(pattern->names[i]) == len && memcmp(pattern->names[i], name, len) == 0)
            return fail(error, size, pattern->source, "duplicate placeholder name");
    if (pattern->nplaceholders == AIO_PATTERN_MAX_PLACEHOLDERS)
        return fail(error, size, pattern->source, "too many placeholders");
    char *copy = strndup(name, len);
    if (!copy)
        return AIO_ENOMEM;
    pattern->names[pattern->nplaceholders] = copy;
    pattern->groups[pattern->nplaceholders] = group;
    pattern->nplaceholders++;
    return AIO_OK;
}

/* Writes the whole regex of the pattern to `re`, records each placeholder's
 * group, and sets `*ngroups` to the number of groups the regex should have. */
static int translate(struct aio_pattern *pattern, struct aio_buf *re, size_t *ngroups,
                     char *error, size_t size)
{
    const char *src = pattern->source;
    size_t group = 1;
    if (src[0] != '/')
        return fail(error, size, src, "it must start with '/'");
    if (aio__buf_append(re, "^", 1))
        return AIO_ENOMEM;
    for (const char *p = src; *p; p++) {
        int rc;
        if (*p == '{') {
            const char *close = closing_brace(p);
            if (!close)
                return fail(error, size, src, "unclosed '{'");
            const char *colon = memchr(p + 1, ':', (size_t)(close - p - 1));
            const char *name_end = colon ? colon : close;
            rc = add_name(pattern, p + 1, (size_t)(name_end - p - 1), group, error, size);
            if (rc)
                return rc;
            if (colon) {
                size_t re_len = (size_t)(close - colon - 1);
                if (re_len == 0)
                    return fail(error, size, src, "empty regex in placeholder");
                size_t inner = 0;
                rc = fragment_groups(pattern, p + 1, (size_t)(colon - p - 1), colon + 1, re_len,
                                     &inner, error, size);
                if (rc)
                    return rc;
                rc = aio__buf_append(re, "(", 1) || aio__buf_append(re, colon + 1, re_len) ||
                     aio__buf_append(re, ")", 1);
                group += 1 + inner;
            } else {
                rc = aio__buf_append_str(re, "([^/]+)");
                group++;
            }
            p = close;
        } else if (*p == '}') {
            return fail(error, size, src, "unbalanced '}'");
        } else if (*p == '*' && is_name_start(p[1])) {
            const char *end = p + 1;
            while (is_name_char(*end))
                end++;
            if (*end != '\0')
                return fail(error, size, src, "'*name' may only end a pattern");
            rc = add_name(pattern, p + 1, (size_t)(end - p - 1), group, error, size);
            if (rc)
                return rc;
            rc = aio__buf_append_str(re, "(.*)");
            group++;
            p = end - 1;
        } else {
            rc = append_literal(re, *p);
        }
        if (rc)
            return AIO_ENOMEM;
    }
    *ngroups = group - 1;
    return aio__buf_append(re, "$", 1) ? AIO_ENOMEM : AIO_OK;
}

/* How much of a pattern is literal text before its first placeholder
 * ("{...}", or "*name" at the end). */
static size_t literal_prefix(const char *source)
{
    const char *p = source;
    while (*p && *p != '{' && !(*p == '*' && is_name_start(p[1])))
        p++;
    return (size_t)(p - source);
}

/* 1 when every placeholder is a plain {name} standing for a whole segment
 * (a '/' before it, a '/' or the end after it) or a final *name: then
 * ([^/]+) can only take that segment and (.*) the rest, and a walk along the
 * pattern finds what the regex would, without it. */
static int whole_segments(const char *source)
{
    for (const char *p = source; *p; p++) {
        if (*p == '{') {
            const char *close = closing_brace(p);
            if (!close || memchr(p, ':', (size_t)(close - p)) || p == source || p[-1] != '/' ||
                (close[1] != '/' && close[1] != '\0'))
                return 0;
            p = close;
        } else if (*p == '*' && is_name_start(p[1])) {
            return 1; /* the end: translate() allows it nowhere else */
        }
    }
    return 1;
}

static int match_segments(const struct aio_pattern *pattern, const char *path,
                          struct aio_arena *arena, struct aio_kvlist *match)
{
    const char *start[AIO_PATTERN_MAX_PLACEHOLDERS];
    size_t len[AIO_PATTERN_MAX_PLACEHOLDERS];
    size_t k = 0;
    const char *s = pattern->source, *p = path;
    while (*s) {
        if (*s == '{') {
            const char *end = strchr(p, '/');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (n == 0)
                return 0;
            start[k] = p;
            len[k++] = n;
            p += n;
            s = closing_brace(s) + 1;
        } else if (*s == '*' && is_name_start(s[1])) {
            start[k] = p;
            len[k++] = strlen(p);
            p += len[k - 1];
            break;
        } else if (*s++ != *p++) {
            return 0;
        }
    }
    if (*p)
        return 0;
    for (size_t i = 0; i < k; i++) {
        const char *value = aio__arena_strndup(arena, start[i], len[i]);
        if (!value || aio__kvlist_add(arena, match, pattern->names[i], value))
            return AIO_ENOMEM;
    }
    return 1;
}

/* The matcher reads each placeholder's group from what regexec() wrote:
 * refuse a map that points past the groups the compiled regex has, or a
 * regex whose group count differs from the one the map was built from. */
static int check_groups(const struct aio_pattern *pattern, size_t ngroups, char *error,
                        size_t size)
{
    int bad = pattern->regex.re_nsub != ngroups;
    for (size_t i = 0; i < pattern->nplaceholders; i++)
        bad |= pattern->groups[i] < 1 || pattern->groups[i] > pattern->regex.re_nsub;
    return bad ? fail(error, size, pattern->source, "its placeholder regexes do not combine")
               : AIO_OK;
}

int aio__pattern_compile(struct aio_pattern *pattern, const char *source, char *error,
                        size_t error_size)
{
    memset(pattern, 0, sizeof(*pattern));
    pattern->source = strdup(source);
    if (!pattern->source)
        return AIO_ENOMEM;
    struct aio_buf re = AIO_BUF_INIT;
    size_t ngroups = 0;
    int compiled = 0;
    int rc = translate(pattern, &re, &ngroups, error, error_size);
    if (rc == AIO_OK) {
        pattern->prefix_len = literal_prefix(source);
        pattern->literal = source[pattern->prefix_len] == '\0';
        pattern->segments = whole_segments(source);
        int rerr = regcomp(&pattern->regex, re.data, REG_EXTENDED);
        if (rerr) {
            char why[160] = "invalid regex: ";
            regerror(rerr, &pattern->regex, why + strlen(why), sizeof(why) - strlen(why));
            rc = fail(error, error_size, source, why);
        } else {
            compiled = 1;
            rc = check_groups(pattern, ngroups, error, error_size);
        }
    }
    aio__buf_free(&re);
    if (rc != AIO_OK) {
        if (compiled)
            regfree(&pattern->regex);
        for (size_t i = 0; i < pattern->nplaceholders; i++)
            free(pattern->names[i]);
        free(pattern->source);
        memset(pattern, 0, sizeof(*pattern));
    }
    return rc;
}

void aio__pattern_free(struct aio_pattern *pattern)
{
    if (!pattern->source)
        return;
    regfree(&pattern->regex);
    for (size_t i = 0; i < pattern->nplaceholders; i++)
        free(pattern->names[i]);
    free(pattern->source);
    memset(pattern, 0, sizeof(*pattern));
}

int aio__pattern_match(const struct aio_pattern *pattern, const char *path,
                      struct aio_arena *arena, struct aio_kvlist *match)
{
    if (pattern->literal) /* what the regex would say, without running it */
        return strcmp(path, pattern->source) == 0;
    if (strncmp(path, pattern->source, pattern->prefix_len) != 0)
        return 0;
    if (pattern->segments)
        return match_segments(pattern, path, arena, match);
    return aio__pattern_match_regex(pattern, path, arena, match);
}

int aio__pattern_match_regex(const struct aio_pattern *pattern, const char *path,
                            struct aio_arena *arena, struct aio_kvlist *match)
{
    size_t nsub = pattern->regex.re_nsub + 1;
    regmatch_t stack_groups[32];
    regmatch_t *groups = stack_groups;
    if (nsub > sizeof(stack_groups) / sizeof(stack_groups[0])) {
        groups = aio__arena_alloc(arena, nsub * sizeof(*groups));
        if (!groups)
            return AIO_ENOMEM;
    }
    if (regexec(&pattern->regex, path, nsub, groups, 0) != 0)
        return 0;
    /* aio__pattern_compile() checked that every placeholder's group is one
     * of the nsub regexec() wrote. Each is a top-level group of the anchored
     * regex, so it takes part in every match; were one not to (regexec()
     * writes rm_so == -1 then), the placeholder is empty rather than copied
     * from offsets regexec() did not set, and every name still has a value. */
    for (size_t i = 0; i < pattern->nplaceholders; i++) {
        const regmatch_t *g = &groups[pattern->groups[i]];
        const char *value = g->rm_so < 0 ? ""
                                         : aio__arena_strndup(arena, path + g->rm_so,
                                                             (size_t)(g->rm_eo - g->rm_so));
        if (!value || aio__kvlist_add(arena, match, pattern->names[i], value))
            return AIO_ENOMEM;
    }
    return 1;
}

/* ---- generating paths ------------------------------------------------------- */

/* What a path segment holds as it is (RFC 3986 pchar: unreserved,
 * sub-delims, ':' and '@'); a *rest placeholder keeps its '/' too. */
static int keeps(unsigned char c, int rest)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@", c) || (rest && c == '/');
}

static int append_encoded(struct aio_buf *out, const char *value, int rest)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int rc;
        if (keeps(*p, rest)) {
            rc = aio__buf_append(out, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = aio__buf_append(out, esc, 3);
        }
        if (rc)
            return AIO_ENOMEM;
    }
    return AIO_OK;
}

static const char *value_of(const struct aio_kvlist *values, const char *name, size_t len)
{
    for (size_t i = 0; i < values->count; i++)
        if (strlen(values->items[i].key) == len && memcmp(values->items[i].key, name, len) == 0)
            return values->items[i].value;
    return NULL;
}

static int is_placeholder(const struct aio_pattern *pattern, const char *name)
{
    for (size_t i = 0; i < pattern->nplaceholders; i++)
        if (strcmp(pattern->names[i], name) == 0)
            return 1;
    return 0;
}

/* The source with every placeholder replaced by its value: as the router
 * sees it (`plain`, decoded) and as a client sends it (`encoded`). */
static int fill(const struct aio_pattern *pattern, const struct aio_kvlist *values,
                struct aio_buf *plain, struct aio_buf *encoded)
{
    for (const char *p = pattern->source; *p; p++) {
        const char *name = NULL, *next = p;
        size_t len = 0;
        int rest = 0;
        if (*p == '{') {
            const char *close = closing_brace(p);
            const char *colon = memchr(p + 1, ':', (size_t)(close - p - 1));
            name = p + 1;
            len = (size_t)((colon ? colon : close) - name);
            next = close;
        } else if (*p == '*' && is_name_start(p[1])) {
            name = p + 1;
            len = strlen(name);
            rest = 1;
            next = name + len - 1;
        }
        if (!name) { /* literal text: the router matches it decoded, too */
            char c[2] = {*p, '\0'};
            if (aio__buf_append(plain, p, 1) || append_encoded(encoded, c, 1))
                return AIO_ENOMEM;
            continue;
        }
        const char *value = value_of(values, name, len);
        if (!value)
            return AIO_ENOTFOUND;
        if (aio__buf_append_str(plain, value) || append_encoded(encoded, value, rest))
            return AIO_ENOMEM;
        p = next;
    }
    return AIO_OK;
}

int aio__pattern_expand(const struct aio_pattern *pattern, const struct aio_kvlist *values,
                        struct aio_arena *arena, const char **path)
{
    *path = NULL;
    for (size_t i = 0; i < values->count; i++)
        if (!is_placeholder(pattern, values->items[i].key))
            return AIO_EINVAL;
    struct aio_buf plain = AIO_BUF_INIT, encoded = AIO_BUF_INIT;
    int rc = fill(pattern, values, &plain, &encoded);
    struct aio_kvlist match = {0};
    if (rc == AIO_OK) { /* a value its placeholder would not match ("/" in {id} ...) */
        int matched = aio__pattern_match_regex(pattern, plain.data ? plain.data : "", arena, &match);
        rc = matched == 1 ? AIO_OK : matched == 0 ? AIO_EINVAL : AIO_ENOMEM;
    }
    if (rc == AIO_OK) {
        for (size_t i = 0; i < match.count && rc == AIO_OK; i++) /* and each value whole */
            if (strcmp(match.items[i].value, value_of(values, match.items[i].key,
                                                      strlen(match.items[i].key))) != 0)
                rc = AIO_EINVAL;
    }
    if (rc == AIO_OK && !(*path = aio__arena_strdup(arena, encoded.data ? encoded.data : "")))
        rc = AIO_ENOMEM;
    aio__buf_free(&plain);
    aio__buf_free(&encoded);
    return rc;
}
