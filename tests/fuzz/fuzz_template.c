/* libFuzzer target for the template language (app/template.c), which
 * compiles every template of a view module at start-up and renders them
 * per request. Input: a template, a NUL, then a JSON context (no NUL, or
 * JSON that does not parse: no context). A template is compiled or
 * refused with a line number; a compiled one is rendered, with the
 * partial "self" being the template itself (so partials recurse until
 * the nesting bound) and any other partial missing. ASan and UBSan watch
 * the node array, the section ends and the context stack. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include <uwsgi-aio/aio_common.h>
#include "app/template.h"

static const struct aio_template *partials(void *ctx, const char *name, size_t len)
{
    return len == 4 && memcmp(name, "self", 4) == 0 ? ctx : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *source = (const char *)data;
    const char *nul = memchr(data, '\0', size);
    size_t source_len = nul ? (size_t)(nul - source) : size;
    struct aio_template tpl;
    char error[256] = "";
    int rc = aio__template_compile(&tpl, source, source_len, error, sizeof(error));
    if (rc != AIO_OK) {
        assert(rc == AIO_ENOMEM || strncmp(error, "line ", 5) == 0 ||
               strcmp(error, "template contains a NUL byte") == 0);
        return 0;
    }
    for (size_t i = 0; i < tpl.nnodes; i++) /* sections end inside the template, after them */
        if (tpl.nodes[i].kind == AIO_TPL_SECTION || tpl.nodes[i].kind == AIO_TPL_INVERTED)
            assert(tpl.nodes[i].end > i && tpl.nodes[i].end <= tpl.nnodes);
    json_t *context = NULL;
    if (nul)
        context = json_loadb(nul + 1, size - source_len - 1, JSON_DECODE_ANY, NULL);
    struct aio_buf out = AIO_BUF_INIT;
    rc = aio__template_render(&tpl, context, partials, &tpl, &out);
    assert(rc == AIO_OK || rc == AIO_EINVAL || rc == AIO_ENOMEM);
    aio__buf_free(&out);
    json_decref(context);
    aio__template_free(&tpl);
    return 0;
}
