/* template.c - the template language of template.h: compiled once to a
 * flat array of nodes (a section's content is the nodes up to its `end`),
 * rendered per request by walking it with a stack of section values. */
#include "app/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <uwsgi-aio/aio.h>

#include "base/array.h"

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

/* ---- compiling ------------------------------------------------------------------ */

struct compiler {
    struct aio_template *tpl;
    size_t open[AIO_TEMPLATE_MAX_DEPTH]; /* the sections not closed yet */
    size_t nopen;
    char *error;
    size_t error_size;
};

static int fail_at(struct compiler *c, const char *at, const char *fmt, const char *what,
                   int what_len)
{
    int n = snprintf(c->error, c->error_size, "line %d: ", line_of(c->tpl->source, at));
    if (n > 0 && (size_t)n < c->error_size)
        snprintf(c->error + n, c->error_size - (size_t)n, fmt, what_len, what);
    return AIO_EINVAL;
}

static int add_node(struct aio_template *tpl, enum aio_template_node_kind kind,
                    const char *text, size_t len, int line)
{
    if (kind == AIO_TPL_TEXT && len == 0)
        return AIO_OK;
    if (aio__array_grow((void **)&tpl->nodes, tpl->nnodes, sizeof(*tpl->nodes)) != AIO_OK)
        return AIO_ENOMEM;
    tpl->nodes[tpl->nnodes++] = (struct aio_template_node){kind, text, len, 0, line};
    return AIO_OK;
}

static int is_word_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_word_char(char c)
{
    return is_word_start(c) || (c >= '0' && c <= '9');
}

/* "." or words joined by single dots */
static int valid_name(const char *s, size_t len)
{
    if (len == 1 && s[0] == '.')
        return 1;
    int at_word_start = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && !at_word_start && i + 1 < len) {
            at_word_start = 1;
        } else if (at_word_start ? is_word_start(s[i]) : is_word_char(s[i])) {
            at_word_start = 0;
        } else {
            return 0;
        }
    }
    return len > 0 && !at_word_start;
}

/* a partial's name: a path below the module's directory */
static int valid_partial(const char *s, size_t len)
{
    if (len == 0 || s[0] == '/')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!(is_word_char(s[i]) || s[i] == '.' || s[i] == '/' || s[i] == '-'))
            return 0;
    return 1;
}

static int open_section(struct compiler *c, const char *open, enum aio_template_node_kind kind,
                        const char *name, size_t len)
{
    if (c->nopen == AIO_TEMPLATE_MAX_DEPTH)
        return fail_at(c, open, "sections nest deeper than %.*s", "32", 2);
    c->open[c->nopen++] = c->tpl->nnodes;
    return add_node(c->tpl, kind, name, len, line_of(c->tpl->source, open));
}

static int close_section(struct compiler *c, const char *open, const char *name, size_t len)
{
    if (c->nopen == 0)
        return fail_at(c, open, "'{{/%.*s}}' closes no section", name, (int)len);
    struct aio_template_node *section = &c->tpl->nodes[c->open[c->nopen - 1]];
    if (section->len != len || memcmp(section->text, name, len) != 0)
        return fail_at(c, open, "'{{/%.*s}}' does not close the section open here", name,
                       (int)len);
    section->end = c->tpl->nnodes;
    c->nopen--;
    return AIO_OK;
}

/* Parses the tag at `open` ("{{" or "{{{"); sets *end past it. */
static int parse_tag(struct compiler *c, const char *open, const char **end)
{
    int raw = open[2] == '{';
    const char *body = open + (raw ? 3 : 2);
    const char *close_mark = raw ? "}}}" : "}}";
    const char *close = strstr(body, close_mark);
    if (!close)
        return fail_at(c, open, "unclosed '%.*s'", raw ? "{{{" : "{{", raw ? 3 : 2);
    *end = close + strlen(close_mark);
    char sigil = raw ? 0 : body[0];
    if (sigil == '!')
        return AIO_OK; /* comment */
    if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '>')
        body++;
    else
        sigil = 0;
    while (body < close && (*body == ' ' || *body == '\t'))
        body++;
    const char *name_end = close;
    while (name_end > body && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    size_t len = (size_t)(name_end - body);
    int tag_len = (int)(*end - open);
    if (sigil == '>')
        return valid_partial(body, len)
                   ? add_node(c->tpl, AIO_TPL_PARTIAL, body, len, line_of(c->tpl->source, open))
                   : fail_at(c, open, "'%.*s' is not a template name", open, tag_len);
    if (!valid_name(body, len))
        return fail_at(c, open, "'%.*s' is not a variable name", open, tag_len);
    switch (sigil) {
    case '#':
        return open_section(c, open, AIO_TPL_SECTION, body, len);
    case '^':
        return open_section(c, open, AIO_TPL_INVERTED, body, len);
    case '/':
        return close_section(c, open, body, len);
    default:
        return add_node(c->tpl, raw ? AIO_TPL_RAW : AIO_TPL_ESCAPED, body, len, 0);
    }
}

