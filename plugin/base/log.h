/* log.h - one line at a time to whoever hosts us.
 *
 * Every layer logs through aio__log(); the host (uWSGI's logger, or the
 * test harness's buffer) installs where the lines go. Until it does, they
 * go to stderr. */
#ifndef AIO_BASE_LOG_H
#define AIO_BASE_LOG_H

/* Formats one line (no trailing newline) and hands it to the sink. */
void aio__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where lines go from now on; NULL: back to stderr. */
void aio__log_set_sink(void (*sink)(const char *line));

#endif
