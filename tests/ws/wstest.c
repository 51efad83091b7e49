/* The tutorial's WSTest, in C: against a running server (its port in
 * AIO_TEST_PORT), twenty numbered messages sent to /echo come back in
 * order, each with its type; then the close handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wsclient.h"

static int port(void)
{
    const char *value = getenv("AIO_TEST_PORT");
    return value ? atoi(value) : 6543;
}

static void test_echo_view(void **state)
{
    (void)state;
    struct ws_client c;
    assert_int_equal(ws_client_open(&c, port(), "/echo"), 0);
    for (int i = 0; i < 20; i++) {
        char message[32];
        snprintf(message, sizeof(message), "message %d", i);
        assert_int_equal(ws_client_send(&c, i % 2 ? AIO_WS_OP_BINARY : AIO_WS_OP_TEXT, message,
                                        strlen(message)),
                         0);
    }
    for (int i = 0; i < 20; i++) {
        char expected[32];
        snprintf(expected, sizeof(expected), "message %d", i);
        struct aio_ws_event ev;
        assert_int_equal(ws_client_recv(&c, &ev), 0);
        assert_int_equal(ev.kind, AIO_WS_EV_MESSAGE);
        assert_int_equal(ev.opcode, i % 2 ? AIO_WS_OP_BINARY : AIO_WS_OP_TEXT);
        assert_int_equal(ev.len, strlen(expected));
        assert_memory_equal(ev.data, expected, ev.len);
        free(ev.data);
    }
    assert_int_equal(ws_client_send(&c, AIO_WS_OP_CLOSE, "\x03\xe8", 2), 0);
    struct aio_ws_event ev;
    assert_int_equal(ws_client_recv(&c, &ev), 0);
    assert_int_equal(ev.kind, AIO_WS_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    ws_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_echo_view)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
