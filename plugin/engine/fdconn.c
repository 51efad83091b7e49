/* fdconn.c - a connection that is nothing but its fd: read(2) and send(2)
 * on a non-blocking socket. A websocket session that outlives its request
 * (an idle callback session holds no async core) takes its connection
 * away from the host in this form; the test host's socket pairs move their
 * bytes with the same two functions. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine.h"

ssize_t aio__fd_read(struct aio_conn *conn, char *buf, size_t len)
{
    return read(conn->fd, buf, len);
}

enum aio_io_status aio__fd_write(struct aio_conn *conn, const char *data, size_t len,
                                 size_t *pos)
{
    while (*pos < len) {
        ssize_t n = send(conn->fd, data + *pos, len - *pos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? AIO_IO_AGAIN : AIO_IO_FAILED;
        *pos += (size_t)n;
    }
    return AIO_IO_DONE;
}

/* Whoever puts its ops in front takes the events; until then, none. */
static void no_event(struct aio_conn *conn, int status, int events)
{
    (void)status;
    (void)events;
    aio__conn_watch(conn, 0);
}

static const struct aio_conn_ops fdconn_ops = {
    .event = no_event,
    .read = aio__fd_read,
    .write = aio__fd_write,
};

struct aio_conn *aio__fdconn_new(int fd)
{
    struct aio_conn *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return NULL;
    conn->fd = fd;
    conn->ops = &fdconn_ops;
    return conn;
}

void aio__fdconn_close(struct aio_conn *conn)
{
    if (!conn)
        return;
    aio__conn_unwatch(conn);
    close(conn->fd);
    free(conn);
}
