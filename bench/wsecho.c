/* wsecho - a websocket echo load generator.
 *
 *   wsecho PORT PATH CONNECTIONS SECONDS
 *
 * Opens CONNECTIONS websocket connections to 127.0.0.1:PORT/PATH (at most
 * 256 handshakes in flight), then on every connection sends a text message,
 * waits for its echo and sends the next, for SECONDS (after a short warm-up)
 * and stops by itself. Prints one line:
 *   connected=N msgs=N seconds=S msgs_per_s=R wrong=N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uwsgi-aio/aio_common.h>

#include "proto/wsframe.h"
#include "wsload.h"

#define MAX_CONNECTING 256
#define MESSAGE "hello from wsecho, a benchmark message of some 64 bytes........"

enum state { CONNECTING, HANDSHAKE, ECHOING, DEAD };

struct conn {
    int fd;
    enum state state;
    char head[512];
    size_t head_len;
    struct aio_ws_parser parser;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t frame[256];
static size_t frame_len;

static int send_message(struct conn *c)
{
    return write(c->fd, frame, frame_len) == (ssize_t)frame_len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT PATH CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[3]);
    double seconds = atof(argv[4]);
    static const uint8_t mask[4] = {1, 2, 3, 4};
    frame_len = aio__ws_frame_header(frame, 1, AIO_WS_OP_TEXT, strlen(MESSAGE), mask);
    memcpy(frame + frame_len, MESSAGE, strlen(MESSAGE));
    aio__ws_mask(frame + frame_len, strlen(MESSAGE), mask, 0);
    frame_len += strlen(MESSAGE);
    char request[512];
    int request_len = wsload_request(request, sizeof(request), argv[2]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    struct conn *conns = calloc((size_t)count, sizeof(*conns));
    int epfd = epoll_create1(0);
    int next = 0, connecting = 0, connected = 0, dead = 0;
    long msgs = 0, wrong = 0;
    double start = now(), measure_from = 0, deadline = start + 30 + seconds;
    struct epoll_event events[512];
    while (now() < deadline && dead < count) {
        while (next < count && connecting < MAX_CONNECTING) {
            struct conn *c = &conns[next++];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            connect(c->fd, (struct sockaddr *)&addr, sizeof(addr));
            aio__ws_parser_init(&c->parser, AIO_WS_CLIENT, 1 << 20);
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
            connecting++;
        }
        if (connected == count && !measure_from) {
            measure_from = now() + 1.0; /* one second of warm-up */
            deadline = measure_from + seconds;
        }
        int n = epoll_wait(epfd, events, 512, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                if (write(c->fd, request, (size_t)request_len) != request_len) {
                    c->state = DEAD, dead++;
                    continue;
                }
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                c->state = HANDSHAKE;
                continue;
            }
            char buf[8192];
            ssize_t got = read(c->fd, buf, sizeof(buf));
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN)
                    continue;
                c->state = DEAD, dead++;
                continue;
            }
            size_t used = 0;
            if (c->state == HANDSHAKE) {
                int head = wsload_head(c->head, &c->head_len, sizeof(c->head), buf, (size_t)got,
                                       &used);
                if (head == 0)
                    continue;
                if (head < 0) {
                    c->state = DEAD, dead++;
                    continue;
                }
                c->state = ECHOING;
                connecting--;
                connected++;
                send_message(c);
            }
            aio__ws_parser_feed(&c->parser, buf + used, (size_t)got - used);
            for (;;) {
                struct aio_ws_event ev;
                aio__ws_parser_next(&c->parser, &ev);
                if (ev.kind == AIO_WS_EV_NONE)
                    break;
                if (ev.kind == AIO_WS_EV_MESSAGE) {
                    if (ev.len != strlen(MESSAGE) || memcmp(ev.data, MESSAGE, ev.len))
                        wrong++;
                    free(ev.data);
                    if (measure_from && now() >= measure_from)
                        msgs++;
                    send_message(c);
                } else if (ev.kind != AIO_WS_EV_PING) {
                    c->state = DEAD, dead++;
                    break;
                }
            }
        }
    }
    double measured = measure_from ? now() - measure_from : 0;
    printf("connected=%d msgs=%ld seconds=%.2f msgs_per_s=%.0f wrong=%ld\n", connected, msgs,
           measured, measured > 0 ? msgs / measured : 0.0, wrong);
    for (int i = 0; i < count; i++) {
        aio__ws_parser_free(&conns[i].parser);
        if (conns[i].fd > 0)
            close(conns[i].fd);
    }
    free(conns);
    return connected == count && !wrong ? 0 : 1;
}
