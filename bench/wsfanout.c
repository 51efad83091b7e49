/* wsfanout - a websocket broadcast fan-out load generator.
 *
 *   wsfanout PATH PER_PORT MESSAGES WINDOW PORT...
 *
 * Opens PER_PORT websocket connections to 127.0.0.1:PORT/PATH for every
 * PORT given (at most 256 handshakes in flight). The view at PATH first
 * sends each connection one greeting, then broadcasts every text message it
 * receives to all of them (tests/views/shared: /shared/ws). Once every
 * connection has its greeting, the first connection sends MESSAGES messages
 * "seq=K t=NS" (NS: CLOCK_MONOTONIC nanoseconds, one clock for every process
 * of the machine), keeping at most WINDOW of them not yet received by every
 * connection. Each receipt is checked (every connection must see 0, 1, 2 ...
 * in order, each once) and timed from the send. Stops by itself once all is
 * delivered or after 60 s, and prints one line:
 *   connected=N delivered=D expected=E seconds=S msgs_per_s=R p50_ms=X
 *   p99_ms=Y wrong=W
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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
#define MAX_PORTS 16
#define GIVE_UP_SECONDS 60

enum state { CONNECTING, HANDSHAKE, GREETED_WAIT, RECEIVING, DEAD };

struct conn {
    int fd;
    enum state state;
    int port;
    char head[512];
    size_t head_len;
    long next_seq; /* the broadcast this connection must receive next */
    struct aio_ws_parser parser;
};

