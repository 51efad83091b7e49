/* hex.c - hexadecimal digits (hex.h). */
#include "base/hex.h"

int aio__hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void aio__hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* Lowercase only: one form per value, so that what was signed is the only
 * spelling that verifies. */
static int lower_digit(char c)
{
    return (c >= 'A' && c <= 'F') ? -1 : aio__hex_value(c);
}

int aio__hex_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 2)
        return 0;
    for (size_t i = 0; i < len; i += 2) {
        int hi = lower_digit(in[i]), lo = lower_digit(in[i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    return 1;
}
