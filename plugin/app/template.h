/* template.h - a deliberately small template language for HTML pages:
 *   {{name}}     the value, HTML-escaped
 *   {{{name}}}   the value, raw
 *   {{! text }}  a comment
 * Names are [A-Za-z_][A-Za-z0-9_.]*; an unknown name renders as nothing
 * (as in Jinja2). Templates are compiled once, rendered many times, and are
 * immutable after compilation, so any thread may render them. */
#ifndef AIO_TEMPLATE_H
#define AIO_TEMPLATE_H

#include <stddef.h>

#include "base/buf.h"

enum aio_template_node_kind {
    AIO_TPL_TEXT,
    AIO_TPL_ESCAPED,
    AIO_TPL_RAW,
};

struct aio_template_node {
    enum aio_template_node_kind kind;
    const char *text; /* literal text, or the variable name */
    size_t len;
};

struct aio_template {
    char *source;
    struct aio_template_node *nodes;
    size_t nnodes;
};

/* Returns the value of a variable (NUL-terminated), or NULL when unknown. */
typedef const char *(*aio_template_lookup)(void *ctx, const char *name, size_t len);

/* Compiles `source`; on AIO_EINVAL, `error` says what and on which line. */
int aio__template_compile(struct aio_template *tpl, const char *source, size_t len,
                         char *error, size_t error_size);
void aio__template_free(struct aio_template *tpl);
int aio__template_render(const struct aio_template *tpl, aio_template_lookup lookup,
                        void *ctx, struct aio_buf *out);

/* Appends `s` with & < > " ' replaced by entities. */
int aio__html_escape(struct aio_buf *out, const char *s);

#endif
