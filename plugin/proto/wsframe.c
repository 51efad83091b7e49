#include "proto/wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwsgi-aio/aio_common.h>

void aio__ws_parser_init(struct aio_ws_parser *p, enum aio_ws_role role, size_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->max_message = max_message;
    p->utf8 = (struct aio_utf8)AIO_UTF8_INIT;
}

/* Leaves the parser as aio__ws_parser_init() did (same role and limit), so
 * that whatever is called next, free included, is defined. */
void aio__ws_parser_free(struct aio_ws_parser *p)
{
    aio__buf_free(&p->in);
    aio__buf_free(&p->message);
    aio__ws_parser_init(p, p->role, p->max_message);
}

int aio__ws_parser_feed(struct aio_ws_parser *p, const void *data, size_t len)
{
    if (!data && len)
        return AIO_EINVAL;
    if (p->done || !len)
        return AIO_OK; /* nothing after a close or an error is looked at */
    return aio__buf_append(&p->in, data, len);
}

size_t aio__ws_parser_pending(const struct aio_ws_parser *p)
{
    return p->in.len - p->in_pos;
}

int aio__ws_close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

size_t aio__ws_close_payload(uint8_t out[125], int code, const char *reason)
{
    if (code == AIO_WS_NO_STATUS)
        return 0;
    size_t len = reason ? strlen(reason) : 0;
    if (len > 123)
        len = 123;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    memcpy(out + 2, reason ? reason : "", len);
    return len + 2;
}

void aio__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) & 3];
}

size_t aio__ws_frame_header(uint8_t out[14], int fin, int opcode, uint64_t len,
                           const uint8_t mask[4])
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

/* ---- parsing ------------------------------------------------------------- */

static void fail(struct aio_ws_parser *p, struct aio_ws_event *ev, int code, const char *why)
{
    p->done = 1;
    ev->kind = AIO_WS_EV_ERROR;
    ev->code = code;
    ev->reason = why;
}

/* Drops consumed bytes: done only when more input is needed, so a batch of
 * small frames costs one move, not one per frame. */
static void compact(struct aio_ws_parser *p)
{
    if (p->in_pos == 0)
        return;
    memmove(p->in.data, p->in.data + p->in_pos, p->in.len - p->in_pos);
    p->in.len -= p->in_pos;
    p->in_pos = 0;
}

static int is_known_opcode(int opcode)
{
    return opcode <= AIO_WS_OP_BINARY || (opcode >= AIO_WS_OP_CLOSE && opcode <= AIO_WS_OP_PONG);
}

static void control_frame(struct aio_ws_parser *p, struct aio_ws_event *ev, int opcode,
                          const uint8_t *payload, size_t len)
{
    if (opcode != AIO_WS_OP_CLOSE) {
        memcpy(p->control, payload, len);
        ev->kind = opcode == AIO_WS_OP_PING ? AIO_WS_EV_PING : AIO_WS_EV_PONG;
        ev->data = (char *)p->control;
        ev->len = len;
        return;
    }
    if (len == 1) {
        fail(p, ev, AIO_WS_PROTOCOL_ERROR, "close frame with a 1-byte payload");
        return;
    }
    int code = len ? (payload[0] << 8) | payload[1] : AIO_WS_NO_STATUS;
    if (len && !aio__ws_close_code_valid(code)) {
        snprintf(p->reason, sizeof(p->reason), "invalid close code %d", code);
        fail(p, ev, AIO_WS_PROTOCOL_ERROR, p->reason);
        return;
    }
    size_t reason_len = len ? len - 2 : 0;
    if (!aio__utf8_valid((const char *)payload + 2 * (len > 0), reason_len)) {
        fail(p, ev, AIO_WS_INVALID_DATA, "close reason is not UTF-8");
        return;
    }
    memcpy(p->reason, payload + 2 * (len > 0), reason_len);
    p->reason[reason_len] = '\0';
    p->done = 1;
    ev->kind = AIO_WS_EV_CLOSE;
    ev->code = code;
    ev->reason = p->reason;
}

