/* http.h - small, pure HTTP helpers: tokens, reason phrases, method bits,
 * UTF-8 validation. No I/O here, so all of it is unit-tested directly. */
#ifndef AIO_PROTO_HTTP_H
#define AIO_PROTO_HTTP_H

#include <stddef.h>

/* The reason phrase of a status code ("Not Found"), "Unknown" if none. */
const char *aio__http_reason(int status);

/* 1 when s[0..len) is a non-empty RFC 9110 token (methods, header names). */
int aio__http_is_token(const char *s, size_t len);

/* 1 when a header value has no CR, LF or NUL and no other control byte
 * except horizontal tab. */
int aio__http_valid_header_value(const char *value);
/* A header line of a message, without its CR LF: 1 when it is
 * "name: value" with a token for a name, setting *name_len and the value
 * without the spaces and tabs around it; 0 when it is not a header line
 * (a status line, a line without a colon, a name that is no token). */
int aio__http_split_header(const char *line, size_t len, size_t *name_len, const char **value,
                           size_t *value_len);
/* 1 for a redirect target: an absolute URL (scheme "://" then at least a
 * host) or an absolute path ("/..." but not "//", which a browser reads
 * as another host), of visible ASCII only (no spaces, no controls), at
 * most 8 KiB. */
int aio__http_valid_location(const char *location);
/* 1 for "type/subtype" (two tokens), nothing else. */
int aio__http_media_type_valid(const char *s, size_t len);
/* How much of a Content-Type value is the media type: up to its
 * parameters (';'), blanks before them left out. */
size_t aio__http_media_type_len(const char *value);
/* 1 when a Content-Type value (NULL: none) is the media type `type`,
 * whatever its parameters (case-insensitive). */
int aio__http_media_type_is(const char *value, const char *type);
/* 1 when an Accept header (RFC 9110 section 12.5.1; NULL: absent, which
 * takes anything) takes the media type `type` ("text/html"): a range that
 * matches it - the type itself, "text/ *" or "* / *" - with q above 0, the
 * most specific range deciding. A header that does not parse takes
 * anything (as if absent). */
int aio__http_accepts(const char *accept, const char *type);

/* The AIO_GET.. bit of a method, 0 for any other (valid) method. */
unsigned aio__http_method_bit(const char *method);

/* Writes "GET, HEAD, POST" for a mask of method bits; returns the length
 * (truncated to fit `size`, always NUL-terminated when size > 0). */
size_t aio__http_format_methods(unsigned mask, char *out, size_t size);

/* 1 when the header name "User-Agent" names the CGI variable
 * "HTTP_USER_AGENT" (or "Content-Type"/"Content-Length" their CGI names). */
int aio__http_header_is_cgi_var(const char *name, const char *var, size_t var_len);

/* The CGI variable of a header name ("User-Agent" -> "HTTP_USER_AGENT",
 * "Content-Type" -> "CONTENT_TYPE"), allocated in `arena`, or NULL. */
struct aio_arena;
char *aio__http_cgi_var(struct aio_arena *arena, const char *name);

/* NULL when the method is a token and the protocol looks like "HTTP/x";
 * otherwise what is wrong with the request line. */
const char *aio__http_check_request_line(const char *method, size_t method_len,
                                        const char *protocol, size_t protocol_len);

/* Decodes the path of a request target (origin-form "/a%20b?x" or
 * absolute-form "http://host/a?x") into *path, allocated in `arena`.
 * Returns NULL, or why the target is unacceptable (bad escape, encoded NUL,
 * not UTF-8 once decoded, not a path). */
const char *aio__http_decode_target(struct aio_arena *arena, const char *target, size_t len,
                                   const char **path);

/* NULL when an already decoded path (a frontend's PATH_INFO, sent without
 * REQUEST_URI) is one a decoded request target could be: it starts with
 * '/', has no NUL and is UTF-8; otherwise what is wrong. */
const char *aio__http_check_decoded_path(const char *path, size_t len);

/* 1 when the comma-separated header value lists `token` (any case), as
 * "Connection: keep-alive, Upgrade" lists "upgrade". */
int aio__http_has_token(const char *value, const char *token);

/* Scans the request head at buf[0..len) (what has arrived so far) in one
 * pass. Returns the offset just past its first CRLF CRLF, or 0 while the
 * head is incomplete or when *problem is set: a CR not followed by LF, an
 * LF not preceded by CR, a NUL or another control byte (HTAB aside), a line
 * longer than 65535 bytes. A CR as the very last byte is no problem yet
 * (its LF may follow). uWSGI's own HTTP parser leaks memory on some of
 * these, so heads are checked before it sees them. */
size_t aio__http_head_scan(const char *buf, size_t len, const char **problem);

/* The body of every error page, whoever answers it ("404 Not Found\n",
 * then a blank line and `detail` when given), appended to `out` (plain
 * text, UTF-8). AIO_OK or AIO_ENOMEM. */
struct aio_buf;
int aio__http_error_body(struct aio_buf *out, int status, const char *detail);

#endif
