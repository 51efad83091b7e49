/* The baseline of the benchmark: the smallest useful uWSGI C request plugin,
 * answering every request with "Hello World\n" and the same headers as the
 * tutorial's /hello view. It runs in uWSGI's default (non-async) mode. */
#include <uwsgi.h>

extern struct uwsgi_server uwsgi;

static int bare_request(struct wsgi_request *wsgi_req)
{
    if (!wsgi_req->uh->pktsize || uwsgi_parse_vars(wsgi_req))
        return -1;
    static char body[] = "Hello World\n";
    uwsgi_response_prepare_headers(wsgi_req, "200 OK", 6);
    uwsgi_response_add_header(wsgi_req, "Content-Type", 12, "text/plain; charset=utf-8", 25);
    uwsgi_response_add_content_length(wsgi_req, sizeof(body) - 1);
    uwsgi_response_add_header(wsgi_req, "Connection", 10, "close", 5);
    uwsgi_response_write_body_do(wsgi_req, body, sizeof(body) - 1);
    return UWSGI_OK;
}

static void bare_after_request(struct wsgi_request *wsgi_req)
{
    log_request(wsgi_req);
}

struct uwsgi_plugin bare_plugin = {
    .name = "bare",
    .modifier1 = 0,
    .request = bare_request,
    .after_request = bare_after_request,
};
