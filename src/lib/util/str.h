/* str.h - malloc'd formatted strings, for error messages (err_r) that
 * callers free. */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H

#include <stdarg.h>

/* Returns a new string (free with free()), or NULL when out of memory. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *str_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
