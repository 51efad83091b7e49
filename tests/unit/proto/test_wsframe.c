/* The websocket frame codec: messages, fragments, control frames, UTF-8,
 * limits and every protocol violation, fed whole and byte by byte. */
#include "unit/testing.h"

#include <stdio.h>
#include <stdlib.h>

#include <uwsgi-aio/aio_common.h>
#include "proto/wsframe.h"

#define MAX_MESSAGE 1000

static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a client (masked) frame to `out`. first_byte carries FIN, RSV
 * and the opcode. */
static void frame_raw(struct aio_buf *out, uint8_t first_byte, const void *payload, size_t len,
                      int masked)
{
    uint8_t header[14];
    size_t n = aio__ws_frame_header(header, 1, 0, len, masked ? mask : NULL);
    header[0] = first_byte;
    assert_int_equal(aio__buf_append(out, header, n), AIO_OK);
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, payload, len);
    if (masked)
        aio__ws_mask(copy, len, mask, 0);
    assert_int_equal(aio__buf_append(out, copy, len), AIO_OK);
    free(copy);
}

static void frame(struct aio_buf *out, int fin, int opcode, const char *payload, size_t len)
{
    frame_raw(out, (uint8_t)((fin ? 0x80 : 0) | opcode), payload, len, 1);
}

#define MAX_EVENTS 16

struct events {
    struct aio_ws_event ev[MAX_EVENTS];
    char copies[MAX_EVENTS][256];
    int n;
};

/* Parses `in`, fed in pieces of `step` bytes (0: all at once). */
static void parse(const struct aio_buf *in, size_t step, enum aio_ws_role role,
                  struct events *out)
{
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, role, MAX_MESSAGE);
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    while (pos < in->len && out->n < MAX_EVENTS) {
        size_t n = step ? (in->len - pos < step ? in->len - pos : step) : in->len;
        assert_int_equal(aio__ws_parser_feed(&p, in->data + pos, n), AIO_OK);
        pos += n;
        for (;;) {
            struct aio_ws_event ev;
            aio__ws_parser_next(&p, &ev);
            if (ev.kind == AIO_WS_EV_NONE || out->n == MAX_EVENTS)
                break;
            /* keep a copy of payloads that only live until the next call */
            size_t keep = ev.len < 255 ? ev.len : 255;
            if (ev.data)
                memcpy(out->copies[out->n], ev.data, keep);
            if (ev.kind == AIO_WS_EV_CLOSE || ev.kind == AIO_WS_EV_ERROR) {
                /* the reason lives in the parser, which is gone after this */
                snprintf(out->copies[out->n], 256, "%s", ev.reason);
                ev.reason = out->copies[out->n];
            }
            if (ev.kind == AIO_WS_EV_MESSAGE)
                free(ev.data);
            ev.data = out->copies[out->n];
            out->ev[out->n++] = ev;
        }
    }
    aio__ws_parser_free(&p);
}

/* The same events whatever the input is cut into. */
static void parse_all_ways(const struct aio_buf *in, struct events *out)
{
    struct events other;
    parse(in, 0, AIO_WS_SERVER, out);
    for (size_t step = 1; step <= 7; step++) {
        parse(in, step, AIO_WS_SERVER, &other);
        assert_int_equal(other.n, out->n);
        for (int i = 0; i < out->n; i++) {
            assert_int_equal(other.ev[i].kind, out->ev[i].kind);
            assert_int_equal(other.ev[i].len, out->ev[i].len);
            assert_int_equal(other.ev[i].code, out->ev[i].code);
            assert_memory_equal(other.copies[i], out->copies[i], 256);
        }
    }
}

static void expect_error(const struct aio_buf *in, int code, const char *why)
{
    struct events e;
    parse_all_ways(in, &e);
    assert_true(e.n >= 1);
    struct aio_ws_event *last = &e.ev[e.n - 1];
    assert_int_equal(last->kind, AIO_WS_EV_ERROR);
    assert_int_equal(last->code, code);
    if (!strstr(last->reason, why))
        fail_msg("reason '%s' lacks '%s'", last->reason, why);
}

static void messages(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    frame(&in, 1, AIO_WS_OP_TEXT, "hello", 5);
    frame(&in, 1, AIO_WS_OP_BINARY, "\x00\x01\xff", 3);
    frame(&in, 1, AIO_WS_OP_TEXT, "", 0);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_MESSAGE);
    assert_int_equal(e.ev[0].opcode, AIO_WS_OP_TEXT);
    assert_int_equal(e.ev[0].len, 5);
    assert_memory_equal(e.copies[0], "hello", 5);
    assert_int_equal(e.ev[1].opcode, AIO_WS_OP_BINARY);
    assert_memory_equal(e.copies[1], "\x00\x01\xff", 3);
    assert_int_equal(e.ev[2].kind, AIO_WS_EV_MESSAGE);
    assert_int_equal(e.ev[2].len, 0);
    aio__buf_free(&in);
}

