/* template.h - a small template language for HTML pages, a subset of
 * mustache rendered against a JSON value (jansson's):
 *   {{name}}              the value, HTML-escaped
 *   {{{name}}}            the value, raw
 *   {{! text }}           a comment
 *   {{#name}}...{{/name}} a section: rendered once for each element of an
 *                         array (the element in front), once with an object
 *                         in front, once for any other true value; not at
 *                         all for false, null, "", [] or a missing name
 *   {{^name}}...{{/name}} an inverted section: rendered only when the
 *                         section would not be
 *   {{> name}}            a partial: another template of the module, by
 *                         the name aio_render() takes, rendered in place
 *                         with the same context
 * Names are [A-Za-z_][A-Za-z0-9_]* joined by '.' (members of members), or
 * "." (the element in front). A name is looked up in the innermost
 * section's value first, then outwards, to the context itself; an unknown
 * name renders as nothing (as in Jinja2). Strings render as they are, null
 * as nothing, numbers and booleans as JSON writes them, arrays and objects
 * as compact JSON. Templates are compiled once, rendered many times, and
 * are immutable after compilation, so any thread may render them. */
#ifndef AIO_TEMPLATE_H
#define AIO_TEMPLATE_H

#include <stddef.h>

#include "base/buf.h"

struct json_t;

enum aio_template_node_kind {
    AIO_TPL_TEXT,
    AIO_TPL_ESCAPED,
    AIO_TPL_RAW,
    AIO_TPL_SECTION,
    AIO_TPL_INVERTED,
    AIO_TPL_PARTIAL,
};

struct aio_template_node {
    enum aio_template_node_kind kind;
    const char *text; /* literal text, the name, or the partial's name */
    size_t len;
    size_t end;       /* sections: the node after their content */
    int line;         /* where the tag is, for partials checked later */
};

struct aio_template {
    char *source;
    struct aio_template_node *nodes;
    size_t nnodes;
};

/* How deep sections and partials may nest when rendering. */
#define AIO_TEMPLATE_MAX_DEPTH 32

/* The partial called `name` (not NUL-terminated), or NULL. */
typedef const struct aio_template *(*aio_template_partials)(void *ctx, const char *name,
                                                            size_t len);

/* Compiles `source`; on AIO_EINVAL, `error` says what and on which line. */
int aio__template_compile(struct aio_template *tpl, const char *source, size_t len,
                         char *error, size_t error_size);
void aio__template_free(struct aio_template *tpl);
/* Renders against `context` (NULL: nothing is known), finding partials
 * through `partials` (NULL: none). AIO_OK, AIO_ENOMEM, or AIO_EINVAL (a
 * partial that does not exist, nesting past AIO_TEMPLATE_MAX_DEPTH). */
int aio__template_render(const struct aio_template *tpl, const struct json_t *context,
                         aio_template_partials partials, void *partials_ctx,
                         struct aio_buf *out);
/* The value as the template writes it (see above), malloc'ed, or NULL. */
char *aio__template_text(const struct json_t *value);

/* Appends `s` with & < > " ' replaced by entities. */
int aio__html_escape(struct aio_buf *out, const char *s);

#endif
