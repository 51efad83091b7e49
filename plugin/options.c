#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aio.h"

int aio_option_int(const char *option, const char *value, long min, long max, long *out,
                   char *error, size_t error_size)
{
    char *end = NULL;
    errno = 0;
    long n = value && *value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || errno || *end || n < min || n > max) {
        snprintf(error, error_size, "option '%s' must be an integer from %ld to %ld (got '%s')",
                 option, min, max, value ? value : "");
        return AIO_EINVAL;
    }
    *out = n;
    return AIO_OK;
}

static int size_suffix_shift(const char *suffix, unsigned *shift)
{
    if (suffix[0] == '\0') {
        *shift = 0;
        return 1;
    }
    if (suffix[1] != '\0')
        return 0;
    switch (tolower((unsigned char)suffix[0])) {
    case 'k': *shift = 10; return 1;
    case 'm': *shift = 20; return 1;
    case 'g': *shift = 30; return 1;
    default: return 0;
    }
}

int aio_option_size(const char *option, const char *value, size_t min, size_t max,
                    size_t *out, char *error, size_t error_size)
{
    char *end = NULL;
    unsigned shift = 0;
    errno = 0;
    unsigned long long n = 0;
    int ok = value && isdigit((unsigned char)value[0]);
    if (ok) {
        n = strtoull(value, &end, 10);
        ok = !errno && size_suffix_shift(end, &shift) && n <= (SIZE_MAX >> shift);
    }
    if (ok)
        n <<= shift;
    if (!ok || n < min || n > max) {
        snprintf(error, error_size,
                 "option '%s' must be a size from %zu to %zu bytes, e.g. 256k (got '%s')", option,
                 min, max, value ? value : "");
        return AIO_EINVAL;
    }
    *out = (size_t)n;
    return AIO_OK;
}

int aio_option_bool(const char *option, const char *value, int *out, char *error,
                    size_t error_size)
{
    static const char *truthy[] = {"1", "true", "yes", "on"};
    static const char *falsy[] = {"0", "false", "no", "off"};
    for (size_t i = 0; value && i < 4; i++) {
        if (strcasecmp(value, truthy[i]) == 0) {
            *out = 1;
            return AIO_OK;
        }
        if (strcasecmp(value, falsy[i]) == 0) {
            *out = 0;
            return AIO_OK;
        }
    }
    snprintf(error, error_size, "option '%s' must be true or false (got '%s')", option,
             value ? value : "");
    return AIO_EINVAL;
}

int aio_option_setting(const char *option, char *pair, char **key, char **value, char *error,
                       size_t error_size)
{
    char *eq = pair ? strchr(pair, '=') : NULL;
    int ok = eq && eq != pair;
    for (char *p = pair; ok && p < eq; p++)
        ok = isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-';
    if (!ok) {
        snprintf(error, error_size,
                 "option '%s' must look like key=value with a key of letters, digits, '_', '.', "
                 "'-' (got '%s')",
                 option, pair ? pair : "");
        return AIO_EINVAL;
    }
    *eq = '\0';
    *key = pair;
    *value = eq + 1;
    return AIO_OK;
}
