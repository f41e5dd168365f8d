#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "ledgerops";
static int log_to_syslog;
static int log_debug_on;

void
log_init(const char *progname, int use_syslog)
{
	log_progname = progname;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_debug(int on)
{
	log_debug_on = on;
}

/* Writes one whole line; a single fprintf keeps lines from different
 * processes sharing the error log from interleaving mid-line. */
static void
log_emit(int priority, const char *level, const char *errtext, const char *fmt,
    va_list ap)
{
	char msg[2048];
	char errq[256];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errtext != NULL)
		log_quote(errtext, errq, sizeof errq);

	if (log_to_syslog) {
		syslog(priority, "level=%s %s%s%s", level, msg,
		    errtext ? " err=" : "", errtext ? errq : "");
		return;
	}
	fprintf(stderr, "prog=%s pid=%ld level=%s %s%s%s\n", log_progname,
	    (long)getpid(), level, msg, errtext ? " err=" : "",
	    errtext ? errq : "");
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, "info", NULL, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	char text[128];
	va_list ap;

	/* strerror_r: the responder logs from several threads. */
	if (strerror_r(saved, text, sizeof text) != 0)
		snprintf(text, sizeof text, "error %d", saved);
	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warn", text, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warn", NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, "debug", NULL, fmt, ap);
	va_end(ap);
}

const char *
log_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;

	if (len < 3) {
		if (len > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (; s != NULL && *s != '\0' && o + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
