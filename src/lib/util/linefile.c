/* linefile.c - line-by-line map reading (linefile.h). */
#include "util/linefile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

int
linefile_err(struct linefile *lf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = str_vprintf(fmt, ap);
	va_end(ap);
	free(*lf->err_r);
	*lf->err_r = str_printf("%s:%u: %s", lf->path, lf->line, what ? what : "out of memory");
	free(what);
	return -1;
}

int
linefile_read(const char *path, size_t line_max, linefile_fn *fn, void *arg, char **err_r)
{
	*err_r = NULL;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct linefile lf = { path, 0, err_r };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lf.line++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if ((size_t)len > line_max)
			rc = linefile_err(&lf, "line longer than %zu bytes", line_max);
		else
			rc = fn(&lf, (struct span){ line, (size_t)len }, arg);
	}
	if (rc == 0 && ferror(f)) {
		*err_r = str_printf("%s: read error: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	(void)fclose(f);
	if (rc < 0 && *err_r == NULL)
		*err_r = str_printf("%s: out of memory", path);
	return rc;
}
