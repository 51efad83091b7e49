/* A view module with 1,000 routes, for the routing figure of
 * bench/callgrind_hello.py --routes: 500 literal routes /lit0 ... /lit499
 * and 500 patterned ones /ph0/{id} ... /ph499/{id}, added in that order,
 * all answered by one tiny view. */
#include <uwsgi-aio/aio.h>
#include <stdio.h>

static int answer(aio_request *req)
{
    return aio_respond_text(req, 200, "routed\n");
}

int aio_main(aio_config *cfg)
{
    char name[32], pattern[48];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "lit%d", i);
        snprintf(pattern, sizeof(pattern), "/lit%d", i);
        aio_add_route(cfg, name, pattern);
        aio_add_view(cfg, name, answer, AIO_COROUTINE | AIO_GET);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "ph%d", i);
        snprintf(pattern, sizeof(pattern), "/ph%d/{id}", i);
        aio_add_route(cfg, name, pattern);
        aio_add_view(cfg, name, answer, AIO_COROUTINE | AIO_GET);
    }
    return 0;
}
