/* linger.c - closing a socket after an error response.
 *
 * Closing a socket with unread input makes the kernel send a reset, and a
 * reset destroys the response the client has not read yet. So after an
 * error response (often sent before the request was read in full: 431, 413)
 * the socket is half-closed and its input discarded until the client hangs
 * up or LINGER_MS pass, as nginx's lingering_close does. */
#include <uwsgi.h>

#include <errno.h>
#include <sys/socket.h>

#include "uwsgi/host.h"

extern struct uwsgi_server uwsgi;

/* How long an error response may wait for the client to read it. */
#define LINGER_MS 2000

struct aio_linger {
    struct aio_list node;
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int open_handles;
};

static void linger_closed(uv_handle_t *handle)
{
    struct aio_linger *l = handle->data;
    if (--l->open_handles == 0)
        free(l);
}

static void linger_finish(struct aio_linger *l)
{
    aio__list_remove(&l->node);
    uv_close((uv_handle_t *)&l->poll, linger_closed); /* unwatches the fd now */
    uv_close((uv_handle_t *)&l->timer, linger_closed);
    close(l->fd);
}

static void on_linger_input(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct aio_linger *l = poll->data;
    while (status == 0) {
        ssize_t n = recv(l->fd, aio__host.peek_buf, uwsgi.buffer_size, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        break; /* the client hung up (or failed): done */
    }
    linger_finish(l);
}

static void on_linger_timeout(uv_timer_t *timer)
{
    linger_finish(timer->data);
}

void aio__linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    struct aio_linger *l = calloc(1, sizeof(*l));
    if (!l || uv_poll_init(&aio__engine.loop, &l->poll, fd) != 0) {
        free(l);
        close(fd);
        return;
    }
    uv_timer_init(&aio__engine.loop, &l->timer);
    l->poll.data = l->timer.data = l;
    l->fd = fd;
    l->open_handles = 2;
    aio__list_append(&aio__host.lingering, &l->node);
    uv_poll_start(&l->poll, UV_READABLE, on_linger_input);
    uv_timer_start(&l->timer, on_linger_timeout, LINGER_MS, 0);
}

void aio__linger_close_all(void)
{
    struct aio_list *node;
    while ((node = aio__list_first(&aio__host.lingering)) != NULL)
        linger_finish(aio__list_entry(node, struct aio_linger, node));
}

