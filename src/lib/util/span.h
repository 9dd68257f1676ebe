/* span.h - read-only views into input: (pointer, length), never NUL-terminated.
 *
 * Parsers take a span and advance it; they never write into the input.
 */
#ifndef POSTERN_SPAN_H
#define POSTERN_SPAN_H

#include <stdbool.h>
#include <stddef.h>

struct span {
	const char *p;
	size_t n;
};

#define SPAN_LIT(s) ((struct span){ (s), sizeof(s) - 1 })

struct span span_of(const char *s);	/* s may be NULL: empty span */
/* True when the span equals the string exactly / ignoring ASCII case. */
bool span_eq(struct span a, const char *s);
bool span_ieq(struct span a, const char *s);
/* True when the span starts with prefix, ignoring ASCII case. */
bool span_istarts(struct span a, const char *prefix);
/* Splits off the next word (bytes up to a space) into word_r and skips
 * the spaces after it. Returns 0, or -1 when the span is empty or the
 * word is longer than max. */
int span_word(struct span *in, struct span *word_r, size_t max);
/* Drops n bytes from the front (n <= in->n). */
void span_skip(struct span *in, size_t n);
/* Removes trailing spaces and tabs. */
struct span span_rtrim(struct span in);
/* Copies into dst (size dstsz, NUL-terminated). Returns -1 if it does not
 * fit or the span holds a NUL byte. */
int span_cstr(struct span in, char *dst, size_t dstsz);
/* Index of the first c, or -1. */
long span_chr(struct span in, char c);

#endif
