/* testing.h - what every cmocka unit test includes. */
#ifndef AIO_TESTING_H
#define AIO_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define assert_str(actual, expected) assert_string_equal((actual), (expected))

#endif
