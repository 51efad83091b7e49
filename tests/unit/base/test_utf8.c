/* UTF-8 validation, whole and split at every byte (websocket fragments
 * may split a character anywhere). */
#include "unit/testing.h"

#include "base/utf8.h"

static const char *valid[] = {
    "", "plain ascii", "J\xc3\xb6rg", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xed\x9f\xbf",         /* U+D7FF, just below the surrogates */
    "\xee\x80\x80",         /* U+E000, just above them */
    "\xf4\x8f\xbf\xbf",     /* U+10FFFF */
    "\xc2\x80",             /* U+0080 */
    "mixed \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 text",
    NULL,
};

static const char *invalid[] = {
    "\xc3",               /* truncated */
    "\xc0\xaf",           /* overlong '/' */
    "\xc1\xbf",           /* overlong */
    "\xe0\x80\xaf",       /* overlong */
    "\xe0\x9f\xbf",       /* overlong */
    "\xf0\x8f\xbf\xbf",   /* overlong */
    "\xed\xa0\x80",       /* surrogate U+D800 */
    "\xed\xbf\xbf",       /* surrogate U+DFFF */
    "\xf4\x90\x80\x80",   /* > U+10FFFF */
    "\xf5\x80\x80\x80",
    "\xff", "\xfe", "a\x80", "\xe2\x82", "\xe2\x28\xa1", "\xce\xba\xe1\xbd",
    NULL,
};

static void whole(void **state)
{
    (void)state;
    for (int i = 0; valid[i]; i++)
        if (!aio__utf8_valid(valid[i], strlen(valid[i])))
            fail_msg("valid[%d] rejected", i);
    for (int i = 0; invalid[i]; i++)
        if (aio__utf8_valid(invalid[i], strlen(invalid[i])))
            fail_msg("invalid[%d] accepted", i);
}

/* Feeding the same bytes in two pieces, split anywhere, decides the same. */
static int split_valid(const char *s, size_t cut)
{
    struct aio_utf8 st = AIO_UTF8_INIT;
    size_t len = strlen(s);
    return aio__utf8_feed(&st, (const uint8_t *)s, cut) &&
           aio__utf8_feed(&st, (const uint8_t *)s + cut, len - cut) && aio__utf8_complete(&st);
}

static void incremental(void **state)
{
    (void)state;
    for (int i = 0; valid[i]; i++)
        for (size_t cut = 0; cut <= strlen(valid[i]); cut++)
            if (!split_valid(valid[i], cut))
                fail_msg("valid[%d] rejected when cut at %zu", i, cut);
    for (int i = 0; invalid[i]; i++)
        for (size_t cut = 0; cut <= strlen(invalid[i]); cut++)
            if (split_valid(invalid[i], cut))
                fail_msg("invalid[%d] accepted when cut at %zu", i, cut);
}

static void fails_fast(void **state)
{
    (void)state;
    /* an impossible byte is reported at once, not at the end of the text */
    struct aio_utf8 st = AIO_UTF8_INIT;
    assert_true(aio__utf8_feed(&st, (const uint8_t *)"ok \xce", 4));
    assert_false(aio__utf8_complete(&st));
    assert_false(aio__utf8_feed(&st, (const uint8_t *)"(", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole),
        cmocka_unit_test(incremental),
        cmocka_unit_test(fails_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
