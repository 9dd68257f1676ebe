/* xtext.c - RFC 3461 section 4 xtext.
 *
 *	xtext	= *( xchar / hexchar )
 *	xchar	= any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *		  except for "+" and "=".
 *	hexchar	= ASCII "+" immediately followed by two upper case
 *		  hexadecimal digits
 *
 * Decision: decoding also accepts lower-case hex digits ("+2b").  The
 * value is unambiguous, the AUTH= parameter is informational (RFC 4954
 * section 5), and refusing it would fail MAIL for a harmless client bug.
 * Encoding always emits upper case, as the RFC requires of senders.
 * A decoded NUL ("+00") is refused: every xtext value postern reads is
 * an address or an id, and the result is used as a C string.
 */
#include "smtp/xtext.h"

#include "util/buf.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool
is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

int
smtp_xtext_decode(struct span in, struct buf *out)
{
	size_t mark = out->len;
	for (size_t i = 0; i < in.n; i++) {
		unsigned char c = (unsigned char)in.p[i];
		if (c == '+') {
			if (in.n - i < 3)
				goto bad;
			int hi = hexval((unsigned char)in.p[i + 1]);
			int lo = hexval((unsigned char)in.p[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (!is_xchar(c)) {
			goto bad;
		}
		if (buf_addch(out, c) != BUF_OK)
			goto bad;
	}
	return 0;
bad:
	buf_truncate(out, mark);
	return -1;
}

int
smtp_xtext_encode(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t mark = out->len;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		int rc;
		if (is_xchar(*p)) {
			rc = buf_addch(out, *p);
		} else {
			char esc[3] = { '+', hex[*p >> 4], hex[*p & 0xf] };
			rc = buf_add(out, esc, sizeof esc);
		}
		if (rc != BUF_OK) {
			buf_truncate(out, mark);
			return rc;
		}
	}
	return BUF_OK;
}
