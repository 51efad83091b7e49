/* sleepers - a load generator for many concurrent, slow requests.
 *
 *   sleepers PORT PATH COUNT TIMEOUT_S
 *
 * Opens COUNT connections to 127.0.0.1:PORT (at most 512 handshakes in
 * flight, so the listen backlog never overflows), sends "GET PATH" on each
 * and reads every response to EOF. All requests are open at the same time
 * once connected. Stops after TIMEOUT_S whatever happens. Prints one line:
 *   ok=N failed=N wall=S connect_max=S done_p50=S done_max=S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTING 512

enum state { IDLE, CONNECTING, READING, DONE, FAILED };

struct conn {
    int fd;
    enum state state;
    char head[16]; /* the first bytes of the response */
    size_t head_len;
    double done_at;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int start_connect(int epfd, struct conn *c, const struct sockaddr_in *addr)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 && errno != EINPROGRESS)
        return -1;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -1;
    c->state = CONNECTING;
    return 0;
}

static void finish(struct conn *c, enum state state, double t)
{
    close(c->fd);
    c->fd = -1;
    c->state = state;
    c->done_at = t;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT PATH COUNT TIMEOUT_S\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[3]);
    double timeout = atof(argv[4]);
    char request[512];
    int request_len = snprintf(request, sizeof(request),
                               "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", argv[2]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < count + 16) {
        fprintf(stderr, "sleepers: only %ld file descriptors allowed\n", (long)rl.rlim_cur);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    struct conn *conns = calloc((size_t)count, sizeof(*conns));
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    double start = now(), connect_max = 0;
    int next = 0, connecting = 0, finished = 0;
    struct epoll_event events[256];

    while (finished < count && now() - start < timeout) {
        while (next < count && connecting < MAX_CONNECTING) {
            if (start_connect(epfd, &conns[next], &addr) < 0) {
                conns[next].state = FAILED;
                finished++;
            } else {
                connecting++;
            }
            next++;
        }
        int n = epoll_wait(epfd, events, 256, 100);
        double t = now();
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                connecting--;
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || write(c->fd, request, (size_t)request_len) != request_len) {
                    finish(c, FAILED, t);
                    finished++;
                    continue;
                }
                if (t - start > connect_max)
                    connect_max = t - start;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                c->state = READING;
            } else if (c->state == READING) {
                char buf[4096];
                ssize_t got = read(c->fd, buf, sizeof(buf));
                if (got > 0) {
                    size_t keep = sizeof(c->head) - c->head_len;
                    if ((size_t)got < keep)
                        keep = (size_t)got;
                    memcpy(c->head + c->head_len, buf, keep);
                    c->head_len += keep;
                    continue;
                }
                if (got < 0 && errno == EAGAIN)
                    continue;
                int ok = got == 0 && c->head_len >= 12 && memcmp(c->head, "HTTP/1.1 200", 12) == 0;
                finish(c, ok ? DONE : FAILED, t);
                finished++;
            }
        }
    }
    double wall = now() - start;
    double *done = calloc((size_t)count, sizeof(*done));
    int ok = 0;
    for (int i = 0; i < count; i++)
        if (conns[i].state == DONE)
            done[ok++] = conns[i].done_at - start;
    qsort(done, (size_t)ok, sizeof(*done), compare);
    printf("ok=%d failed=%d wall=%.3f connect_max=%.3f done_p50=%.3f done_max=%.3f\n", ok,
           count - ok, wall, connect_max, ok ? done[ok / 2] : 0.0, ok ? done[ok - 1] : 0.0);
    for (int i = 0; i < count; i++)
        if (conns[i].fd > 0)
            close(conns[i].fd);
    free(done);
    free(conns);
    close(epfd);
    return ok == count ? 0 : 1;
}
