/* wsclient.h - a small blocking websocket client for tests and benchmarks,
 * built on the plugin's own frame codec (in its client role). */
#ifndef AIO_WSCLIENT_H
#define AIO_WSCLIENT_H

#include <stddef.h>

#include "proto/wsframe.h"

struct ws_client {
    int fd;
    struct aio_ws_parser parser;
};

/* Connects to 127.0.0.1:port and upgrades `path`. 0 or -1. */
int ws_client_open(struct ws_client *c, int port, const char *path);
/* Sends one masked frame. 0 or -1. */
int ws_client_send(struct ws_client *c, int opcode, const void *data, size_t len);
/* The next event from the server (blocking); answers pings. */
int ws_client_recv(struct ws_client *c, struct aio_ws_event *ev);
void ws_client_close(struct ws_client *c);

#endif
