/* testing.h - what every cmocka unit test includes. */
#ifndef AIO_UNIT_TESTING_H
#define AIO_UNIT_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/arena.h"

#define assert_str(actual, expected) assert_string_equal((actual), (expected))

/* An arena for tests that allocate, set up and released around each test
 * (cmocka_unit_test_setup_teardown(test, arena_setup, arena_teardown)). */
static struct aio_arena arena __attribute__((unused));

static inline int arena_setup(void **state)
{
    (void)state;
    aio__arena_init(&arena);
    return 0;
}

static inline int arena_teardown(void **state)
{
    (void)state;
    aio__arena_release(&arena);
    return 0;
}

#endif
