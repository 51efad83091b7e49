/* libFuzzer target for the websocket frame codec.
 *
 * Input: one byte that chooses how to cut the rest (low 4 bits) and in what
 * order to call the parser (high bits), then the bytes a peer sends. The
 * rest is parsed whole and again cut into pieces; both must give the same
 * events (the parser is incremental), and every event must keep the codec's
 * promises: text is UTF-8, messages respect the size limit, close codes are
 * valid, nothing follows a close or an error. The call orders: next and
 * pending before any feed, empty feeds between the pieces, next again after
 * the end, and free then the whole parse again on the same parser (which
 * must give the same events). ASan and UBSan watch the memory. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>

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

static int same(const struct record *a, const struct record *b)
{
    return a->kind == b->kind && a->opcode == b->opcode && a->code == b->code &&
           a->len == b->len && a->sum == b->sum;
}

enum order {
    NEXT_FIRST = 1,  /* next and pending before the first feed */
    EMPTY_FEEDS = 2, /* an empty feed before every piece */
    NEXT_AFTER = 4,  /* next again once all is parsed */
};

static void expect_nothing(struct aio_ws_parser *p)
{
    struct aio_ws_event ev;
    aio__ws_parser_next(p, &ev);
    assert(ev.kind == AIO_WS_EV_NONE);
    assert(aio__ws_parser_pending(p) == 0);
}

static int parse(struct aio_ws_parser *p, const uint8_t *data, size_t size, unsigned cut,
                 unsigned order, struct record *out)
{
    if (order & NEXT_FIRST)
        expect_nothing(p);
    int n = 0, done = 0;
    size_t pos = 0;
    while (pos < size && n < MAX_EVENTS) {
        size_t step = cut ? 1 + (pos * 7 + cut) % (cut + 1) : size;
        if (step > size - pos)
            step = size - pos;
        if (order & EMPTY_FEEDS) {
            assert(aio__ws_parser_feed(p, NULL, 0) == AIO_OK);
            assert(aio__ws_parser_feed(p, data + pos, 0) == AIO_OK);
        }
        aio__ws_parser_feed(p, data + pos, step);
        pos += step;
        for (;;) {
            struct aio_ws_event ev;
            aio__ws_parser_next(p, &ev);
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
    if (order & NEXT_AFTER) {
        struct aio_ws_event ev;
        aio__ws_parser_next(p, &ev);
        if (done || n < MAX_EVENTS)
            assert(ev.kind == AIO_WS_EV_NONE); /* all was taken, or nothing follows the end */
        if (ev.kind == AIO_WS_EV_MESSAGE)
            free(ev.data);
    }
    return n;
}

/* Parses on a new parser; then frees it, which must leave it as new:
 * parsing again on it gives the same events. */
static int run(const uint8_t *data, size_t size, unsigned cut, unsigned order,
               enum aio_ws_role role, struct record *out)
{
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, role, MAX_MESSAGE);
    int n = parse(&p, data, size, cut, order, out);
    aio__ws_parser_free(&p);
    expect_nothing(&p);
    struct record again[MAX_EVENTS];
    int m = parse(&p, data, size, cut, order, again);
    assert(m == n);
    for (int i = 0; i < n; i++)
        assert(same(&again[i], &out[i]));
    aio__ws_parser_free(&p);
    aio__ws_parser_free(&p); /* twice: still defined */
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned cut = data[0] % 16, order = data[0] / 16;
    data++;
    size--;
    for (int role = AIO_WS_SERVER; role <= AIO_WS_CLIENT; role++) {
        struct record whole[MAX_EVENTS], pieces[MAX_EVENTS];
        int a = run(data, size, 0, order, role, whole);
        int b = run(data, size, cut, order, role, pieces);
        assert(a == b || a == MAX_EVENTS || b == MAX_EVENTS);
        for (int i = 0; i < a && i < b; i++)
            assert(same(&whole[i], &pieces[i]));
    }
    return 0;
}
