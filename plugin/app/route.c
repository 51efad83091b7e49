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

/* Counts the capture groups a POSIX ERE fragment opens: every unescaped
 * '(' outside a bracket expression. */
static size_t count_groups(const char *re, size_t len)
{
    size_t groups = 0;
    for (size_t i = 0; i < len; i++) {
        if (re[i] == '\\') {
            i++;
        } else if (re[i] == '[') {
            i++;
            if (i < len && re[i] == '^')
                i++;
            if (i < len && re[i] == ']')
                i++; /* a leading ']' is literal */
            while (i < len && re[i] != ']')
                i++;
        } else if (re[i] == '(') {
            groups++;
        }
    }
    return groups;
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

static int translate(struct aio_pattern *pattern, struct aio_buf *re, char *error, size_t size)
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
                rc = aio__buf_append(re, "(", 1) || aio__buf_append(re, colon + 1, re_len) ||
                     aio__buf_append(re, ")", 1);
                group += 1 + count_groups(colon + 1, re_len);
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
    return aio__buf_append(re, "$", 1) ? AIO_ENOMEM : AIO_OK;
}

int aio__pattern_compile(struct aio_pattern *pattern, const char *source, char *error,
                        size_t error_size)
{
    memset(pattern, 0, sizeof(*pattern));
    pattern->source = strdup(source);
    if (!pattern->source)
        return AIO_ENOMEM;
    struct aio_buf re = AIO_BUF_INIT;
    int rc = translate(pattern, &re, error, error_size);
    if (rc == AIO_OK) {
        int rerr = regcomp(&pattern->regex, re.data, REG_EXTENDED);
        if (rerr) {
            char why[160] = "invalid regex: ";
            regerror(rerr, &pattern->regex, why + strlen(why), sizeof(why) - strlen(why));
            rc = fail(error, error_size, source, why);
        }
    }
    aio__buf_free(&re);
    if (rc != AIO_OK) {
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
