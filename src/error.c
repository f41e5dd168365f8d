#include <stdarg.h>
#include <stdio.h>

#include "error.h"

enum err
err_set(char *buf, size_t len, enum err code, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return code;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return code;
}
