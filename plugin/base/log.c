/* log.c - the one log formatter (log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "base/log.h"

static void stderr_sink(const char *line)
{
    fprintf(stderr, "aio: %s\n", line);
}

static void (*log_sink)(const char *line) = stderr_sink;

void aio__log_set_sink(void (*sink)(const char *line))
{
    log_sink = sink ? sink : stderr_sink;
}

void aio__log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_sink(line);
}
