/* A view module with a configuration mistake, chosen by the setting
 * `badroute.mistake`: the tests check that start-up stops with one clear
 * line naming it. */
#include <uwsgi-aio/aio.h>

#include <string.h>

static int view(aio_request *req)
{
    return aio_respond_text(req, 200, "unreachable\n");
}

static int ws_view(aio_ws *ws)
{
    (void)ws;
    return AIO_OK;
}

int aio_main(aio_config *cfg)
{
    const char *mistake = aio_config_setting(cfg, "badroute.mistake");
    if (!mistake)
        mistake = "no-view";
    if (strcmp(mistake, "no-view") == 0) {
        aio_add_route(cfg, "orphan", "/orphan");
    } else if (strcmp(mistake, "duplicate") == 0) {
        aio_add_route(cfg, "twice", "/a");
        aio_add_route(cfg, "twice", "/b");
        aio_add_view(cfg, "twice", view, AIO_COROUTINE);
    } else if (strcmp(mistake, "pattern") == 0) {
        aio_add_route(cfg, "broken", "/items/{id");
        aio_add_view(cfg, "broken", view, AIO_COROUTINE);
    } else if (strcmp(mistake, "placeholder-regex") == 0) {
        aio_add_route(cfg, "bracket", "/items/{id:[0-9}/{rest}");
        aio_add_view(cfg, "bracket", view, AIO_COROUTINE);
    } else if (strcmp(mistake, "unknown-route") == 0) {
        aio_add_view(cfg, "ghost", view, AIO_COROUTINE);
    } else if (strcmp(mistake, "ws-executor") == 0) {
        aio_add_route(cfg, "ws", "/ws");
        aio_add_websocket_view(cfg, "ws", ws_view, AIO_EXECUTOR);
    } else if (strcmp(mistake, "ws-post") == 0) {
        aio_add_route(cfg, "ws", "/ws");
        aio_add_websocket_view(cfg, "ws", ws_view, AIO_POST);
    } else if (strcmp(mistake, "ws-and-get") == 0) {
        aio_add_route(cfg, "ws", "/ws");
        aio_add_websocket_view(cfg, "ws", ws_view, 0);
        aio_add_view(cfg, "ws", view, AIO_GET);
    }
    return 0;
}
