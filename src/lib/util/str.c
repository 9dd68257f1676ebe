/* str.c - malloc'd formatted strings. */
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>

char *
str_vprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

char *
str_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = str_vprintf(fmt, ap);
	va_end(ap);
	return s;
}
