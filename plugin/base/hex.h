/* hex.h - hexadecimal digits, the one codec for percent-escapes and the
 * signed ticket's fields. */
#ifndef AIO_BASE_HEX_H
#define AIO_BASE_HEX_H

#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int aio__hex_value(char c);
/* Writes 2 * len lowercase digits and a NUL into `out`. */
void aio__hex_encode(const unsigned char *in, size_t len, char *out);
/* Decodes `len` (even) lowercase digits, as aio__hex_encode writes them,
 * into len / 2 bytes. 1, or 0 when `in` is not in that form. */
int aio__hex_decode(const char *in, size_t len, unsigned char *out);

#endif
