/* str.h - malloc'd strings: formatted ones for error messages (err_r)
 * that callers free, a NULL-safe copy, and a wipe-and-free for secrets. */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H

#include <stdarg.h>

/* Returns a new string (free with free()), or NULL when out of memory. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *str_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A malloc'd copy of s; NULL for NULL (an unset optional string) and
 * when out of memory: callers that need to tell the two apart test s. */
char *str_dup(const char *s);

/* Wipes a NUL-terminated string (a password, a SASL identity) with
 * OPENSSL_cleanse and frees it; NULL-safe (p and *p); sets *p = NULL. */
void str_wipe_free(char **p);

#endif
