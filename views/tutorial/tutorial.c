/* The aiopyramid tutorial, in C: a home page whose view sleeps (without
 * blocking the worker) before rendering a template, and a plain-text
 * hello world for benchmarks. */
#include <aio.h>
#include <stdio.h>

/* GET /?sleep=seconds: waits (0.1 s by default), then renders the page. */
static int home(aio_request *req)
{
    double wait = aio_param_double(req, "sleep", 0.1);
    int rc = aio_sleep(req, wait);
    if (rc == AIO_EINVAL)
        return aio_respond_text(req, 400, "sleep must be a number of seconds from 0\n");
    if (rc != AIO_OK)
        return rc; /* cancelled: the client is gone */
    char wait_text[32];
    snprintf(wait_text, sizeof(wait_text), "%g", wait);
    return aio_render(req, "templates/home.html", "title", "aiotutorial websocket test",
                      "wait_time", wait_text, NULL);
}

/* GET /hello: the smallest useful response. */
static int hello(aio_request *req)
{
    return aio_respond_text(req, 200, "Hello World\n");
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "home", "/");
    aio_add_route(cfg, "hello", "/hello");
    aio_add_view(cfg, "home", home, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "hello", hello, AIO_COROUTINE | AIO_GET);
    return 0;
}
