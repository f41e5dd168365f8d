/*
 * Logging: one line per event, "key=value" pairs, to stderr (lighttpd puts
 * a responder's stderr in its error log) or syslog.  The caller's format
 * holds the event's own pairs; each line gets level and pid prepended.
 */
#ifndef LEDGEROPS_LOG_H
#define LEDGEROPS_LOG_H

#include <stddef.h>

/* Names the program in every line; use_syslog sends lines to syslog. */
void log_init(const char *progname, int use_syslog);

/* Turns debug lines on or off (off by default). */
void log_set_debug(int on);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends errno's text as err="...". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copies s into out (size len) as a log value: quoted, with quotes,
 * backslashes and control characters escaped, truncated to fit.  Returns
 * out, so that it can be used inline in a log call.
 */
const char *log_quote(const char *s, char *out, size_t len);

#endif
