/* options.h - validation of `aio-*` option values. Pure functions: each
 * returns AIO_OK or AIO_EINVAL with a one-line reason naming the option. */
#ifndef AIO_OPTIONS_H
#define AIO_OPTIONS_H

#include <stddef.h>

/* A decimal integer in [min, max]. */
int aio_option_int(const char *option, const char *value, long min, long max, long *out,
                   char *error, size_t error_size);

/* A size in bytes with an optional k/K, m/M or g/G (binary) suffix, in
 * [min, max]. */
int aio_option_size(const char *option, const char *value, size_t min, size_t max,
                    size_t *out, char *error, size_t error_size);

/* A boolean: 1/0, true/false, yes/no, on/off (any case). */
int aio_option_bool(const char *option, const char *value, int *out, char *error,
                    size_t error_size);

/* "key=value" with a non-empty key of [A-Za-z0-9_.-]; splits in place
 * into *key and *value (pointers into `pair`). */
int aio_option_setting(const char *option, char *pair, char **key, char **value,
                       char *error, size_t error_size);

#endif