/* Adds a data frame to the message; 1 when the message is complete. */
static int data_frame(struct aio_ws_parser *p, struct aio_ws_event *ev, int opcode, int fin,
                      const uint8_t *payload, size_t len)
{
    if (opcode != AIO_WS_OP_CONTINUATION) {
        p->in_message = 1;
        p->message_opcode = opcode;
        p->utf8 = (struct aio_utf8)AIO_UTF8_INIT;
        aio__buf_reset(&p->message);
    }
    int text = p->message_opcode == AIO_WS_OP_TEXT;
    if (text && !aio__utf8_feed(&p->utf8, payload, len)) {
        fail(p, ev, AIO_WS_INVALID_DATA, "text message is not UTF-8");
        return 1;
    }
    /* reserve(0) makes sure even an empty message has a buffer */
    if (aio__buf_append(&p->message, payload, len) != AIO_OK ||
        aio__buf_reserve(&p->message, 0) != AIO_OK) {
        fail(p, ev, AIO_WS_INTERNAL_ERROR, "out of memory");
        return 1;
    }
    if (!fin)
        return 0;
    if (text && !aio__utf8_complete(&p->utf8)) {
        fail(p, ev, AIO_WS_INVALID_DATA, "text message ends inside a UTF-8 character");
        return 1;
    }
    ev->kind = AIO_WS_EV_MESSAGE;
    ev->opcode = p->message_opcode;
    ev->data = p->message.data; /* the caller owns it now */
    ev->len = p->message.len;
    p->message = (struct aio_buf)AIO_BUF_INIT;
    p->in_message = 0;
    return 1;
}

#define FAIL(code, why)                                                                        \
    do {                                                                                       \
        fail(p, ev, (code), (why));                                                            \
        return;                                                                                \
    } while (0)

void aio__ws_parser_next(struct aio_ws_parser *p, struct aio_ws_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    while (!p->done) {
        size_t avail = p->in.len - p->in_pos;
        if (avail < 2)
            break; /* before any pointer arithmetic: with nothing fed, in.data is NULL */
        uint8_t *b = (uint8_t *)p->in.data + p->in_pos;
        int fin = b[0] & 0x80, opcode = b[0] & 0x0f, masked = b[1] & 0x80;
        int control = opcode & 0x08;
        uint64_t len = b[1] & 0x7f;
        if (b[0] & 0x70)
            FAIL(AIO_WS_PROTOCOL_ERROR, "reserved bits set (no extension agreed)");
        if (!is_known_opcode(opcode))
            FAIL(AIO_WS_PROTOCOL_ERROR, "reserved opcode");
        if (control && (!fin || len > 125))
            FAIL(AIO_WS_PROTOCOL_ERROR,
                        fin ? "control frame longer than 125 bytes" : "fragmented control frame");
        int must_be_masked = p->role == AIO_WS_SERVER;
        if (!!masked != must_be_masked)
            FAIL(AIO_WS_PROTOCOL_ERROR,
                 masked ? "masked frame from a server" : "unmasked frame from a client");
        size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (avail < header)
            break;
        if (len == 126) {
            len = ((uint64_t)b[2] << 8) | b[3];
        } else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | b[2 + i];
            if (len >> 63)
                FAIL(AIO_WS_PROTOCOL_ERROR, "frame length has its top bit set");
        }
        if (!control) {
            if (opcode == AIO_WS_OP_CONTINUATION && !p->in_message)
                FAIL(AIO_WS_PROTOCOL_ERROR, "continuation frame without a message");
            if (opcode != AIO_WS_OP_CONTINUATION && p->in_message)
                FAIL(AIO_WS_PROTOCOL_ERROR,
                            "new message before the fragmented one ended");
            size_t so_far = p->in_message ? p->message.len : 0;
            /* checked before the payload is buffered, so a lying length
             * costs nothing */
            if (p->max_message && len > p->max_message - so_far)
                FAIL(AIO_WS_TOO_BIG, "message larger than websockets-max-size");
        }
        if (avail - header < len)
            break;
        uint8_t *payload = b + header;
        if (masked)
            aio__ws_mask(payload, (size_t)len, b + header - 4, 0);
        p->in_pos += header + (size_t)len;
        if (control) {
            control_frame(p, ev, opcode, payload, (size_t)len);
            return;
        }
        if (data_frame(p, ev, opcode, fin, payload, (size_t)len))
            return;
    }
    compact(p);
}

int aio__ws_frame_append(struct aio_buf *out, int opcode, const void *data, size_t len,
                        const uint8_t mask[4])
{
    uint8_t header[14];
    size_t n = aio__ws_frame_header(header, 1, opcode, len, mask);
    if (aio__buf_reserve(out, n + len) != AIO_OK)
        return AIO_ENOMEM;
    aio__buf_append(out, header, n);
    size_t start = out->len;
    aio__buf_append(out, data, len);
    if (mask)
        aio__ws_mask((uint8_t *)out->data + start, len, mask, 0);
    return AIO_OK;
}

int aio__ws_key_valid(const char *key)
{
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return 0;
    for (int i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}
