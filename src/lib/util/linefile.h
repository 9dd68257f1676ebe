/* linefile.h - reading a map file line by line with "FILE:LINE: why"
 * errors: the one reader of sender_login_map and local_recipients (and
 * of any later "key value..." map), so that every map has the same line
 * cap, the same read-error text and the same message shape. */
#ifndef POSTERN_LINEFILE_H
#define POSTERN_LINEFILE_H

#include <stddef.h>

#include "util/span.h"

/* Where the reader is, for messages. */
struct linefile {
	const char *path;
	unsigned line;		/* 1-based number of the line being handled */
	char **err_r;
};

/* Called once per line (without its LF; tabs kept): 0 to go on, -1 to
 * stop after setting the error with linefile_err(). */
typedef int linefile_fn(struct linefile *lf, struct span line, void *arg);

/* Sets *lf->err_r to a malloc'd "PATH:LINE: " + the formatted text (NULL
 * only when out of memory) and returns -1. */
int linefile_err(struct linefile *lf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads path and calls fn for each line.  Lines longer than line_max
 * bytes are an error ("PATH:LINE: line longer than N bytes").  Returns
 * 0, or -1 with *err_r malloc'd ("PATH: strerror" when it cannot be
 * opened or read, else what fn or the cap said). */
int linefile_read(const char *path, size_t line_max, linefile_fn *fn, void *arg, char **err_r);

#endif
