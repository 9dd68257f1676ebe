/* reply.c - SMTP reply stream parser (client side). */
#include "smtp/reply.h"

#include <string.h>

#include "util/log.h"

void
smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof *p);
	/* +1: the line cap counts the CR the parser may still hold. */
	buf_init(&p->line, SMTP_REPLY_LINE_MAX + 1);
	buf_init(&p->cur.text, SMTP_REPLY_TEXT_MAX);
}

void
smtp_reply_parser_reset(struct smtp_reply_parser *p)
{
	buf_reset(&p->line);
	buf_reset(&p->cur.text);
	p->cur.code = 0;
	p->cur.enh[0] = '\0';
	p->cur.nlines = 0;
	p->done = false;
}

void
smtp_reply_parser_free(struct smtp_reply_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->cur.text);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 section 2: status-code = class "." subject "." detail, class
 * 2, 4 or 5, subject and detail 1 to 3 digits.  Returns the length of the
 * code at the start of s (followed by a space or the end), or 0. */
static size_t
enh_len(struct span s, int cls)
{
	size_t i = 0;
	if (s.n < 5 || s.p[0] != (char)('0' + cls) || s.p[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < s.n && is_digit(s.p[i]) && i - start < 4)
			i++;
		if (i == start || i - start > 3)
			return 0;
		if (part == 0) {
			if (i >= s.n || s.p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < s.n && s.p[i] != ' ')
		return 0;
	return i;
}

/* Takes one complete line (without its line end).  Returns MORE, DONE or
 * an error. */
static enum smtp_reply_rc
take_line(struct smtp_reply_parser *p, struct span line)
{
	struct smtp_reply *r = &p->cur;
	if (line.n < 3 || !is_digit(line.p[0]) || !is_digit(line.p[1]) || !is_digit(line.p[2]))
		return SMTP_REPLY_SYNTAX;
	int code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 + (line.p[2] - '0');
	/* RFC 5321 4.2: first digit 2..5 (1xx is never used in SMTP),
	 * second digit 0..5. */
	if (code < 200 || code > 599 || line.p[1] > '5')
		return SMTP_REPLY_SYNTAX;
	bool last;
	if (line.n == 3 || line.p[3] == ' ')
		last = true;
	else if (line.p[3] == '-')
		last = false;
	else
		return SMTP_REPLY_SYNTAX;
	/* "every line ... begin with the reply code": a different code in
	 * the middle of a reply means we lost sync with the server. */
	if (r->nlines > 0 && code != r->code)
		return SMTP_REPLY_SYNTAX;
	if (r->nlines >= SMTP_REPLY_LINES_MAX)
		return SMTP_REPLY_TOOMANY;
	struct span text = { line.p + (line.n > 3 ? 4 : 3), line.n > 3 ? line.n - 4 : 0 };
	if (r->nlines == 0) {
		r->code = code;
		size_t el = enh_len(text, code / 100);
		if (el > 0 && el <= SMTP_ENH_MAX) {
			memcpy(r->enh, text.p, el);
			r->enh[el] = '\0';
		}
	} else if (buf_addch(&r->text, '\n') != BUF_OK) {
		return SMTP_REPLY_TOOMANY;
	}
	if (buf_add(&r->text, text.p, text.n) != BUF_OK)
		return SMTP_REPLY_TOOMANY;
	r->nlines++;
	if (last) {
		p->done = true;
		return SMTP_REPLY_DONE;
	}
	return SMTP_REPLY_MORE;
}

enum smtp_reply_rc
smtp_reply_feed(struct smtp_reply_parser *p, const char *in, size_t n, size_t *used_r)
{
	if (p->done) {
		/* The previous reply was handed out; start a new one. */
		buf_reset(&p->cur.text);
		p->cur.code = 0;
		p->cur.enh[0] = '\0';
		p->cur.nlines = 0;
		p->done = false;
	}
	size_t i = 0;
	*used_r = 0;
	while (i < n) {
		const char *nl = memchr(in + i, '\n', n - i);
		size_t chunk = nl ? (size_t)(nl - (in + i)) : n - i;
		if (buf_add(&p->line, in + i, chunk) != BUF_OK) {
			*used_r = i;
			return SMTP_REPLY_TOOLONG;
		}
		i += chunk;
		if (nl == NULL)
			break;
		i++;	/* the LF */
		struct span line = { (const char *)p->line.p, p->line.len };
		if (line.n > 0 && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n > SMTP_REPLY_LINE_MAX) {
			*used_r = i;
			return SMTP_REPLY_TOOLONG;
		}
		enum smtp_reply_rc rc = take_line(p, line);
		buf_reset(&p->line);
		if (rc != SMTP_REPLY_MORE) {
			*used_r = i;
			return rc;
		}
	}
	*used_r = i;
	return SMTP_REPLY_MORE;
}

const struct smtp_reply *
smtp_reply_parser_get(const struct smtp_reply_parser *p)
{
	return p->done ? &p->cur : NULL;
}

bool
smtp_reply_next_line(struct span *rest, struct span *line_r)
{
	if (rest->p == NULL)
		return false;
	long nl = span_chr(*rest, '\n');
	if (nl < 0) {
		*line_r = *rest;
		rest->p = NULL;
		rest->n = 0;
		return true;
	}
	line_r->p = rest->p;
	line_r->n = (size_t)nl;
	span_skip(rest, (size_t)nl + 1);
	return true;
}

int
smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src)
{
	dst->code = src->code;
	memcpy(dst->enh, src->enh, sizeof dst->enh);
	dst->nlines = src->nlines;
	buf_init(&dst->text, SMTP_REPLY_TEXT_MAX);
	return buf_add(&dst->text, src->text.p, src->text.len);
}

void
smtp_reply_free(struct smtp_reply *r)
{
	buf_free(&r->text);
}

const char *
smtp_reply_summary(const struct smtp_reply *r, char *dst, size_t dstsz)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_printf(&b, "%03d", r->code);
	struct span rest = { (const char *)r->text.p, r->text.len };
	if (rest.p == NULL)
		rest.p = "";
	struct span line;
	bool first = true;
	while (smtp_reply_next_line(&rest, &line)) {
		if (line.n == 0)
			continue;
		buf_addstr(&b, first ? " " : " / ");
		buf_add(&b, line.p, line.n);
		first = false;
	}
	/* log_safe escapes quotes and backslashes too; the summary is
	 * only for people, so plain printable text is what we want. */
	size_t o = 0;
	for (size_t i = 0; i < b.len && o + 5 < dstsz; i++) {
		unsigned char ch = b.p[i];
		if (ch >= 0x20 && ch < 0x7f) {
			dst[o++] = (char)ch;
		} else {
			static const char hex[] = "0123456789abcdef";
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	if (dstsz > 0)
		dst[o < dstsz ? o : dstsz - 1] = '\0';
	buf_free(&b);
	return dst;
}
