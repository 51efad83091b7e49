/* A view module for the scale-out tests: state shared between workers
 * through aio_redis(), and websocket messages between workers through
 * aio_publish() / aio_ws_broadcast() with aio-broadcast. Every answer names
 * the worker (its pid), so a test can see which one served it. */
#include <uwsgi-aio/aio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int answer_status(aio_request *req, int rc)
{
    aio_set_status(req, rc < 0 ? 503 : 200);
    return aio_printf(req, "%s pid=%d\n", rc < 0 ? aio_strerror(rc) : "ok", (int)getpid());
}

/* GET /shared/incr?key=K: INCR K, answers "N pid=P". */
static int incr_view(aio_request *req)
{
    const char *key = aio_param(req, "key");
    const aio_redis_reply *reply;
    int rc = aio_redis(req, &reply, "INCR %s", key ? key : "aio-test:counter");
    if (rc != AIO_OK)
        return answer_status(req, rc);
    if (reply->type != AIO_REDIS_INTEGER)
        return aio_respond_text(req, 502, reply->str ? reply->str : "not an integer");
    return aio_printf(req, "%lld pid=%d\n", reply->integer, (int)getpid());
}

/* GET /shared/cmd?a=..&a=..: any command, its reply described. */
static int cmd_view(aio_request *req)
{
    const char *argv[16];
    size_t argc = aio_params(req, "a", argv, 16);
    const aio_redis_reply *reply;
    int rc = aio_redis_argv(req, &reply, (int)argc, argv, NULL);
    if (rc != AIO_OK) {
        aio_set_status(req, rc == AIO_EINVAL ? 400 : rc == AIO_ETIMEDOUT ? 504 : 503);
        return aio_printf(req, "%s\n", aio_strerror(rc));
    }
    aio_printf(req, "type=%d", reply->type);
    if (reply->type == AIO_REDIS_INTEGER)
        aio_printf(req, " integer=%lld", reply->integer);
    if (reply->str)
        aio_printf(req, " str=%s", reply->str);
    for (size_t i = 0; i < reply->elements; i++)
        aio_printf(req, " [%zu]=%s", i, reply->element[i].str ? reply->element[i].str : "-");
    return aio_printf(req, "\n");
}

/* GET /shared/publish?topic=T&text=M (no topic: aio_ws_broadcast to the
 * route "shared_ws"; all=1: to every websocket). */
static int publish_view(aio_request *req)
{
    const char *topic = aio_param(req, "topic"), *text = aio_param(req, "text");
    const char *all = aio_param(req, "all");
    if (!text)
        text = "";
    int rc = topic ? aio_publish(topic, AIO_MSG_TEXT, text, strlen(text))
                   : aio_ws_broadcast(all ? NULL : "shared_ws", AIO_MSG_TEXT, text, strlen(text));
    if (rc < 0)
        return answer_status(req, rc);
    return aio_printf(req, "local=%d pid=%d\n", rc, (int)getpid());
}

/* GET /shared/status: 200 once this worker's broadcast connections are up. */
static int status_view(aio_request *req)
{
    aio_set_status(req, aio_broadcast_connected() ? 200 : 503);
    return aio_printf(req, "connected=%d pid=%d\n", aio_broadcast_connected(), (int)getpid());
}

/* /shared/ws?topic=T: says "ready pid=P", then forwards what it is sent:
 * "pub <topic> <text>" publishes, "bin <text>" broadcasts the text as a
 * binary message to the route, anything else is broadcast as text. */
static int ws_view(aio_ws *ws)
{
    aio_request *req = aio_ws_request(ws);
    const char *topic = aio_param(req, "topic");
    if (topic && aio_ws_subscribe(ws, topic) != AIO_OK)
        return aio_ws_close(ws, 1011, "cannot subscribe");
    char ready[64];
    snprintf(ready, sizeof(ready), "ready pid=%d", (int)getpid());
    aio_ws_send_text(ws, ready);
    aio_msg *msg;
    while ((msg = aio_ws_recv(ws)) != NULL) {
        size_t len;
        const char *data = aio_msg_data(msg, &len);
        if (strncmp(data, "pub ", 4) == 0 && strchr(data + 4, ' ')) {
            char name[256];
            const char *sp = strchr(data + 4, ' ');
            snprintf(name, sizeof(name), "%.*s", (int)(sp - data - 4), data + 4);
            aio_publish(name, AIO_MSG_TEXT, sp + 1, strlen(sp + 1));
        } else if (strncmp(data, "bin ", 4) == 0) {
            aio_ws_broadcast("shared_ws", AIO_MSG_BINARY, data + 4, len - 4);
        } else {
            aio_ws_broadcast("shared_ws", aio_msg_type(msg), data, len);
        }
        aio_msg_free(msg);
    }
    return AIO_OK;
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "shared_incr", "/shared/incr");
    aio_add_route(cfg, "shared_cmd", "/shared/cmd");
    aio_add_route(cfg, "shared_publish", "/shared/publish");
    aio_add_route(cfg, "shared_status", "/shared/status");
    aio_add_route(cfg, "shared_ws", "/shared/ws");
    aio_add_view(cfg, "shared_incr", incr_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "shared_cmd", cmd_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "shared_publish", publish_view, AIO_COROUTINE | AIO_GET);
    aio_add_view(cfg, "shared_status", status_view, AIO_COROUTINE | AIO_GET);
    aio_add_websocket_view(cfg, "shared_ws", ws_view, 0);
    return AIO_OK;
}