static void fragments_with_control_frames_between(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    /* "Jörg €" split inside both multi-byte characters */
    frame(&in, 0, AIO_WS_OP_TEXT, "J\xc3", 2);
    frame(&in, 1, AIO_WS_OP_PING, "are you there", 13);
    frame(&in, 0, AIO_WS_OP_CONTINUATION, "\xb6rg \xe2", 5);
    frame(&in, 1, AIO_WS_OP_PONG, "", 0);
    frame(&in, 1, AIO_WS_OP_CONTINUATION, "\x82\xac", 2);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_PING);
    assert_int_equal(e.ev[0].len, 13);
    assert_memory_equal(e.copies[0], "are you there", 13);
    assert_int_equal(e.ev[1].kind, AIO_WS_EV_PONG);
    assert_int_equal(e.ev[2].kind, AIO_WS_EV_MESSAGE);
    assert_int_equal(e.ev[2].opcode, AIO_WS_OP_TEXT);
    assert_memory_equal(e.copies[2], "J\xc3\xb6rg \xe2\x82\xac", 9);
    aio__buf_free(&in);
}

static void close_frames(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    frame(&in, 1, AIO_WS_OP_CLOSE, "\x03\xe8" "bye", 5);
    frame(&in, 1, AIO_WS_OP_TEXT, "ignored after close", 19);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_CLOSE);
    assert_int_equal(e.ev[0].code, 1000);
    assert_str(e.copies[0], "bye");
    aio__buf_reset(&in);
    frame(&in, 1, AIO_WS_OP_CLOSE, "", 0);
    parse_all_ways(&in, &e);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_CLOSE);
    assert_int_equal(e.ev[0].code, AIO_WS_NO_STATUS);
    aio__buf_free(&in);
}

static void close_frame_errors(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    frame(&in, 1, AIO_WS_OP_CLOSE, "\x03", 1);
    expect_error(&in, 1002, "1-byte");
    const char *bad_codes[] = {"\x00\x00", "\x03\xe7", "\x03\xec", "\x03\xed", "\x03\xee",
                               "\x03\xf7", "\x07\xcf", "\x0b\xb7", "\x13\x88", NULL};
    for (int i = 0; bad_codes[i]; i++) {
        aio__buf_reset(&in);
        frame(&in, 1, AIO_WS_OP_CLOSE, bad_codes[i], 2);
        expect_error(&in, 1002, "invalid close code");
    }
    aio__buf_reset(&in);
    frame(&in, 1, AIO_WS_OP_CLOSE, "\x03\xe8\xff", 3);
    expect_error(&in, 1007, "not UTF-8");
    aio__buf_free(&in);
    assert_true(aio__ws_close_code_valid(1000));
    assert_true(aio__ws_close_code_valid(1011));
    assert_true(aio__ws_close_code_valid(3000));
    assert_true(aio__ws_close_code_valid(4999));
    assert_false(aio__ws_close_code_valid(1005));
    assert_false(aio__ws_close_code_valid(1006));
    assert_false(aio__ws_close_code_valid(1015));
    assert_false(aio__ws_close_code_valid(2999));
}

static void protocol_errors(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    frame_raw(&in, 0x80 | 0x40 | AIO_WS_OP_TEXT, "x", 1, 1); /* RSV1 */
    expect_error(&in, 1002, "reserved bits");
    aio__buf_reset(&in);
    frame_raw(&in, 0x80 | 0x3, "x", 1, 1);
    expect_error(&in, 1002, "reserved opcode");
    aio__buf_reset(&in);
    frame_raw(&in, 0x80 | 0xb, "x", 1, 1);
    expect_error(&in, 1002, "reserved opcode");
    aio__buf_reset(&in);
    frame_raw(&in, 0x80 | AIO_WS_OP_TEXT, "x", 1, 0);
    expect_error(&in, 1002, "unmasked frame from a client");
    aio__buf_reset(&in);
    frame(&in, 0, AIO_WS_OP_PING, "x", 1);
    expect_error(&in, 1002, "fragmented control frame");
    aio__buf_reset(&in);
    char big[200] = {0};
    frame(&in, 1, AIO_WS_OP_PING, big, 126);
    expect_error(&in, 1002, "control frame longer than 125");
    aio__buf_reset(&in);
    frame(&in, 1, AIO_WS_OP_CONTINUATION, "x", 1);
    expect_error(&in, 1002, "continuation frame without a message");
    aio__buf_reset(&in);
    frame(&in, 0, AIO_WS_OP_TEXT, "a", 1);
    frame(&in, 1, AIO_WS_OP_BINARY, "b", 1);
    expect_error(&in, 1002, "new message before");
    aio__buf_reset(&in);
    /* a 64-bit length with its top bit set */
    uint8_t header[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    aio__buf_append(&in, header, sizeof(header));
    expect_error(&in, 1002, "top bit");
    aio__buf_free(&in);
}

static void invalid_utf8(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    frame(&in, 1, AIO_WS_OP_TEXT, "bad \xc0\xaf", 6);
    expect_error(&in, 1007, "not UTF-8");
    /* invalid in the first fragment: reported before the rest arrives */
    aio__buf_reset(&in);
    frame(&in, 0, AIO_WS_OP_TEXT, "\xed\xa0\x80", 3);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0].code, 1007);
    /* a character cut off by the end of the message */
    aio__buf_reset(&in);
    frame(&in, 0, AIO_WS_OP_TEXT, "ok", 2);
    frame(&in, 1, AIO_WS_OP_CONTINUATION, "\xe2\x82", 2);
    expect_error(&in, 1007, "inside a UTF-8 character");
    /* binary messages are not UTF-8 checked */
    aio__buf_reset(&in);
    frame(&in, 1, AIO_WS_OP_BINARY, "\xc0\xaf", 2);
    parse_all_ways(&in, &e);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_MESSAGE);
    aio__buf_free(&in);
}

