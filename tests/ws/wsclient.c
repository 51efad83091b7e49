#define _GNU_SOURCE
#include "wsclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ws_client_open(struct ws_client *c, int port, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char request[512];
    int n = snprintf(request, sizeof(request),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    if (write_all(c->fd, request, (size_t)n) != 0)
        return -1;
    /* read the response head byte by byte: what follows belongs to frames */
    char head[2048];
    size_t len = 0;
    while (len < sizeof(head) - 1) {
        if (read(c->fd, head + len, 1) != 1)
            return -1;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[len] = '\0';
    aio__ws_parser_init(&c->parser, AIO_WS_CLIENT, 64u << 20);
    return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

int ws_client_send(struct ws_client *c, int opcode, const void *data, size_t len)
{
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t header[14];
    size_t n = aio__ws_frame_header(header, 1, opcode, len, mask);
    uint8_t *frame = malloc(n + len + 1);
    if (!frame)
        return -1;
    memcpy(frame, header, n);
    memcpy(frame + n, data, len);
    aio__ws_mask(frame + n, len, mask, 0);
    int rc = write_all(c->fd, frame, n + len);
    free(frame);
    return rc;
}

int ws_client_recv(struct ws_client *c, struct aio_ws_event *ev)
{
    for (;;) {
        aio__ws_parser_next(&c->parser, ev);
        if (ev->kind == AIO_WS_EV_PING) {
            ws_client_send(c, AIO_WS_OP_PONG, ev->data, ev->len);
            continue;
        }
        if (ev->kind != AIO_WS_EV_NONE)
            return 0;
        char buf[16384];
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n <= 0)
            return -1;
        aio__ws_parser_feed(&c->parser, buf, (size_t)n);
    }
}

void ws_client_close(struct ws_client *c)
{
    aio__ws_parser_free(&c->parser);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
