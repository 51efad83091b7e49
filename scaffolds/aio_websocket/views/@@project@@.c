/* @@project@@: a home page whose view sleeps without blocking the worker,
 * and its JavaScript test of the /echo websocket. aio_main() is the app
 * constructor: uWSGI calls it once per worker, before it serves anything. */
#include <stdio.h>

#include <uwsgi-aio/aio.h>

/* GET /?sleep=seconds: waits (0.1 s by default), then its renderer makes
 * templates/home.html of what it put in its result. */
static int home(aio_request *req)
{
    double wait = 0.1;
    int rc = aio_param_to_double(req, "sleep", &wait);
    if (rc != AIO_EINVAL) /* absent: the default */
        rc = aio_sleep(req, wait);
    if (rc == AIO_EINVAL)
        return aio_respond_text(req, 400, "sleep must be a number of seconds from 0\n");
    if (rc != AIO_OK)
        return rc; /* the client went away */
    char wait_text[32];
    snprintf(wait_text, sizeof(wait_text), "%g", wait);
    rc = aio_result_set_string(req, "title", "@@project@@ websocket test");
    if (rc == AIO_OK)
        rc = aio_result_set_string(req, "wait_time", wait_text);
    return rc;
}

/* /echo: every message comes back as it came (text as text, bytes as bytes). */
static int echo(aio_ws *ws)
{
    aio_msg *msg;
    while ((msg = aio_ws_recv(ws)) != NULL) {
        int rc = aio_ws_send(ws, msg);
        aio_msg_free(msg);
        if (rc != AIO_OK)
            return aio_ws_ignore_closed(rc); /* the client left: no incident */
    }
    return AIO_OK;
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "home", "/");
    aio_add_route(cfg, "echo", "/echo");
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "home", .view = home,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = "templates/home.html"});
    return aio_add_websocket_view(cfg, "echo", echo, 0);
}