static void size_limit(void **state)
{
    (void)state;
    struct aio_buf in = AIO_BUF_INIT;
    char payload[MAX_MESSAGE + 1];
    memset(payload, 'a', sizeof(payload));
    frame(&in, 1, AIO_WS_OP_BINARY, payload, MAX_MESSAGE);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_MESSAGE); /* exactly the limit is fine */
    assert_int_equal(e.ev[0].len, MAX_MESSAGE);
    aio__buf_reset(&in);
    frame(&in, 1, AIO_WS_OP_BINARY, payload, MAX_MESSAGE + 1);
    expect_error(&in, 1009, "larger than websockets-max-size");
    /* the limit is per message: fragments add up */
    aio__buf_reset(&in);
    frame(&in, 0, AIO_WS_OP_TEXT, payload, 600);
    frame(&in, 1, AIO_WS_OP_CONTINUATION, payload, 401);
    expect_error(&in, 1009, "larger");
    /* decided from the header alone: a huge claimed length buffers nothing */
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, AIO_WS_SERVER, MAX_MESSAGE);
    uint8_t header[] = {0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    aio__ws_parser_feed(&p, header, sizeof(header));
    struct aio_ws_event ev;
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_ERROR);
    assert_int_equal(ev.code, 1009);
    aio__ws_parser_free(&p);
    aio__buf_free(&in);
}

static void server_frames_round_trip(void **state)
{
    (void)state;
    size_t lengths[] = {0, 1, 125, 126, 127, 999};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        struct aio_buf in = AIO_BUF_INIT;
        uint8_t header[14];
        char payload[1000];
        memset(payload, 'z', sizeof(payload));
        size_t n = aio__ws_frame_header(header, 1, AIO_WS_OP_BINARY, lengths[i], NULL);
        assert_int_equal(n, lengths[i] < 126 ? 2 : 4);
        aio__buf_append(&in, header, n);
        aio__buf_append(&in, payload, lengths[i]);
        struct events e;
        parse(&in, 0, AIO_WS_CLIENT, &e); /* a client reads unmasked frames */
        assert_int_equal(e.n, 1);
        assert_int_equal(e.ev[0].kind, AIO_WS_EV_MESSAGE);
        assert_int_equal(e.ev[0].len, lengths[i]);
        parse(&in, 0, AIO_WS_SERVER, &e); /* a server refuses them */
        assert_int_equal(e.ev[0].kind, AIO_WS_EV_ERROR);
        aio__buf_free(&in);
    }
    uint8_t header[14];
    assert_int_equal(aio__ws_frame_header(header, 1, AIO_WS_OP_TEXT, 70000, NULL), 10);
    assert_int_equal(header[1], 127);
    assert_int_equal(aio__ws_frame_header(header, 0, AIO_WS_OP_TEXT, 5, mask), 6);
    assert_int_equal(header[0], AIO_WS_OP_TEXT);
    assert_int_equal(header[1], 0x80 | 5);
    assert_memory_equal(header + 2, mask, 4);
}

/* Close payloads as both ends build them: the parser reads back the code
 * and the reason (cut at 123 bytes); no status, no payload. */
