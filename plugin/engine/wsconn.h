/* wsconn.h - a websocket endpoint on a connection: the one piece of code
 * that moves frames, for the server's sessions (app/websocket.c) and for
 * the test client of libaio_testing alike; only its role differs (a client
 * masks what it sends and expects nothing masked).
 *
 * Once opened, the endpoint owns the connection's events (it puts its own
 * ops in front of the host's, keeping the host's to move the bytes). The
 * loop, not the owner, reads the connection: whenever it is readable,
 * frames are parsed, pings answered, closes echoed and protocol errors
 * answered with their close code, whatever the owner is doing; complete
 * messages go to the owner's message hook. Frames to send go to an output
 * buffer written as fast as the peer takes it, so any task may send
 * without interleaving bytes. */
#ifndef AIO_ENGINE_WSCONN_H
#define AIO_ENGINE_WSCONN_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "engine/engine.h"
#include "proto/wsframe.h"

enum aio_wsconn_state {
    AIO_WSCONN_OPEN,
    AIO_WSCONN_CLOSING, /* our close frame is out, the peer's is awaited */
    AIO_WSCONN_CLOSED,  /* both closes exchanged, or the connection is gone */
};

struct aio_wsconn;

/* What the endpoint tells its owner. Hooks run from loop callbacks: they
 * must not resume a coroutine directly (aio__task_wake_soon does it). */
struct aio_wsconn_hooks {
    /* A complete message (`data` malloc'ed and NUL-terminated: the hook
     * owns it). AIO_OK, or AIO_ENOMEM: the endpoint closes with 1011. */
    int (*message)(struct aio_wsconn *c, int opcode, char *data, size_t len);
    /* Something an owner may wait for changed: a close, the output
     * drained. */
    void (*changed)(struct aio_wsconn *c);
    /* The connection became unusable (EOF, reset, no pong ...): once. */
    void (*gone)(struct aio_wsconn *c);
    /* A failure worth a log line (protocol error, no pong, ...). */
    void (*failed)(struct aio_wsconn *c, int code, const char *why);
    /* After aio__wsconn_release(): the endpoint's memory may go. */
    void (*released)(struct aio_wsconn *c);
};

struct aio_wsconn {
    enum aio_ws_role role;
    enum aio_wsconn_state state;
    int close_code; /* how it ended (ours, then the peer's); 0 while open */
    int got_close;  /* the peer's close frame (or EOF) arrived: stop reading */
    int gone;       /* the connection failed: nothing more can be written */
    int paused;     /* the owner holds enough unread messages: stop reading */
    int backlogged; /* over max_backlog unwritten: stop reading, until drained */
    struct aio_conn *conn;
    const struct aio_conn_ops *io; /* the host's: how the bytes move */
    struct aio_ws_parser parser;
    struct aio_buf out; /* `written` bytes of it are out */
    size_t written;
    uint32_t mask_seed; /* clients: masks vary from frame to frame */
    uv_timer_t timer;   /* idle pings */
    uv_timer_t deadline; /* a backlog left unread too long */
    int open_handles;   /* timers not closed yet, after release */
    size_t max_backlog; /* unwritten bytes (pongs and closes too), 0: no bound */
    uint64_t ping_freq_ms, pong_tolerance_ms;
    uint64_t last_seen;
    uint64_t ping_sent; /* when the unanswered ping went out, 0: none */
    const struct aio_wsconn_hooks *hooks;
    void *owner;
    struct aio_list node; /* in the engine's list of open endpoints */
    size_t counted;       /* its unwritten bytes in aio__engine.ws_unwritten */
};

/* What an endpoint may hold and wait for. */
struct aio_wsconn_limits {
    size_t max_message;         /* bytes per message (0: no limit) */
    /* Unwritten bytes, whatever queued them (answers to pings and closes
     * too): past it the peer is not read until it has read half of it,
     * and it is dropped (1008) when that takes over pong_tolerance_ms.
     * 0: no bound. */
    size_t max_backlog;
    uint64_t ping_freq_ms;      /* idle time before a ping (0: none) */
    uint64_t pong_tolerance_ms; /* for the pong, and for a backlog to drain */
};

/* Opens an endpoint on `conn` (upgraded already) and takes its events
 * over; frames the peer sent right behind the handshake are read now. */
void aio__wsconn_open(struct aio_wsconn *c, enum aio_ws_role role, struct aio_conn *conn,
                      const struct aio_wsconn_limits *limits,
                      const struct aio_wsconn_hooks *hooks, void *owner);
/* Queues one frame (masked for a client). AIO_OK or AIO_ENOMEM. */
int aio__wsconn_send(struct aio_wsconn *c, int opcode, const void *data, size_t len);
/* Queues our close frame; the peer's answer closes the endpoint. */
void aio__wsconn_close(struct aio_wsconn *c, int code, const char *reason);
/* Gives the connection up at once (close code `code` for the record). */
void aio__wsconn_drop(struct aio_wsconn *c, int code);
/* Bytes queued and not yet written. */
size_t aio__wsconn_unwritten(const struct aio_wsconn *c);
/* Stops (1) or resumes (0) reading: the owner's inbox is full. */
void aio__wsconn_set_paused(struct aio_wsconn *c, int paused);
/* The endpoint goes on on `to`, the same socket taken away from its host
 * (aio_conn_ops.detach, watcher included): the old connection gets its
 * host's ops back, `to`'s ops move the bytes from now on. */
void aio__wsconn_move(struct aio_wsconn *c, struct aio_conn *to);
/* Hands the connection back to its host ops and frees the endpoint's
 * buffers; hooks->released runs once its timers have closed. */
void aio__wsconn_release(struct aio_wsconn *c);

#endif
