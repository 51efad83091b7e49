/* The websocket benchmark's baseline: an echo written against uWSGI's
 * native websocket API, run in uWSGI's async mode with the ugreen suspend
 * engine (async = N, ugreen = true). Text frames in, text frames out. */
#include <uwsgi.h>

extern struct uwsgi_server uwsgi;

static int wsbare_request(struct wsgi_request *wsgi_req)
{
    if (!wsgi_req->uh->pktsize || uwsgi_parse_vars(wsgi_req))
        return -1;
    if (uwsgi_websocket_handshake(wsgi_req, NULL, 0, NULL, 0, NULL, 0))
        return -1;
    for (;;) {
        struct uwsgi_buffer *ub = uwsgi_websocket_recv(wsgi_req);
        if (!ub)
            break;
        int failed = uwsgi_websocket_send(wsgi_req, ub->buf, ub->pos);
        uwsgi_buffer_destroy(ub);
        if (failed)
            break;
    }
    return UWSGI_OK;
}

struct uwsgi_plugin wsbare_plugin = {
    .name = "wsbare",
    .modifier1 = 0,
    .request = wsbare_request,
};
