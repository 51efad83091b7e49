/* libFuzzer target for the chunked body decoder of proto/chunked.c.
 *
 * Input: the first byte picks how the rest is fed, the rest is either raw
 * bytes from a client or a payload to encode. Raw bytes are decoded whole
 * and again in pieces of varying sizes into a small output buffer: both
 * must agree on the payload, on where the body ended and on whether it was
 * malformed (decoding may not depend on how the bytes arrive). A payload
 * is encoded as chunks of sizes taken from the input, with extensions and
 * a trailer, then decoded: it must come back exactly, ending right after
 * the trailer. ASan and UBSan watch the memory. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>
#include "proto/chunked.h"

struct result {
    size_t payload, used;
    int rc, done;
    char *out;
};

static struct result decode(const uint8_t *in, size_t len, size_t piece, size_t out_room)
{
    struct aio_chunked c;
    aio__chunked_init(&c);
    struct result r = {.out = malloc(len + 1), .rc = AIO_OK};
    char *room = malloc(out_room);
    size_t pos = 0;
    while (pos < len && r.rc == AIO_OK && !c.done) {
        size_t n = len - pos < piece ? len - pos : piece;
        size_t used, produced;
        r.rc = aio__chunked_decode(&c, (const char *)in + pos, n, &used, room, out_room, &produced);
        assert(used <= n && produced <= out_room && produced <= used);
        memcpy(r.out + r.payload, room, produced);
        r.payload += produced;
        pos += used;
        if (r.rc == AIO_OK && used == 0 && produced == 0)
            assert(c.done); /* no progress only at the end */
    }
    r.used = pos;
    r.done = c.done;
    assert(r.rc == AIO_OK || c.why);
    free(room);
    return r;
}

static void raw(const uint8_t *data, size_t size, size_t piece)
{
    struct result whole = decode(data, size, size ? size : 1, size + 1);
    struct result bits = decode(data, size, piece, 3);
    assert(whole.rc == bits.rc && whole.done == bits.done);
    if (whole.rc == AIO_OK) {
        assert(whole.payload == bits.payload && whole.used == bits.used);
        assert(memcmp(whole.out, bits.out, whole.payload) == 0);
    }
    free(whole.out);
    free(bits.out);
}

static void roundtrip(const uint8_t *data, size_t size)
{
    /* chunk sizes from the payload's own bytes: 1..16 */
    size_t cap = size * 24 + 64;
    char *enc = malloc(cap);
    size_t e = 0, pos = 0;
    while (pos < size) {
        size_t n = (data[pos] & 15) + 1;
        if (n > size - pos)
            n = size - pos;
        e += (size_t)sprintf(enc + e, "%zX;ext=%d\r\n", n, (int)(pos & 3));
        memcpy(enc + e, data + pos, n);
        e += n;
        memcpy(enc + e, "\r\n", 2);
        e += 2;
        pos += n;
    }
    e += (size_t)sprintf(enc + e, "0\r\nX-Trailer: t\r\n\r\nNEXT");
    struct result r = decode((const uint8_t *)enc, e, 7, 5);
    assert(r.rc == AIO_OK && r.done && r.payload == size);
    assert(memcmp(r.out, data, size) == 0);
    assert(r.used == e - 4); /* "NEXT" is the next request's */
    free(r.out);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 0x80)
        roundtrip(data + 1, size - 1);
    else
        raw(data + 1, size - 1, (size_t)(data[0] & 0x3f) + 1);
    return 0;
}
