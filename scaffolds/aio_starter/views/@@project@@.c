/* @@project@@: the views. aio_main() is the app constructor: uWSGI calls it
 * once per worker, before the worker serves anything. */
#include <stdio.h>

#include <uwsgi-aio/aio.h>

/* GET /?sleep=seconds: waits (0.1 s by default) without blocking the worker,
 * then its renderer makes templates/home.html of what it put in its result. */
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
    rc = aio_result_set_string(req, "project", "@@project@@");
    if (rc == AIO_OK)
        rc = aio_result_set_string(req, "wait_time", wait_text);
    return rc;
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "home", "/");
    return aio_add_view_spec(cfg, &(struct aio_view_spec){.route = "home", .view = home,
                                                          .flags = AIO_COROUTINE | AIO_GET,
                                                          .renderer = "templates/home.html"});
}
