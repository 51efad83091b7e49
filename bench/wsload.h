/* wsload.h - what the websocket load generators of bench/ share: the
 * upgrade request they send and the reading of the 101 answer. Header
 * only: each generator is one .c file built with the plugin's codec. */
#ifndef WSLOAD_H
#define WSLOAD_H

#include <stdio.h>
#include <string.h>

/* The upgrade request for `path` (one fixed key: the answer is not
 * checked, only its status). Its length, as snprintf's. */
static inline int wsload_request(char *out, size_t size, const char *path)
{
    return snprintf(out, size,
                    "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n",
                    path);
}

/* Feeds what was read to the answer's head (`head` of `cap` bytes, `*len`
 * of them so far); *used tells how much of `buf` the head took (the rest
 * is frames). 0: incomplete; 1: "101 Switching Protocols"; -1: another
 * answer, or a head too long. */
static inline int wsload_head(char *head, size_t *len, size_t cap, const char *buf, size_t got,
                              size_t *used)
{
    *used = 0;
    while (*used < got && *len < cap - 1) {
        head[(*len)++] = buf[(*used)++];
        if (*len >= 4 && !memcmp(head + *len - 4, "\r\n\r\n", 4))
            return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 1 : -1;
    }
    return *len >= cap - 1 ? -1 : 0;
}

#endif