struct run {
    struct conn *conns;
    int count, connected, greeted, dead;
    long messages, window, sent, complete;
    int *received_by;   /* per message: how many connections have it */
    double *latencies;  /* seconds, one per delivery */
    long delivered, wrong;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int send_broadcast(struct conn *sender, long seq)
{
    char text[64];
    int len = snprintf(text, sizeof(text), "seq=%ld t=%" PRId64, seq, now_ns());
    uint8_t frame[96];
    static const uint8_t mask[4] = {9, 8, 7, 6};
    size_t head = aio__ws_frame_header(frame, 1, AIO_WS_OP_TEXT, (size_t)len, mask);
    memcpy(frame + head, text, (size_t)len);
    aio__ws_mask(frame + head, (size_t)len, mask, 0);
    ssize_t n = write(sender->fd, frame, head + (size_t)len);
    return n == (ssize_t)(head + (size_t)len) ? 0 : -1;
}

/* Sends what the window allows. */
static void send_more(struct run *r)
{
    struct conn *sender = &r->conns[0];
    while (r->greeted == r->count && r->sent < r->messages && r->sent - r->complete < r->window) {
        if (send_broadcast(sender, r->sent) != 0) {
            sender->state = DEAD, r->dead++;
            return;
        }
        r->sent++;
    }
}

static void on_message(struct run *r, struct conn *c, const char *data, size_t len)
{
    if (c->state == GREETED_WAIT) {
        c->state = RECEIVING;
        r->greeted++;
        return;
    }
    long seq;
    int64_t sent_ns;
    char text[64];
    snprintf(text, sizeof(text), "%.*s", (int)(len < 63 ? len : 63), data);
    if (sscanf(text, "seq=%ld t=%" SCNd64, &seq, &sent_ns) != 2 || seq != c->next_seq ||
        seq >= r->messages) {
        r->wrong++;
        return;
    }
    c->next_seq++;
    r->latencies[r->delivered++] = (double)(now_ns() - sent_ns) / 1e9;
    if (++r->received_by[seq] == r->count)
        r->complete++;
}

static void on_ready(struct run *r, int epfd, struct conn *c, const char *request,
                     int request_len)
{
    if (c->state == CONNECTING) { /* connected: send the upgrade, then only read */
        if (write(c->fd, request, (size_t)request_len) != request_len) {
            c->state = DEAD, r->dead++;
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->state = HANDSHAKE;
        return;
    }
    char buf[16384];
    ssize_t got = read(c->fd, buf, sizeof(buf));
    if (got <= 0) {
        if (!(got < 0 && errno == EAGAIN))
            c->state = DEAD, r->dead++;
        return;
    }
    size_t used = 0;
    if (c->state == HANDSHAKE) {
        int head = wsload_head(c->head, &c->head_len, sizeof(c->head), buf, (size_t)got, &used);
        if (head == 0)
            return;
        if (head < 0) {
            c->state = DEAD, r->dead++;
            return;
        }
        c->state = GREETED_WAIT;
        r->connected++;
    }
    aio__ws_parser_feed(&c->parser, buf + used, (size_t)got - used);
    for (;;) {
        struct aio_ws_event ev;
        aio__ws_parser_next(&c->parser, &ev);
        if (ev.kind == AIO_WS_EV_NONE)
            break;
        if (ev.kind == AIO_WS_EV_MESSAGE) {
            on_message(r, c, (const char *)ev.data, ev.len);
            free(ev.data);
        } else if (ev.kind != AIO_WS_EV_PING) {
            c->state = DEAD, r->dead++;
            break;
        }
    }
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(double *sorted, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return sorted[i] * 1000.0;
}

static void open_connections(struct run *r, int epfd, int *next, int *connecting,
                             const int *ports, int nports, int per_port)
{
    while (*next < r->count && *connecting < MAX_CONNECTING) {
        struct conn *c = &r->conns[*next];
        c->port = ports[*next / per_port % nports];
        (*next)++;
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        connect(c->fd, (struct sockaddr *)&addr, sizeof(addr));
        aio__ws_parser_init(&c->parser, AIO_WS_CLIENT, 1 << 20);
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
        (*connecting)++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc - 5 > MAX_PORTS) {
        fprintf(stderr, "usage: %s PATH PER_PORT MESSAGES WINDOW PORT... (at most %d ports)\n",
                argv[0], MAX_PORTS);
        return 2;
    }
    int per_port = atoi(argv[2]), nports = argc - 5, ports[MAX_PORTS];
    for (int i = 0; i < nports; i++)
        ports[i] = atoi(argv[5 + i]);
    struct run r = {.count = per_port * nports, .messages = atol(argv[3]),
                    .window = atol(argv[4])};
    if (per_port < 1 || r.messages < 1 || r.window < 1) {
        fprintf(stderr, "%s: PER_PORT, MESSAGES and WINDOW must be positive\n", argv[0]);
        return 2;
    }
    char request[512];
    int request_len = wsload_request(request, sizeof(request), argv[1]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    r.conns = calloc((size_t)r.count, sizeof(*r.conns));
    r.received_by = calloc((size_t)r.messages, sizeof(*r.received_by));
    r.latencies = calloc((size_t)r.count * (size_t)r.messages, sizeof(*r.latencies));
    if (!r.conns || !r.received_by || !r.latencies) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 2;
    }
    int epfd = epoll_create1(0), next = 0, connecting = 0;
    int64_t give_up = now_ns() + (int64_t)GIVE_UP_SECONDS * 1000000000, started = 0;
    struct epoll_event events[512];
    while (now_ns() < give_up && r.complete < r.messages && r.dead == 0) {
        open_connections(&r, epfd, &next, &connecting, ports, nports, per_port);
        connecting = next - r.connected - r.dead;
        if (r.greeted == r.count && !started)
            started = now_ns();
        send_more(&r);
        int n = epoll_wait(epfd, events, 512, 100);
        for (int i = 0; i < n; i++)
            on_ready(&r, epfd, events[i].data.ptr, request, request_len);
    }
    double seconds = started ? (double)(now_ns() - started) / 1e9 : 0;
    qsort(r.latencies, (size_t)r.delivered, sizeof(double), compare_double);
    printf("connected=%d delivered=%ld expected=%ld seconds=%.3f msgs_per_s=%.0f "
           "p50_ms=%.2f p99_ms=%.2f wrong=%ld\n",
           r.connected, r.delivered, (long)r.count * r.messages, seconds,
           seconds > 0 ? (double)r.delivered / seconds : 0.0,
           percentile_ms(r.latencies, r.delivered, 0.50),
           percentile_ms(r.latencies, r.delivered, 0.99), r.wrong);
    for (int i = 0; i < r.count; i++) {
        aio__ws_parser_free(&r.conns[i].parser);
        if (r.conns[i].fd > 0)
            close(r.conns[i].fd);
    }
    int ok = r.complete == r.messages && !r.wrong;
    free(r.conns);
    free(r.received_by);
    free(r.latencies);
    return ok ? 0 : 1;
}
