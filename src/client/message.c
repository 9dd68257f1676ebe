/* message.c - DATA content preparation and -t header recipients. */
#include "client/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp/header.h"
#include "client/smtp_client.h"
#include "util/buf.h"

void
message_norm_init(struct message_norm *st)
{
	memset(st, 0, sizeof *st);
	st->bol = true;
}

static size_t
put_crlf(struct message_norm *st, uint8_t *out)
{
	out[0] = '\r';
	out[1] = '\n';
	st->bol = true;
	st->lines++;
	return 2;
}

size_t
message_norm_feed(struct message_norm *st, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0, i = 0;
	if (st->cr && n > 0) {
		/* the CR that ended the last chunk: CRLF, or a lone CR */
		st->cr = false;
		o += put_crlf(st, out);
		if (in[0] == '\n')
			i = 1;
	}
	for (; i < n; i++) {
		uint8_t c = in[i];
		if (c == '\r' && i + 1 == n) {
			st->cr = true;	/* wait: its LF may come next */
		} else if (c == '\r' || c == '\n') {
			/* CRLF, LF and a lone CR each end one line. */
			if (c == '\r' && in[i + 1] == '\n')
				i++;
			o += put_crlf(st, out + o);
		} else {
			st->eightbit = st->eightbit || c >= 0x80;
			out[o++] = c;
			st->bol = false;
		}
	}
	st->size += o;
	return o;
}

size_t
message_norm_end(struct message_norm *st, uint8_t *out)
{
	size_t o = 0;
	if (st->cr || !st->bol)
		o = put_crlf(st, out);
	st->cr = false;
	st->size += o;
	return o;
}

static int
norm_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r)
{
	struct message_norm_src *s = arg;
	*n_r = 0;
	if (cap < MESSAGE_NORM_OUT_MAX(1))
		return -1;
	size_t take = (cap - 2) / 2;	/* MESSAGE_NORM_OUT_MAX(take) <= cap */
	if (take > s->len - s->off)
		take = s->len - s->off;
	if (take > 0) {
		*n_r = message_norm_feed(&s->st, s->p + s->off, take, buf);
		s->off += take;
	}
	if (s->off == s->len && !s->ended) {
		/* the end may be due in this same call: room for 2 is left */
		if (*n_r + 2 > cap)
			return 0;
		*n_r += message_norm_end(&s->st, buf + *n_r);
		s->ended = true;
	}
	return 0;
}

void
message_norm_source(struct message_norm_src *s, const uint8_t *p, size_t len,
		    struct smtp_body_src *src_r)
{
	*s = (struct message_norm_src){ .p = p, .len = p ? len : 0 };
	message_norm_init(&s->st);
	*src_r = (struct smtp_body_src){ .read = norm_read, .arg = s };
}

void
message_norm_measure(const uint8_t *p, size_t len, uint64_t *size_r, bool *eightbit_r)
{
	uint8_t out[MESSAGE_NORM_OUT_MAX(4096)];
	struct message_norm st;
	message_norm_init(&st);
	for (size_t off = 0; off < len; off += 4096)
		(void)message_norm_feed(&st, p + off, len - off < 4096 ? len - off : 4096, out);
	(void)message_norm_end(&st, out);
	*size_r = st.size;
	*eightbit_r = st.eightbit;
}

/* ---- header fields: smtp/header.c reads them ---- */

bool
message_has_header(const uint8_t *msg, size_t n, const char *name)
{
	size_t hlen = smtp_header_len(msg, n), pos = 0;
	struct smtp_header_field f;
	while (smtp_header_next(msg, hlen, &pos, &f))
		if (smtp_header_is(msg, &f, name))
			return true;
	return false;
}

