#include "base/utf8.h"

int aio__utf8_feed(struct aio_utf8 *st, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t b = s[i];
        if (st->need) {
            if (b < st->lo || b > st->hi)
                return 0;
            st->need--;
            st->lo = 0x80;
            st->hi = 0xbf;
            continue;
        }
        if (b < 0x80)
            continue;
        /* The first continuation byte's range rules out overlong forms
         * (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
        if (b >= 0xc2 && b <= 0xdf) {
            st->need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            st->need = 2;
            st->lo = b == 0xe0 ? 0xa0 : 0x80;
            st->hi = b == 0xed ? 0x9f : 0xbf;
        } else if (b >= 0xf0 && b <= 0xf4) {
            st->need = 3;
            st->lo = b == 0xf0 ? 0x90 : 0x80;
            st->hi = b == 0xf4 ? 0x8f : 0xbf;
        } else {
            return 0;
        }
    }
    return 1;
}

int aio__utf8_valid(const char *s, size_t len)
{
    struct aio_utf8 st = AIO_UTF8_INIT;
    return aio__utf8_feed(&st, (const uint8_t *)s, len) && aio__utf8_complete(&st);
}
