/* wschurn - websocket sessions one after the other, for soaks.
 *
 *   wschurn PORT PATH COUNT SECONDS
 *
 * COUNT times (or until SECONDS have passed): connect to 127.0.0.1:PORT,
 * upgrade PATH, send one text message, read its echo, close (1000) and wait
 * for the server's close frame, hang up. Blocking and sequential: what is
 * measured is what each session leaves behind in the server, not speed.
 * Prints one line:
 *   sessions=N wrong=N seconds=S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uwsgi-aio/aio_common.h>

#include "proto/wsframe.h"
#include "wsload.h"

#define MESSAGE "soak"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_frame(int fd, int opcode, const void *data, size_t len)
{
    static const uint8_t mask[4] = {7, 1, 7, 1};
    uint8_t frame[256];
    size_t head = aio__ws_frame_header(frame, 1, opcode, len, mask);
    memcpy(frame + head, data, len);
    aio__ws_mask(frame + head, len, mask, 0);
    return write(fd, frame, head + len) == (ssize_t)(head + len) ? 0 : -1;
}

/* The next event of the peer: AIO_WS_EV_MESSAGE or _CLOSE; -1 on EOF. */
static int next_event(int fd, struct aio_ws_parser *p, struct aio_ws_event *ev)
{
    for (;;) {
        aio__ws_parser_next(p, ev);
        if (ev->kind != AIO_WS_EV_NONE && ev->kind != AIO_WS_EV_PING && ev->kind != AIO_WS_EV_PONG)
            return ev->kind;
        char buf[4096];
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got <= 0)
            return -1;
        aio__ws_parser_feed(p, buf, (size_t)got);
    }
}

/* One session: 0 when everything came back as it should. */
static int session(const struct sockaddr_in *addr, const char *request, size_t request_len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), wrong = 1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        write(fd, request, request_len) != (ssize_t)request_len) {
        close(fd);
        return 1;
    }
    char head[1024], byte;
    size_t len = 0, used;
    int upgraded = 0; /* byte by byte: nothing of the frames is read */
    while (!upgraded && read(fd, &byte, 1) == 1)
        upgraded = wsload_head(head, &len, sizeof(head), &byte, 1, &used);
    struct aio_ws_parser p;
    aio__ws_parser_init(&p, AIO_WS_CLIENT, 1 << 16);
    struct aio_ws_event ev;
    if (upgraded > 0 &&
        send_frame(fd, AIO_WS_OP_TEXT, MESSAGE, strlen(MESSAGE)) == 0 &&
        next_event(fd, &p, &ev) == AIO_WS_EV_MESSAGE) {
        int echoed = ev.len == strlen(MESSAGE) && !memcmp(ev.data, MESSAGE, ev.len);
        free(ev.data);
        uint8_t payload[125];
        size_t n = aio__ws_close_payload(payload, AIO_WS_NORMAL, "");
        if (echoed && send_frame(fd, AIO_WS_OP_CLOSE, payload, n) == 0 &&
            next_event(fd, &p, &ev) == AIO_WS_EV_CLOSE && ev.code == AIO_WS_NORMAL)
            wrong = 0;
    }
    aio__ws_parser_free(&p);
    close(fd);
    return wrong;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT PATH COUNT SECONDS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    long count = atol(argv[3]);
    double seconds = atof(argv[4]), start = now();
    char request[512];
    int request_len = wsload_request(request, sizeof(request), argv[2]);
    long done = 0, wrong = 0;
    while (done < count && now() - start < seconds) {
        wrong += session(&addr, request, (size_t)request_len);
        done++;
    }
    printf("sessions=%ld wrong=%ld seconds=%.2f\n", done, wrong, now() - start);
    return wrong ? 1 : 0;
}
