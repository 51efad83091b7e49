#include "proto/http1.h"

#include <string.h>
#include <strings.h>

#include "proto/http.h"

/* ---- small scanners over one line -------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int slice_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* Calls `each` for every element of a comma-separated list value (empty
 * elements skipped, whitespace trimmed); stops at the first non-zero. */
static int each_list_element(const char *v, size_t len,
                             int (*each)(const char *s, size_t n, void *ctx), void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i++;
        while (start < end && is_ows(v[start]))
            start++;
        while (end > start && is_ows(v[end - 1]))
            end--;
        if (end > start) {
            int rc = each(v + start, end - start, ctx);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the request line ---------------------------------------------------- */

static int parse_version(const char *v, size_t len, int *minor, const char **why)
{
    if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9') {
        *why = "the request line does not end with an HTTP version";
        return 400;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        *why = "only HTTP/1.0 and HTTP/1.1 are served";
        return 505;
    }
    *minor = v[7] - '0';
    return 0;
}

static int valid_target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

/* METHOD SP TARGET SP HTTP/1.x, one space each. */
static int parse_request_line(const char *line, size_t len, struct aio_http1_head *h,
                              const char **why)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1 || !aio__http_is_token(line, (size_t)(sp1 - line))) {
        *why = "the request line does not start with a method";
        return 400;
    }
    h->method = line;
    h->method_len = (size_t)(sp1 - line);
    const char *target = sp1 + 1, *end = line + len;
    const char *p = target;
    while (p < end && valid_target_byte((unsigned char)*p))
        p++;
    if (p == target || p == end || *p != ' ') {
        *why = "the request target is missing or has a space or control byte in it";
        return 400;
    }
    h->target = target;
    h->target_len = (size_t)(p - target);
    return parse_version(p + 1, (size_t)(end - p - 1), &h->minor, why);
}

/* ---- header fields with a meaning for the framing ------------------------ */

static int parse_content_length(const char *v, size_t len, struct aio_http1_head *h,
                                const char **why)
{
    uint64_t n = 0;
    if (len == 0) {
        *why = "an empty Content-Length";
        return 400;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            *why = "a Content-Length that is not a decimal number";
            return 400;
        }
        unsigned d = (unsigned)(v[i] - '0');
        if (n > (UINT64_MAX - d) / 10) {
            *why = "a Content-Length too large to be read";
            return 400;
        }
        n = n * 10 + d;
    }
    if (h->has_content_length && h->content_length != n) {
        *why = "two Content-Length headers that disagree";
        return 400;
    }
    h->has_content_length = 1;
    h->content_length = n;
    return 0;
}

struct coding_state {
    struct aio_http1_head *head;
    const char **why;
};

static int each_transfer_coding(const char *s, size_t n, void *ctx)
{
    struct coding_state *st = ctx;
    if (!slice_is(s, n, "chunked")) {
        *st->why = "a transfer coding other than chunked";
        return 501;
    }
    if (st->head->chunked) {
        *st->why = "chunked twice in Transfer-Encoding";
        return 400;
    }
    st->head->chunked = 1;
    return 0;
}

static int each_connection_option(const char *s, size_t n, void *ctx)
{
    struct aio_http1_head *h = ctx;
    if (slice_is(s, n, "close"))
        h->connection_close = 1;
    else if (slice_is(s, n, "keep-alive"))
        h->connection_keep_alive = 1;
    return 0;
}

static int note_field(const struct aio_http1_header *f, struct aio_http1_head *h,
                      const char **why)
{
    const char *name = f->name, *v = f->value;
    size_t nl = f->name_len, vl = f->value_len;
    if (slice_is(name, nl, "content-length"))
        return parse_content_length(v, vl, h, why);
    if (slice_is(name, nl, "transfer-encoding")) {
        struct coding_state st = {h, why};
        int rc = each_list_element(v, vl, each_transfer_coding, &st);
        if (!rc && !h->chunked) {
            *why = "an empty Transfer-Encoding";
            rc = 400;
        }
        return rc;
    }
    if (slice_is(name, nl, "connection"))
        return each_list_element(v, vl, each_connection_option, h);
    if (slice_is(name, nl, "host")) {
        if (h->has_host++) {
            *why = "two Host headers";
            return 400;
        }
        return 0;
    }
    if (slice_is(name, nl, "expect") && slice_is(v, vl, "100-continue"))
        h->expect_continue = 1;
    return 0;
}

