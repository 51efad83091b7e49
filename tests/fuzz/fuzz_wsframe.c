/* libFuzzer target for the websocket frame codec.
 *
 * Input: one byte that chooses how to cut the rest, then the bytes a peer
 * sends. The rest is parsed whole and again cut into pieces; both must give
 * the same events (the parser is incremental), and every event must keep
 * the codec's promises: text is UTF-8, messages respect the size limit,
 * close codes are valid, nothing follows a close or an error. ASan and
 * UBSan watch the memory. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "proto/wsframe.h"

#define MAX_MESSAGE 4096
#define MAX_EVENTS 64

struct record {
    int kind, opcode, code;
    size_t len;
    uint32_t sum; /* a checksum of the payload */
};

static uint32_t checksum(const char *data, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)data[i]) * 16777619u;
    return h;
}

static void check(const struct aio_ws_event *ev, int done_before)
{
    assert(!done_before);
    switch (ev->kind) {
    case AIO_WS_EV_MESSAGE:
        assert(ev->len <= MAX_MESSAGE);
        assert(ev->data && ev->data[ev->len] == '\0');
        if (ev->opcode == AIO_WS_OP_TEXT)
            assert(aio__utf8_valid(ev->data, ev->len));
        else
            assert(ev->opcode == AIO_WS_OP_BINARY);
        break;
    case AIO_WS_EV_PING:
    case AIO_WS_EV_PONG:
        assert(ev->len <= 125);
        break;
    case AIO_WS_EV_CLOSE:
        assert(ev->code == AIO_WS_NO_STATUS || aio__ws_close_code_valid(ev->code));
        assert(aio__utf8_valid(ev->reason, strlen(ev->reason)));
        break;
    case AIO_WS_EV_ERROR:
        assert(ev->code == 1002 || ev->code == 1007 || ev->code == 1009 || ev->code == 1011);
        break;
    default:
        assert(0);
    }
}

static int run(const uint8_t *data, size_t size, unsigned cut, enum aio_ws_role role,
               struct record *out)
{
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, role, MAX_MESSAGE);
    int n = 0, done = 0;
    size_t pos = 0;
    while (pos < size && n < MAX_EVENTS) {
        size_t step = cut ? 1 + (pos * 7 + cut) % (cut + 1) : size;
        if (step > size - pos)
            step = size - pos;
        aio__ws_parser_feed(&p, data + pos, step);
        pos += step;
        for (;;) {
            struct aio_ws_event ev;
            aio__ws_parser_next(&p, &ev);
            if (ev.kind == AIO_WS_EV_MESSAGE && n == MAX_EVENTS)
                free(ev.data); /* no room to record it */
            if (ev.kind == AIO_WS_EV_NONE || n == MAX_EVENTS)
                break;
            check(&ev, done);
            done = ev.kind == AIO_WS_EV_CLOSE || ev.kind == AIO_WS_EV_ERROR;
            out[n++] = (struct record){ev.kind, ev.opcode, ev.code, ev.len,
                                       ev.data ? checksum(ev.data, ev.len) : 0};
            if (ev.kind == AIO_WS_EV_MESSAGE)
                free(ev.data);
        }
    }
    aio__ws_parser_free(&p);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned cut = data[0] % 16;
    data++;
    size--;
    for (int role = AIO_WS_SERVER; role <= AIO_WS_CLIENT; role++) {
        struct record whole[MAX_EVENTS], pieces[MAX_EVENTS];
        int a = run(data, size, 0, role, whole);
        int b = run(data, size, cut, role, pieces);
        assert(a == b || a == MAX_EVENTS || b == MAX_EVENTS);
        for (int i = 0; i < a && i < b; i++) {
            assert(whole[i].kind == pieces[i].kind && whole[i].opcode == pieces[i].opcode);
            assert(whole[i].code == pieces[i].code && whole[i].len == pieces[i].len);
            assert(whole[i].sum == pieces[i].sum);
        }
    }
    return 0;
}