/* A section, inverted, closing, comment or partial tag alone on its line
 * (blanks around it) leaves no trace of the line in the output, as in
 * mustache: then *text_end is where that line begins, and *after where
 * the next one does. */
static int standalone(const char *source, const char *text, const char *open,
                      const char **text_end, const char **after)
{
    if (!open[2] || !strchr("#^/!>", open[2]))
        return 0;
    const char *close = strstr(open + 2, "}}");
    if (!close)
        return 0;
    const char *p = open;
    while (p > text && (p[-1] == ' ' || p[-1] == '\t'))
        p--;
    if (p != source && p[-1] != '\n')
        return 0;
    const char *q = close + 2;
    while (*q == ' ' || *q == '\t')
        q++;
    if (q[0] == '\r' && q[1] == '\n')
        q += 2;
    else if (*q == '\n')
        q++;
    else if (*q)
        return 0;
    *text_end = p;
    *after = q;
    return 1;
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
    struct compiler c = {.tpl = tpl, .error = error, .error_size = error_size};
    const char *text = tpl->source;
    int rc = AIO_OK;
    for (;;) {
        const char *open = strstr(text, "{{");
        if (!open) {
            rc = add_node(tpl, AIO_TPL_TEXT, text, strlen(text), 0);
            break;
        }
        const char *text_end = open, *after = NULL;
        int alone = standalone(tpl->source, text, open, &text_end, &after);
        rc = add_node(tpl, AIO_TPL_TEXT, text, (size_t)(text_end - text), 0);
        if (rc == AIO_OK)
            rc = parse_tag(&c, open, &text);
        if (rc != AIO_OK)
            break;
        if (alone)
            text = after;
    }
    if (rc == AIO_OK && c.nopen) {
        const struct aio_template_node *section = &tpl->nodes[c.open[c.nopen - 1]];
        snprintf(error, error_size, "line %d: section '%.*s' is not closed", section->line,
                 (int)section->len, section->text);
        rc = AIO_EINVAL;
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

/* ---- rendering -------------------------------------------------------------------- */

struct renderer {
    const json_t *stack[AIO_TEMPLATE_MAX_DEPTH + 1]; /* [0]: the context */
    size_t depth;
    aio_template_partials partials;
    void *partials_ctx;
    struct aio_buf *out;
};

/* One dotted step: the member `name` of an object. */
static const json_t *member(const json_t *value, const char *name, size_t len)
{
    return json_is_object(value) ? json_object_getn(value, name, len) : NULL;
}

/* The value of a name: its first word from the innermost section's value
 * outwards, the following words inside that. */
static const json_t *lookup(const struct renderer *r, const char *name, size_t len)
{
    if (len == 1 && name[0] == '.')
        return r->stack[r->depth];
    const char *dot = memchr(name, '.', len);
    size_t first = dot ? (size_t)(dot - name) : len;
    const json_t *value = NULL;
    for (size_t i = r->depth + 1; i-- > 0 && !value;)
        value = member(r->stack[i], name, first);
    while (value && dot) {
        const char *word = dot + 1;
        dot = memchr(word, '.', (size_t)(name + len - word));
        size_t word_len = dot ? (size_t)(dot - word) : (size_t)(name + len - word);
        value = member(value, word, word_len);
    }
    return value;
}

static int truthy(const json_t *value)
{
    if (!value || json_is_null(value) || json_is_false(value))
        return 0;
    if (json_is_array(value))
        return json_array_size(value) > 0;
    if (json_is_string(value))
        return json_string_length(value) > 0;
    return 1;
}

char *aio__template_text(const json_t *value)
{
    if (json_is_string(value))
        return strdup(json_string_value(value));
    if (!value || json_is_null(value))
        return strdup("");
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int render_value(struct renderer *r, const struct aio_template_node *node)
{
    const json_t *value = lookup(r, node->text, node->len);
    if (!value)
        return AIO_OK;
    if (json_is_string(value)) /* the common case, without a copy */
        return node->kind == AIO_TPL_RAW ? aio__buf_append_str(r->out, json_string_value(value))
                                         : aio__html_escape(r->out, json_string_value(value));
    char *text = aio__template_text(value);
    if (!text)
        return AIO_ENOMEM;
    int rc = node->kind == AIO_TPL_RAW ? aio__buf_append_str(r->out, text)
                                       : aio__html_escape(r->out, text);
    free(text);
    return rc;
}

static int render_nodes(struct renderer *r, const struct aio_template *tpl, size_t from,
                        size_t to);

/* The section's content with `value` in front. */
static int render_with(struct renderer *r, const struct aio_template *tpl, size_t i,
                       const json_t *value)
{
    if (r->depth == AIO_TEMPLATE_MAX_DEPTH)
        return AIO_EINVAL;
    r->stack[++r->depth] = value;
    int rc = render_nodes(r, tpl, i + 1, tpl->nodes[i].end);
    r->depth--;
    return rc;
}

static int render_section(struct renderer *r, const struct aio_template *tpl, size_t i)
{
    const struct aio_template_node *node = &tpl->nodes[i];
    const json_t *value = lookup(r, node->text, node->len);
    if (node->kind == AIO_TPL_INVERTED)
        return truthy(value) ? AIO_OK : render_nodes(r, tpl, i + 1, node->end);
    if (!truthy(value))
        return AIO_OK;
    if (!json_is_array(value))
        return render_with(r, tpl, i, value);
    for (size_t k = 0; k < json_array_size(value); k++) {
        int rc = render_with(r, tpl, i, json_array_get(value, k));
        if (rc != AIO_OK)
            return rc;
    }
    return AIO_OK;
}

static int render_partial(struct renderer *r, const struct aio_template_node *node)
{
    const struct aio_template *partial =
        r->partials ? r->partials(r->partials_ctx, node->text, node->len) : NULL;
    if (!partial || r->depth == AIO_TEMPLATE_MAX_DEPTH)
        return AIO_EINVAL; /* checked at start-up; a partial that includes itself */
    r->stack[r->depth + 1] = r->stack[r->depth]; /* the same context, one level deeper */
    r->depth++;
    int rc = render_nodes(r, partial, 0, partial->nnodes);
    r->depth--;
    return rc;
}

static int render_nodes(struct renderer *r, const struct aio_template *tpl, size_t from,
                        size_t to)
{
    for (size_t i = from; i < to; i++) {
        const struct aio_template_node *node = &tpl->nodes[i];
        int rc;
        switch (node->kind) {
        case AIO_TPL_TEXT:
            rc = aio__buf_append(r->out, node->text, node->len);
            break;
        case AIO_TPL_ESCAPED:
        case AIO_TPL_RAW:
            rc = render_value(r, node);
            break;
        case AIO_TPL_SECTION:
        case AIO_TPL_INVERTED:
            rc = render_section(r, tpl, i);
            i = node->end - 1; /* past its content */
            break;
        case AIO_TPL_PARTIAL:
            rc = render_partial(r, node);
            break;
        default:
            rc = AIO_EINVAL;
        }
        if (rc != AIO_OK)
            return rc;
    }
    return AIO_OK;
}

int aio__template_render(const struct aio_template *tpl, const json_t *context,
                         aio_template_partials partials, void *partials_ctx, struct aio_buf *out)
{
    struct renderer r = {.stack = {context}, .partials = partials,
                         .partials_ctx = partials_ctx, .out = out};
    return render_nodes(&r, tpl, 0, tpl->nnodes);
}
