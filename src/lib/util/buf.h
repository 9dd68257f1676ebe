/* buf.h - growable byte buffers with a hard cap.
 *
 * Every buffer gets its maximum size when it is created, so that input
 * from the network can never grow memory without bound: overflow is a
 * return code the caller turns into a protocol reply.
 * The data is always followed by a NUL byte that is not counted in len,
 * so a buffer holding text can be used as a C string.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;	/* NULL until the first byte is added */
	size_t len;	/* bytes in use, excluding the trailing NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* len never exceeds this */
};

enum buf_rc {
	BUF_OK = 0,
	BUF_TOOBIG = -1,	/* the cap would be exceeded; buffer unchanged */
	BUF_NOMEM = -2,		/* allocation failed; buffer unchanged */
};

/* Prepares an empty buffer that will hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes. Returns BUF_OK, BUF_TOOBIG or BUF_NOMEM. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, uint8_t c);
/* Appends formatted text (vsnprintf); same return codes as buf_add. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Grows len by n bytes (contents unspecified, NUL after them) and sets
 * *p_r to the first of them. Same return codes as buf_add. */
int buf_extend(struct buf *b, size_t n, uint8_t **p_r);
/* Cuts the buffer back to len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Empties the buffer after wiping its bytes with OPENSSL_cleanse. */
void buf_wipe(struct buf *b);
/* Releases the memory; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);
/* Wipes then releases: use for anything that held a secret. */
void buf_wipe_free(struct buf *b);
/* The contents as a NUL-terminated string ("" when empty). */
const char *buf_cstr(const struct buf *b);

#endif
