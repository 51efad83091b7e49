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
    size_t prefix_len; /* the literal text before the first placeholder */
    int literal;       /* no placeholder at all: a path compared as it is */
    int segments;      /* placeholders are whole segments ({name}) or a final
                        * *name only: matched without the regex */
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

/* The same as aio__pattern_match(), always through the regex (for tests
 * of the matcher that does without it). */
int aio__pattern_match_regex(const struct aio_pattern *pattern, const char *path,
                            struct aio_arena *arena, struct aio_kvlist *match);

/* The path a client would request to match the pattern with these
 * placeholder values (`values`: name/value pairs): each value
 * percent-encoded where a path needs it (a *rest value keeps its '/').
 * AIO_OK with *path in `arena`; AIO_ENOTFOUND when a placeholder has no
 * value; AIO_EINVAL for a pair naming no placeholder, or a value the
 * pattern would not give back (a '/' in a {segment}, a regex it fails);
 * AIO_ENOMEM. */
int aio__pattern_expand(const struct aio_pattern *pattern, const struct aio_kvlist *values,
                        struct aio_arena *arena, const char **path);

/* routeindex.c: the first of `n` patterns (in their order) that matches a
 * path, found without trying every one (see there). The index reads the
 * patterns, which must outlive it. NULL when out of memory. Match: 1 with
 * *found its position (and its placeholders added to `match`), 0 for
 * none, AIO_ENOMEM. */
struct aio_route_index;
struct aio_route_index *aio__route_index_new(const struct aio_pattern *const *patterns, size_t n);
void aio__route_index_free(struct aio_route_index *index);
int aio__route_index_match(const struct aio_route_index *index, const char *path,
                           struct aio_arena *arena, struct aio_kvlist *match, size_t *found);

#endif
