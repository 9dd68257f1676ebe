/* buf.c - growable byte buffers with a hard cap. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void
buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Makes room for n more bytes plus the trailing NUL. */
static int
buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return BUF_TOOBIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return BUF_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL)
		return BUF_NOMEM;
	b->p = p;
	b->cap = cap;
	return BUF_OK;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc != BUF_OK)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return BUF_OK;
}

int
buf_extend(struct buf *b, size_t n, uint8_t **p_r)
{
	int rc = buf_reserve(b, n);
	if (rc != BUF_OK)
		return rc;
	*p_r = b->p + b->len;
	b->len += n;
	b->p[b->len] = '\0';
	return BUF_OK;
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->p[len] = '\0';
	}
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, uint8_t c)
{
	return buf_add(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return BUF_NOMEM;
	int rc = buf_reserve(b, (size_t)n);
	if (rc != BUF_OK)
		return rc;
	/* The same format and arguments give the same length; anything else
	 * (a locale change under us) leaves the buffer as it was. */
	if (vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap) != n) {
		b->p[b->len] = '\0';
		return BUF_NOMEM;
	}
	b->len += (size_t)n;
	return BUF_OK;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_wipe(struct buf *b)
{
	if (b->p != NULL)
		OPENSSL_cleanse(b->p, b->cap);
	buf_reset(b);
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_wipe_free(struct buf *b)
{
	buf_wipe(b);
	buf_free(b);
}

const char *
buf_cstr(const struct buf *b)
{
	return b->p != NULL ? (const char *)b->p : "";
}