/* ---- header lines ------------------------------------------------------- */

/* NAME ":" OWS VALUE OWS. 0 and *f filled, or a status. */
static int parse_field_line(const char *line, size_t len, struct aio_http1_header *f,
                            const char **why)
{
    if (is_ows(line[0])) {
        *why = "an obsolete folded header line";
        return 400;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon) {
        *why = "a header line without a colon";
        return 400;
    }
    size_t nl = (size_t)(colon - line);
    if (nl && is_ows(line[nl - 1])) {
        *why = "whitespace before a header's colon";
        return 400;
    }
    if (!aio__http_is_token(line, nl)) {
        *why = "a header name that is not a token";
        return 400;
    }
    const char *v = colon + 1, *end = line + len;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    f->name = line;
    f->name_len = nl;
    f->value = v;
    f->value_len = (size_t)(end - v);
    return 0;
}

static int finish(struct aio_http1_head *h, const char **why)
{
    if (h->chunked && h->has_content_length) {
        *why = "both Content-Length and Transfer-Encoding";
        return 400;
    }
    if (h->chunked && h->minor == 0) {
        *why = "Transfer-Encoding in an HTTP/1.0 request";
        return 400;
    }
    if (h->minor == 1 && !h->has_host) {
        *why = "an HTTP/1.1 request without Host";
        return 400;
    }
    return 0;
}

int aio__http1_parse_head(const char *buf, size_t len, struct aio_http1_head *h,
                          const char **why)
{
    memset(h, 0, offsetof(struct aio_http1_head, headers));
    h->nheaders = 0;
    h->has_content_length = h->chunked = h->has_host = 0;
    h->connection_close = h->connection_keep_alive = h->expect_continue = 0;
    h->content_length = 0;
    *why = NULL;
    const char *p = buf, *end = buf + len;
    int first = 1;
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (!cr || cr + 1 >= end || cr[1] != '\n') {
            *why = "a request head that does not end with a blank line";
            return 400;
        }
        size_t line_len = (size_t)(cr - p);
        const char *line = p;
        p = cr + 2;
        if (line_len == 0) {
            if (first) {
                *why = "an empty request line";
                return 400;
            }
            return p == end ? finish(h, why) : (*why = "bytes after the blank line", 400);
        }
        int rc;
        if (first) {
            rc = parse_request_line(line, line_len, h, why);
            first = 0;
        } else {
            struct aio_http1_header f;
            rc = parse_field_line(line, line_len, &f, why);
            if (!rc && memchr(f.name, '_', f.name_len))
                continue; /* dropped, as nginx does */
            if (!rc && h->nheaders == AIO_HTTP1_MAX_HEADERS) {
                *why = "more than 100 header lines";
                rc = 431;
            }
            if (!rc)
                rc = note_field(&f, h, why);
            if (!rc)
                h->headers[h->nheaders++] = f;
        }
        if (rc)
            return rc;
    }
    *why = "a request head that does not end with a blank line";
    return 400;
}

int aio__http1_wants_keepalive(const struct aio_http1_head *h)
{
    if (h->connection_close)
        return 0;
    return h->minor == 1 || h->connection_keep_alive;
}

/* ---- Date --------------------------------------------------------------- */

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm): no
 * gmtime_r, whose locking and time zone handling a hot path can do
 * without. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put2(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10 % 10);
    out[1] = (char)('0' + v % 10);
}

void aio__http_date(int64_t t, char out[AIO_HTTP_DATE_LEN + 1])
{
    static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    unsigned secs = (unsigned)(t - day * 86400);
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    unsigned wd = (unsigned)(((day % 7) + 7) % 7);
    memcpy(out, days + 3 * wd, 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, months + 3 * (m - 1), 3);
    out[11] = ' ';
    unsigned yy = y < 0 ? 0 : y > 9999 ? 9999 : (unsigned)y;
    put2(out + 12, yy / 100);
    put2(out + 14, yy % 100);
    out[16] = ' ';
    put2(out + 17, secs / 3600);
    out[19] = ':';
    put2(out + 20, secs / 60 % 60);
    out[22] = ':';
    put2(out + 23, secs % 60);
    memcpy(out + 25, " GMT", 5); /* with its NUL */
}
