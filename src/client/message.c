/* message.c - DATA content preparation and -t header recipients. */
#include "client/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp/header.h"
#include "util/buf.h"

int
message_to_wire(const uint8_t *in, size_t n, struct buf *out, bool *eightbit_r, size_t *size_r)
{
	bool bol = true, eight = false;
	size_t size = 0;
	int rc = BUF_OK;
	for (size_t i = 0; i < n && rc == BUF_OK; i++) {
		uint8_t c = in[i];
		if (c == '\r' || c == '\n') {
			/* CRLF, LF and a lone CR each end one line. */
			if (c == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			rc = buf_add(out, "\r\n", 2);
			size += 2;
			bol = true;
			continue;
		}
		/* RFC 5321 4.5.2: "Before sending a line of mail text, the
		 * SMTP client checks the first character of the line.  If it
		 * is a period, one additional period is inserted at the
		 * beginning of the line." */
		if (bol && c == '.')
			rc = buf_addch(out, '.');
		if (c >= 0x80)
			eight = true;
		if (rc == BUF_OK)
			rc = buf_addch(out, c);
		size++;
		bol = false;
	}
	if (rc == BUF_OK && !bol) {
		rc = buf_add(out, "\r\n", 2);
		size += 2;
	}
	if (rc == BUF_OK)
		rc = buf_add(out, ".\r\n", 3);
	*eightbit_r = eight;
	*size_r = size;
	return rc;
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