static void close_payloads(void **state)
{
    (void)state;
    uint8_t payload[125];
    size_t n = aio__ws_close_payload(payload, 1001, "going away");
    assert_int_equal(n, 12);
    struct aio_buf in = AIO_BUF_INIT;
    frame(&in, 1, AIO_WS_OP_CLOSE, (const char *)payload, n);
    struct events e;
    parse_all_ways(&in, &e);
    assert_int_equal(e.ev[0].kind, AIO_WS_EV_CLOSE);
    assert_int_equal(e.ev[0].code, 1001);
    assert_str(e.copies[0], "going away");
    char long_reason[200];
    memset(long_reason, 'r', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    assert_int_equal(aio__ws_close_payload(payload, 4000, long_reason), 125);
    assert_int_equal(payload[0] << 8 | payload[1], 4000);
    assert_int_equal(aio__ws_close_payload(payload, 1000, NULL), 2);
    assert_int_equal(aio__ws_close_payload(payload, AIO_WS_NO_STATUS, "ignored"), 0);
    aio__buf_free(&in);
}

/* What a client appends, masked, a server's parser reads back; unmasked, a
 * client's parser does. */
static void appended_frames_parse(void **state)
{
    (void)state;
    static const uint8_t mask[4] = {1, 2, 3, 4};
    struct aio_buf out = AIO_BUF_INIT;
    assert_int_equal(aio__ws_frame_append(&out, AIO_WS_OP_TEXT, "hello", 5, mask), AIO_OK);
    assert_int_equal(aio__ws_frame_append(&out, AIO_WS_OP_BINARY, NULL, 0, mask), AIO_OK);
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, AIO_WS_SERVER, 0);
    assert_int_equal(aio__ws_parser_feed(&p, out.data, out.len), AIO_OK);
    struct aio_ws_event ev;
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_MESSAGE);
    assert_int_equal(ev.opcode, AIO_WS_OP_TEXT);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "hello", 5);
    free(ev.data);
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_MESSAGE);
    assert_int_equal(ev.opcode, AIO_WS_OP_BINARY);
    assert_int_equal(ev.len, 0);
    free(ev.data);
    aio__ws_parser_free(&p);
    aio__buf_reset(&out);
    assert_int_equal(aio__ws_frame_append(&out, AIO_WS_OP_TEXT, "hi", 2, NULL), AIO_OK);
    aio__ws_parser_init(&p, AIO_WS_CLIENT, 0);
    assert_int_equal(aio__ws_parser_feed(&p, out.data, out.len), AIO_OK);
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_MESSAGE);
    assert_memory_equal(ev.data, "hi", 2);
    free(ev.data);
    aio__ws_parser_free(&p);
    aio__buf_free(&out);
}

static void handshake_keys(void **state)
{
    (void)state;
    assert_true(aio__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_false(aio__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 bytes */
    assert_false(aio__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ!="));  /* not base64 */
    assert_false(aio__ws_key_valid("dGhlIHNhbXBsZSBub25j*Q=="));
    assert_false(aio__ws_key_valid(NULL));
}

/* Any call may come first, or again: next before a feed, feeds of nothing,
 * free then reuse, free twice. */
static void any_call_order(void **state)
{
    (void)state;
    struct aio_ws_parser p;
    struct aio_ws_event ev;
    aio__ws_parser_init(&p, AIO_WS_SERVER, 100);
    aio__ws_parser_next(&p, &ev); /* nothing fed: in.data is still NULL */
    assert_int_equal(ev.kind, AIO_WS_EV_NONE);
    assert_int_equal(aio__ws_parser_pending(&p), 0);
    assert_int_equal(aio__ws_parser_feed(&p, NULL, 0), AIO_OK);
    assert_int_equal(aio__ws_parser_feed(&p, NULL, 3), AIO_EINVAL);
    aio__ws_parser_free(&p);
    aio__ws_parser_free(&p);
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_NONE);
    struct aio_buf in = {0};
    frame(&in, 1, AIO_WS_OP_TEXT, "hi", 2);
    aio__ws_parser_feed(&p, in.data, 1); /* half a header, then free: starts over */
    assert_int_equal(aio__ws_parser_pending(&p), 1);
    aio__ws_parser_free(&p);
    assert_int_equal(aio__ws_parser_pending(&p), 0);
    assert_int_equal(aio__ws_parser_feed(&p, in.data, in.len), AIO_OK);
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_MESSAGE);
    assert_string_equal(ev.data, "hi");
    free(ev.data);
    aio__ws_parser_next(&p, &ev);
    assert_int_equal(ev.kind, AIO_WS_EV_NONE);
    aio__ws_parser_free(&p);
    aio__buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(any_call_order),
        cmocka_unit_test(appended_frames_parse), cmocka_unit_test(handshake_keys),
        cmocka_unit_test(messages),         cmocka_unit_test(fragments_with_control_frames_between),
        cmocka_unit_test(close_frames),     cmocka_unit_test(close_frame_errors),
        cmocka_unit_test(protocol_errors),  cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(size_limit),       cmocka_unit_test(server_frames_round_trip),
        cmocka_unit_test(close_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
