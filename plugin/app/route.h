/* route.h - URL patterns: compile "/users/{id}" style patterns to anchored
 * POSIX extended regexes and match decoded paths against them. */
#ifndef AIO_ROUTE_H
#define AIO_ROUTE_H

#include <regex.h>
#include <stddef.h>

#include "base/arena.h"
#include "proto/params.h"

#define AIO_PATTERN_MAX_PLACEHOLDERS 16

struct aio_pattern {
    char *source;                                 /* as written by the user */
    regex_t regex;
    size_t nplaceholders;
    char *names[AIO_PATTERN_MAX_PLACEHOLDERS];
    size_t groups[AIO_PATTERN_MAX_PLACEHOLDERS]; /* regex group of each name */
};

/*
 * Compiles `source`. Syntax: a path starting with '/', where
 *   {name}        matches one segment: one or more characters except '/'
 *   {name:regex}  matches the POSIX extended regex (braces may nest), which
 *                 must compile on its own and close no group it did not open
 *   *name         at the very end matches the rest of the path (may be empty)
 * Names are [A-Za-z_][A-Za-z0-9_]* and unique within a pattern.
 * Returns AIO_OK, or AIO_EINVAL with a message in error[0..error_size).
 */
int aio__pattern_compile(struct aio_pattern *pattern, const char *source,
                        char *error, size_t error_size);
void aio__pattern_free(struct aio_pattern *pattern);

/* Matches a decoded path. Returns 1 and appends name/value pairs to
 * `match` (copied into `arena`) on a match, 0 on no match, AIO_ENOMEM. */
int aio__pattern_match(const struct aio_pattern *pattern, const char *path,
                      struct aio_arena *arena, struct aio_kvlist *match);

#endif
