/* libFuzzer target for the request head: the byte checks of proto/http.c
 * and the parser of proto/http1.c that the uWSGI host runs after them.
 *
 * Input: bytes a client sends. aio__http_head_scan() must find the first
 * CRLF CRLF exactly when the head before it really has no CR without LF,
 * no LF without CR, no NUL or other control byte and no line over 65535
 * bytes (checked here the slow way), report a problem otherwise, and never
 * a problem in an incomplete head that has none yet. A clean head's request
 * line then goes through the checks and target decoding the uWSGI host
 * uses, and the whole head through aio__http1_parse_head(): its slices
 * must lie inside the head, a parsed head must have a token for a method,
 * HTTP/1.0 or 1.1, a Host when 1.1, and never both a length and chunked.
 * The parser also gets the raw input whole, clean or not: it must answer,
 * never crash. ASan and UBSan watch the memory. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
#include "proto/http.h"
#include "proto/http1.h"

static struct aio_http1_head parsed;

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && p + n <= buf + len;
}

static void whole_head(const char *buf, size_t len)
{
    const char *why = NULL;
    int status = aio__http1_parse_head(buf, len, &parsed, &why);
    if (status) {
        assert(why && (status == 400 || status == 431 || status == 501 || status == 505));
        return;
    }
    assert(inside(parsed.method, parsed.method_len, buf, len));
    assert(aio__http_is_token(parsed.method, parsed.method_len));
    assert(inside(parsed.target, parsed.target_len, buf, len) && parsed.target_len > 0);
    assert(parsed.minor == 0 || parsed.minor == 1);
    assert(parsed.minor == 0 || parsed.has_host);
    assert(!(parsed.chunked && parsed.has_content_length));
    assert(parsed.nheaders <= AIO_HTTP1_MAX_HEADERS);
    for (size_t i = 0; i < parsed.nheaders; i++) {
        const struct aio_http1_header *h = &parsed.headers[i];
        assert(inside(h->name, h->name_len, buf, len) && inside(h->value, h->value_len, buf, len));
        assert(aio__http_is_token(h->name, h->name_len) && !memchr(h->name, '_', h->name_len));
        assert(h->value_len == 0 || (h->value[0] != ' ' && h->value[h->value_len - 1] != ' '));
    }
}

static int really_clean(const uint8_t *b, size_t len)
{
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == '\r' && (i + 1 == len || b[i + 1] != '\n'))
            return 0;
        if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
            return 0;
        if (b[i] == '\n') {
            if (i - line > 0xffff)
                return 0;
            line = i + 1;
        }
        if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\r' && b[i] != '\n') || b[i] == 0x7f)
            return 0;
    }
    return 1;
}

static size_t first_terminator(const uint8_t *b, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(b + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* The request line's method, target and protocol, as uWSGI splits them. */
static void request_line(const char *head, size_t len)
{
    const char *end = memchr(head, '\r', len);
    const char *sp1 = end ? memchr(head, ' ', (size_t)(end - head)) : NULL;
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp2)
        return;
    if (aio__http_check_request_line(head, (size_t)(sp1 - head), sp2 + 1,
                                     (size_t)(end - sp2 - 1)) != NULL)
        return;
    struct aio_arena arena;
    aio__arena_init(&arena);
    const char *path = NULL;
    if (aio__http_decode_target(&arena, sp1 + 1, (size_t)(sp2 - sp1 - 1), &path) == NULL)
        assert(path && path[0] == '/');
    aio__arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *problem = NULL;
    size_t end = aio__http_head_scan(text, size, &problem);
    size_t terminator = first_terminator(data, size);
    const char *why = NULL;
    if (size && aio__http1_parse_head(text, size, &parsed, &why)) /* anything: no crash */
        assert(why);
    if (terminator && really_clean(data, terminator)) {
        assert(!problem && end == terminator);
        request_line(text, end);
        whole_head(text, end);
    } else if (terminator) {
        assert(problem && end == 0);
    } else {
        /* incomplete: a problem only if one is already certain */
        size_t certain = size && data[size - 1] == '\r' ? size - 1 : size;
        assert(end == 0 && (problem != NULL) == !really_clean(data, certain));
    }
    return 0;
}
