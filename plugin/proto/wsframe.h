/* wsframe.h - the RFC 6455 frame codec, owned by uwsgi-aio because uWSGI's
 * own parser can be crashed by a single client frame.
 *
 * The parser is incremental and knows nothing of sockets: feed it bytes as
 * they arrive (split anywhere), then take events one by one. It reassembles
 * fragmented messages, validates text as UTF-8 across fragments (failing as
 * soon as a byte cannot belong to UTF-8), enforces a per-message size limit,
 * and reports every protocol violation as an error event carrying the close
 * code to answer with (1002, 1007, 1009). After a close or an error event it
 * produces nothing more. It allocates only the buffers of one connection,
 * so connections never share state. */
#ifndef AIO_PROTO_WSFRAME_H
#define AIO_PROTO_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/utf8.h"

enum aio_ws_opcode {
    AIO_WS_OP_CONTINUATION = 0x0,
    AIO_WS_OP_TEXT = 0x1,
    AIO_WS_OP_BINARY = 0x2,
    AIO_WS_OP_CLOSE = 0x8,
    AIO_WS_OP_PING = 0x9,
    AIO_WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 §7.4.1) */
#define AIO_WS_NORMAL 1000
#define AIO_WS_GOING_AWAY 1001
#define AIO_WS_PROTOCOL_ERROR 1002
#define AIO_WS_NO_STATUS 1005 /* never sent: "the close frame had no code" */
#define AIO_WS_ABNORMAL 1006  /* never sent: "the connection just dropped" */
#define AIO_WS_INVALID_DATA 1007
#define AIO_WS_POLICY 1008
#define AIO_WS_TOO_BIG 1009
#define AIO_WS_INTERNAL_ERROR 1011
#define AIO_WS_TRY_AGAIN_LATER 1013

enum aio_ws_role {
    AIO_WS_SERVER, /* peers' frames must be masked */
    AIO_WS_CLIENT, /* peers' frames must not be masked */
};

enum aio_ws_event_kind {
    AIO_WS_EV_NONE,    /* feed more bytes */
    AIO_WS_EV_MESSAGE, /* a complete text or binary message */
    AIO_WS_EV_PING,
    AIO_WS_EV_PONG,
    AIO_WS_EV_CLOSE,   /* the peer's close frame */
    AIO_WS_EV_ERROR,   /* a protocol violation: close with `code` */
};

struct aio_ws_event {
    enum aio_ws_event_kind kind;
    int opcode;        /* MESSAGE: AIO_WS_OP_TEXT or AIO_WS_OP_BINARY */
    /* MESSAGE: a malloc'ed, NUL-terminated buffer the caller now owns.
     * PING/PONG: the payload, valid until the next call. */
    char *data;
    size_t len;
    int code;          /* CLOSE: the peer's code (AIO_WS_NO_STATUS if none)
                        * ERROR: the code to close with */
    const char *reason; /* CLOSE: the peer's reason; ERROR: what went wrong */
};

struct aio_ws_parser {
    enum aio_ws_role role;
    size_t max_message;   /* bytes per message, 0: no limit */
    struct aio_buf in;    /* bytes fed and not yet consumed */
    size_t in_pos;
    int in_message;       /* a fragmented message is being assembled */
    int message_opcode;
    struct aio_buf message;
    struct aio_utf8 utf8;
    int done;             /* after CLOSE or ERROR */
    uint8_t control[125]; /* payload of the last control frame */
    char reason[128];
};

/* After init, the calls below may come in any order and any number of
 * times (next or pending before any feed, feed after an error, free twice
 * ...): each is defined, and the fuzz target tries them all. */
void aio__ws_parser_init(struct aio_ws_parser *p, enum aio_ws_role role, size_t max_message);
/* Frees the buffers and starts over: the parser is as init left it. */
void aio__ws_parser_free(struct aio_ws_parser *p);
/* Appends bytes (none: nothing happens). AIO_OK, AIO_ENOMEM, or AIO_EINVAL
 * for NULL data with a length. */
int aio__ws_parser_feed(struct aio_ws_parser *p, const void *data, size_t len);
/* The next event (AIO_WS_EV_NONE when more bytes are needed). */
void aio__ws_parser_next(struct aio_ws_parser *p, struct aio_ws_event *ev);
/* Bytes buffered and not yet consumed (partial frames). */
size_t aio__ws_parser_pending(const struct aio_ws_parser *p);

/* Writes a frame header into out (at most 14 bytes) and returns its size.
 * With a mask the payload must be masked with aio__ws_mask() by the caller. */
size_t aio__ws_frame_header(uint8_t out[14], int fin, int opcode, uint64_t len,
                           const uint8_t mask[4]);
/* XORs data with the mask, as from payload offset `offset`. */
void aio__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/* Appends one whole frame (FIN set) to `out`: the header, then the
 * payload, masked when `mask` is given (clients). AIO_OK or AIO_ENOMEM. */
int aio__ws_frame_append(struct aio_buf *out, int opcode, const void *data, size_t len,
                        const uint8_t mask[4]);

/* Writes a close frame's payload: `code` then `reason` (cut at 123 bytes),
 * or nothing for AIO_WS_NO_STATUS (an empty close). Returns its size. */
size_t aio__ws_close_payload(uint8_t out[125], int code, const char *reason);

/* 1 when `key` can be a Sec-WebSocket-Key: the base64 encoding of 16 bytes
 * (RFC 6455 §4.2.1). */
int aio__ws_key_valid(const char *key);

/* 1 for a close code an endpoint may send (1000-1003, 1007-1014,
 * 3000-4999). */
int aio__ws_close_code_valid(int code);

#endif
