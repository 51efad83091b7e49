/* Hex digits: values in either case, lowercase encoding, and decoding that
 * accepts only what encoding writes. */
#include "unit/testing.h"

#include "base/hex.h"

static void values(void **state)
{
    (void)state;
    assert_int_equal(aio__hex_value('0'), 0);
    assert_int_equal(aio__hex_value('9'), 9);
    assert_int_equal(aio__hex_value('a'), 10);
    assert_int_equal(aio__hex_value('F'), 15);
    assert_int_equal(aio__hex_value('g'), -1);
    assert_int_equal(aio__hex_value('%'), -1);
    assert_int_equal(aio__hex_value('\0'), -1);
}

static void round_trip(void **state)
{
    (void)state;
    const unsigned char bytes[] = {0x00, 0x7f, 0x80, 0xab, 0xff};
    char text[2 * sizeof(bytes) + 1];
    aio__hex_encode(bytes, sizeof(bytes), text);
    assert_string_equal(text, "007f80abff");
    unsigned char back[sizeof(bytes)];
    assert_int_equal(aio__hex_decode(text, strlen(text), back), 1);
    assert_memory_equal(back, bytes, sizeof(bytes));
}

static void strict_decoding(void **state)
{
    (void)state;
    unsigned char out[4];
    assert_int_equal(aio__hex_decode("abc", 3, out), 0);  /* odd length */
    assert_int_equal(aio__hex_decode("AB", 2, out), 0);   /* not the form we write */
    assert_int_equal(aio__hex_decode("0g", 2, out), 0);
    assert_int_equal(aio__hex_decode("", 0, out), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(strict_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
