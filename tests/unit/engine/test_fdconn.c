/* A connection that is only its fd: writes go as far as the socket takes
 * them and report where they stopped, a vanished peer is a failure (not a
 * SIGPIPE), reads are read(2)'s, and closing closes the fd. */
#define _GNU_SOURCE
#include "unit/testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine.h"

static void nonblocking_pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK), 0);
}

static void write_then_read(void **state)
{
    (void)state;
    int fds[2];
    nonblocking_pair(fds);
    struct aio_conn *conn = aio__fdconn_new(fds[0]);
    assert_non_null(conn);
    size_t pos = 0;
    assert_int_equal(aio__fd_write(conn, "hello", 5, &pos), AIO_IO_DONE);
    assert_int_equal(pos, 5);
    char buf[16];
    assert_int_equal(read(fds[1], buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(write(fds[1], "back", 4), 4);
    assert_int_equal(aio__fd_read(conn, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "back", 4);
    assert_int_equal(aio__fd_read(conn, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EAGAIN);
    aio__fdconn_close(conn);
    close(fds[1]);
}

/* A full socket: AIO_IO_AGAIN with *pos where the socket stopped taking
 * bytes; once the peer reads, the rest goes from there. */
static void full_socket_resumes_where_it_stopped(void **state)
{
    (void)state;
    int fds[2];
    nonblocking_pair(fds);
    struct aio_conn *conn = aio__fdconn_new(fds[0]);
    size_t len = 8u << 20;
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7);
    size_t pos = 0;
    assert_int_equal(aio__fd_write(conn, data, len, &pos), AIO_IO_AGAIN);
    assert_true(pos > 0 && pos < len);
    char *got = malloc(len);
    assert_non_null(got);
    size_t have = 0;
    while (have < len) {
        ssize_t n = read(fds[1], got + have, len - have);
        if (n > 0)
            have += (size_t)n;
        else if (pos < len)
            aio__fd_write(conn, data, len, &pos); /* the reader drained some */
    }
    assert_int_equal(pos, len);
    assert_memory_equal(got, data, len);
    free(got);
    free(data);
    aio__fdconn_close(conn);
    close(fds[1]);
}

static void vanished_peer_is_a_failure(void **state)
{
    (void)state;
    int fds[2];
    nonblocking_pair(fds);
    close(fds[1]);
    struct aio_conn *conn = aio__fdconn_new(fds[0]);
    size_t pos = 0;
    /* no SIGPIPE kills the test: MSG_NOSIGNAL */
    assert_int_equal(aio__fd_write(conn, "x", 1, &pos), AIO_IO_FAILED);
    assert_int_equal(pos, 0);
    char buf[4];
    assert_int_equal(aio__fd_read(conn, buf, sizeof(buf)), 0); /* EOF */
    aio__fdconn_close(conn);
}

static void close_closes_the_fd(void **state)
{
    (void)state;
    int fds[2];
    nonblocking_pair(fds);
    aio__fdconn_close(aio__fdconn_new(fds[0]));
    assert_int_equal(fcntl(fds[0], F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    close(fds[1]);
    aio__fdconn_close(NULL); /* nothing to do */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_then_read),
        cmocka_unit_test(full_socket_resumes_where_it_stopped),
        cmocka_unit_test(vanished_peer_is_a_failure),
        cmocka_unit_test(close_closes_the_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
