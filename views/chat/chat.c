/* A chat room: every message a client sends over the /chat/ws websocket is
 * delivered to every connected client (broadcast), and GET /chat serves a
 * page to try it in a browser. A callback view (aiopyramid's
 * WebsocketConnectionView): on_open, on_message and on_close.
 *
 * With `aio-broadcast = redis://...` the room spans every worker and every
 * host using that Redis server; without it, each worker is a room of its
 * own. */
#include <uwsgi-aio/aio.h>

#include <stdio.h>

static int on_open(aio_ws *ws)
{
    char hello[64];
    snprintf(hello, sizeof(hello), "* you are #%llu", (unsigned long long)aio_ws_id(ws));
    return aio_ws_send_text(ws, hello);
}

static int on_message(aio_ws *ws, const aio_msg *msg)
{
    size_t len;
    const char *data = aio_msg_data(msg, &len);
    int sent = aio_ws_broadcast("chat_socket", aio_msg_type(msg), data, len);
    if (sent == AIO_EUNAVAILABLE || sent == AIO_EFULL) /* this worker's room has it */
        return aio_ws_send_text(ws, "* not delivered to the other servers just now: "
                                    "the shared broadcast is unavailable");
    return sent < 0 ? sent : AIO_OK;
}

static void on_close(aio_ws *ws, int code)
{
    (void)ws;
    (void)code;
}

static int page(aio_request *req)
{
    return aio_render(req, "templates/chat.html", "title", "aio chat", NULL);
}

int aio_main(aio_config *cfg)
{
    static const struct aio_ws_callbacks room = {on_open, on_message, on_close};
    aio_add_route(cfg, "chat_page", "/chat");
    aio_add_route(cfg, "chat_socket", "/chat/ws");
    aio_add_view(cfg, "chat_page", page, AIO_COROUTINE | AIO_GET);
    return aio_add_websocket_callbacks(cfg, "chat_socket", &room, 0);
}