int
message_header_rcpts(const uint8_t *msg, size_t n, char ***list, size_t *n_r, struct buf *out)
{
	size_t hlen = smtp_header_len(msg, n), pos = 0, copied = 0;
	struct smtp_header_field f;
	while (smtp_header_next(msg, hlen, &pos, &f)) {
		bool bcc = smtp_header_is(msg, &f, "Bcc");
		if (bcc || smtp_header_is(msg, &f, "To") || smtp_header_is(msg, &f, "Cc")) {
			if (smtp_header_addresses((const char *)msg + f.value, f.end - f.value, 0, list, n_r) != 0)
				return -1;
		}
		if (bcc && out) {
			if (buf_add(out, msg + copied, f.start - copied) != BUF_OK)
				return -1;
			copied = f.end;
		}
	}
	if (out && buf_add(out, msg + copied, n - copied) != BUF_OK)
		return -1;
	return 0;
}

/* "From: "Full Name" <addr>" for -F.  RFC 5322 3.2.4: inside a
 * quoted-string, '"' and '\\' are written as quoted-pairs; a CR or LF
 * (a caller's mistake, or an attempt to add headers) becomes a space. */
static int
add_from(struct buf *out, const char *fullname, const char *from)
{
	if (fullname == NULL || *fullname == '\0')
		return buf_printf(out, "From: %s\n", from);
	int rc = buf_addstr(out, "From: \"");
	for (const char *p = fullname; rc == BUF_OK && *p; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_addch(out, '\\');
		if (rc == BUF_OK)
			rc = buf_addch(out, *p == '\r' || *p == '\n' ? ' ' : *p);
	}
	return rc == BUF_OK ? buf_printf(out, "\" <%s>\n", from) : rc;
}

static int
add_date(struct buf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	/* RFC 5322 3.3 date-time; the C locale gives English names.
	 * (64 bytes always hold it; 0 would mean no date: omit it.) */
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return BUF_OK;
	return buf_printf(out, "Date: %s\n", date);
}

static bool
dropped(const uint8_t *m, const struct smtp_header_field *f, const struct message_edit *e)
{
	if (smtp_header_is(m, f, "Bcc"))
		return e->drop_bcc || e->undisclosed;
	if (smtp_header_is(m, f, "To") || smtp_header_is(m, f, "Cc"))
		return e->undisclosed;
	return e->replace_from && smtp_header_is(m, f, "From");
}

int
message_edit(const uint8_t *in, size_t n, const struct message_edit *e, struct buf *out)
{
	int rc = BUF_OK;
	bool has_from = message_has_header(in, n, "From");
	if (e->replace_from || (e->add_from && !has_from))
		rc = add_from(out, e->fullname, e->from);
	if (rc == BUF_OK && e->undisclosed)
		rc = buf_addstr(out, "To: undisclosed-recipients:;\n");
	if (rc == BUF_OK && e->add_date && !message_has_header(in, n, "Date"))
		rc = add_date(out);
	size_t hlen = smtp_header_len(in, n), pos = 0, copied = 0;
	struct smtp_header_field f;
	while (rc == BUF_OK && smtp_header_next(in, hlen, &pos, &f)) {
		if (!dropped(in, &f, e))
			continue;
		rc = buf_add(out, in + copied, f.start - copied);
		copied = f.end;
	}
	return rc == BUF_OK ? buf_add(out, in + copied, n - copied) : rc;
}

char *
message_header_address(const uint8_t *msg, size_t n, const char *name)
{
	size_t hlen = smtp_header_len(msg, n), pos = 0;
	struct smtp_header_field f;
	while (smtp_header_next(msg, hlen, &pos, &f)) {
		if (!smtp_header_is(msg, &f, name))
			continue;
		char **l = NULL;
		size_t ln = 0;
		char *r = NULL;
		if (smtp_header_addresses((const char *)msg + f.value, f.end - f.value, 0, &l, &ln) == 0 &&
		    ln > 0) {
			r = l[0];
			l[0] = NULL;
		}
		smtp_list_free(&l, ln);
		return r;
	}
	return NULL;
}
