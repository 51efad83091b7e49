/* libFuzzer target for the header-line splitter (proto/http.c), which reads
 * every header line an upstream sends to aio_http_request(). Input: one
 * line. Taken, its name is a token before the line's first colon and its
 * value lies within the line, with no space or tab at either end. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    size_t name_len, value_len;
    const char *value;
    if (!aio__http_split_header(line, size, &name_len, &value, &value_len))
        return 0;
    assert(name_len < size && line[name_len] == ':');
    assert(aio__http_is_token(line, name_len));
    assert(!memchr(line, ':', name_len));
    assert(value >= line + name_len + 1 && value + value_len <= line + size);
    if (value_len) {
        assert(value[0] != ' ' && value[0] != '\t');
        assert(value[value_len - 1] != ' ' && value[value_len - 1] != '\t');
    }
    return 0;
}
