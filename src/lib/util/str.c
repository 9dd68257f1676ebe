/* str.c - malloc'd strings. */
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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

char *
str_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

void
str_wipe_free(char **p)
{
	if (p == NULL || *p == NULL)
		return;
	OPENSSL_cleanse(*p, strlen(*p));
	free(*p);
	*p = NULL;
}
