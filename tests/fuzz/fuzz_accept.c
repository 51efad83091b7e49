/* libFuzzer target for the Accept header matcher (proto/http.c), which
 * judges every request to a view with an accept predicate. Input: a media
 * type, a NUL, then an Accept header. The answer is 0 or 1, an absent or
 * blank header takes anything, and a header made of one exact range with
 * no q takes its own type. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    if (!nul)
        return 0;
    size_t type_len = (size_t)(nul - (const char *)data);
    char *type = strndup((const char *)data, type_len);
    char *accept = strndup(nul + 1, size - type_len - 1);
    if (!type || !accept)
        abort();
    int takes = aio__http_accepts(accept, type);
    assert(takes == 0 || takes == 1);
    assert(aio__http_accepts(NULL, type) == 1);
    if (aio__http_media_type_valid(type, strlen(type)))
        assert(aio__http_accepts(type, type) == 1);
    free(type);
    free(accept);
    return 0;
}
