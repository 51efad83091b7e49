#include "app/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio.h>

int aio__html_escape(struct aio_buf *out, const char *s)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *entity = NULL;
        switch (*p) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        case '\0': return aio__buf_append(out, run, (size_t)(p - run));
        default: continue;
        }
        if (aio__buf_append(out, run, (size_t)(p - run)) || aio__buf_append_str(out, entity))
            return AIO_ENOMEM;
        run = p + 1;
    }
}

static int line_of(const char *source, const char *at)
{
    int line = 1;
    for (const char *p = source; p < at; p++)
        line += *p == '\n';
    return line;
}

static int add_node(struct aio_template *tpl, size_t *cap, enum aio_template_node_kind kind,
                    const char *text, size_t len)
{
    if (kind == AIO_TPL_TEXT && len == 0)
        return AIO_OK;
    if (tpl->nnodes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct aio_template_node *nodes = realloc(tpl->nodes, ncap * sizeof(*nodes));
        if (!nodes)
            return AIO_ENOMEM;
        tpl->nodes = nodes;
        *cap = ncap;
    }
    tpl->nodes[tpl->nnodes++] = (struct aio_template_node){kind, text, len};
    return AIO_OK;
}

static int valid_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        int more = (c >= '0' && c <= '9') || c == '.';
        if (!(alpha || (i > 0 && more)))
            return 0;
    }
    return 1;
}

/* Parses the tag at `open` ("{{" or "{{{"); sets *end past it. */
static int parse_tag(struct aio_template *tpl, size_t *cap, const char *open, const char **end,
                     char *error, size_t error_size)
{
    int raw = open[2] == '{';
    const char *body = open + (raw ? 3 : 2);
    const char *close_mark = raw ? "}}}" : "}}";
    const char *close = strstr(body, close_mark);
    if (!close) {
        snprintf(error, error_size, "line %d: unclosed '%s'", line_of(tpl->source, open),
                 raw ? "{{{" : "{{");
        return AIO_EINVAL;
    }
    *end = close + strlen(close_mark);
    if (!raw && body[0] == '!')
        return AIO_OK; /* comment */
    while (body < close && (*body == ' ' || *body == '\t'))
        body++;
    const char *name_end = close;
    while (name_end > body && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    if (!valid_name(body, (size_t)(name_end - body))) {
        snprintf(error, error_size, "line %d: '%.*s' is not a variable name",
                 line_of(tpl->source, open), (int)(close - open + strlen(close_mark)), open);
        return AIO_EINVAL;
    }
    return add_node(tpl, cap, raw ? AIO_TPL_RAW : AIO_TPL_ESCAPED, body,
                    (size_t)(name_end - body));
}

int aio__template_compile(struct aio_template *tpl, const char *source, size_t len,
                         char *error, size_t error_size)
{
    memset(tpl, 0, sizeof(*tpl));
    if (memchr(source, '\0', len)) {
        snprintf(error, error_size, "template contains a NUL byte");
        return AIO_EINVAL;
    }
    tpl->source = strndup(source, len);
    if (!tpl->source)
        return AIO_ENOMEM;
    size_t cap = 0;
    const char *text = tpl->source;
    int rc = AIO_OK;
    for (;;) {
        const char *open = strstr(text, "{{");
        if (!open) {
            rc = add_node(tpl, &cap, AIO_TPL_TEXT, text, strlen(text));
            break;
        }
        rc = add_node(tpl, &cap, AIO_TPL_TEXT, text, (size_t)(open - text));
        if (rc == AIO_OK)
            rc = parse_tag(tpl, &cap, open, &text, error, error_size);
        if (rc != AIO_OK)
            break;
    }
    if (rc != AIO_OK)
        aio__template_free(tpl);
    return rc;
}

void aio__template_free(struct aio_template *tpl)
{
    free(tpl->nodes);
    free(tpl->source);
    memset(tpl, 0, sizeof(*tpl));
}

int aio__template_render(const struct aio_template *tpl, aio_template_lookup lookup, void *ctx,
                        struct aio_buf *out)
{
    for (size_t i = 0; i < tpl->nnodes; i++) {
        const struct aio_template_node *node = &tpl->nodes[i];
        int rc = AIO_OK;
        if (node->kind == AIO_TPL_TEXT) {
            rc = aio__buf_append(out, node->text, node->len);
        } else {
            const char *value = lookup(ctx, node->text, node->len);
            if (value)
                rc = node->kind == AIO_TPL_RAW ? aio__buf_append_str(out, value)
                                               : aio__html_escape(out, value);
        }
        if (rc != AIO_OK)
            return rc;
    }
    return AIO_OK;
}
