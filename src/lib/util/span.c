/* span.c - read-only views into input. */
#include "util/span.h"

#include <string.h>
#include <strings.h>

struct span
span_of(const char *s)
{
	return (struct span){ s ? s : "", s ? strlen(s) : 0 };
}

bool
span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && memcmp(a.p, s, n) == 0;
}

bool
span_ieq(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && strncasecmp(a.p, s, n) == 0;
}

bool
span_istarts(struct span a, const char *prefix)
{
	size_t n = strlen(prefix);
	return a.n >= n && strncasecmp(a.p, prefix, n) == 0;
}

void
span_skip(struct span *in, size_t n)
{
	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
}

int
span_word(struct span *in, struct span *word_r, size_t max)
{
	size_t i = 0;
	while (i < in->n && in->p[i] != ' ')
		i++;
	if (i == 0 || i > max)
		return -1;
	word_r->p = in->p;
	word_r->n = i;
	while (i < in->n && in->p[i] == ' ')
		i++;
	span_skip(in, i);
	return 0;
}

struct span
span_rtrim(struct span in)
{
	while (in.n > 0 && (in.p[in.n - 1] == ' ' || in.p[in.n - 1] == '\t'))
		in.n--;
	return in;
}

int
span_cstr(struct span in, char *dst, size_t dstsz)
{
	if (dstsz == 0 || in.n >= dstsz || memchr(in.p, '\0', in.n) != NULL)
		return -1;
	memcpy(dst, in.p, in.n);
	dst[in.n] = '\0';
	return 0;
}

long
span_chr(struct span in, char c)
{
	const char *q = memchr(in.p, c, in.n);
	return q ? (long)(q - in.p) : -1;
}
