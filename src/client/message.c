/* message.c - DATA content preparation and -t header recipients. */
#include "client/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* ---- header fields ---- */

/* End of the line starting at i (index of its LF, or n). */
static size_t
line_end(const uint8_t *m, size_t n, size_t i)
{
	const uint8_t *nl = memchr(m + i, '\n', n - i);
	return nl ? (size_t)(nl - m) : n;
}

static bool
blank_line(const uint8_t *m, size_t i, size_t e)
{
	return e == i || (e == i + 1 && m[i] == '\r');
}

size_t
message_header_len(const uint8_t *m, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t e = line_end(m, n, i);
		if (blank_line(m, i, e))
			return e < n ? e + 1 : n;
		i = e + 1;
	}
	return n;
}

/* Calls fn for each header field: name span, and the unfolded field
 * (start .. end of its last continuation line, including line ends). */
struct field {
	size_t start, name_len, value, end;	/* end: after the last line's LF */
};

static bool
next_field(const uint8_t *m, size_t hlen, size_t *pos, struct field *f)
{
	size_t i = *pos;
	while (i < hlen) {
		size_t e = line_end(m, hlen, i);
		if (blank_line(m, i, e))
			return false;
		const uint8_t *colon = memchr(m + i, ':', e - i);
		/* A continuation line without a field before it, or a line
		 * without colon: skip it. */
		if (m[i] == ' ' || m[i] == '\t' || colon == NULL) {
			i = e + 1;
			continue;
		}
		f->start = i;
		f->name_len = (size_t)(colon - (m + i));
		f->value = f->name_len + i + 1;
		i = e + 1;
		while (i < hlen && (m[i] == ' ' || m[i] == '\t'))
			i = line_end(m, hlen, i) + 1;
		f->end = i < hlen ? i : hlen;
		*pos = f->end;
		return true;
	}
	return false;
}

static bool
field_is(const uint8_t *m, const struct field *f, const char *name)
{
	size_t l = strlen(name);
	return f->name_len == l && strncasecmp((const char *)m + f->start, name, l) == 0;
}

bool
message_has_header(const uint8_t *msg, size_t n, const char *name)
{
	size_t hlen = message_header_len(msg, n), pos = 0;
	struct field f;
	while (next_field(msg, hlen, &pos, &f))
		if (field_is(msg, &f, name))
			return true;
	return false;
}

static int
push(char ***list, size_t *n, const char *s, size_t len)
{
	/* trim spaces, tabs and line ends */
	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
			   s[len - 1] == '\n'))
		len--;
	if (len == 0)
		return 0;
	return message_list_add(list, n, s, len);
}

int
message_list_add(char ***list, size_t *n, const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (copy == NULL)
		return -1;
	/* A new array rather than realloc(): gcc's analyzer loses track of
	 * pointers stored in a realloc'd block.  Lists are a message's
	 * recipients: the copying stays small. */
	char **nl = calloc(*n + 1, sizeof *nl);
	if (nl == NULL) {
		free(copy);
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		nl[i] = (*list)[i];
	nl[*n] = copy;
	free(*list);
	*list = nl;	/* the list owns the array and every string in it */
	(*n)++;
	return 0;
}

/* Steps over c = s[*i] while inside an RFC 5322 quoted-string or
 * (nested) comment, honouring backslash quoting.  True when c was
 * consumed that way. */
static bool
in_quote_or_comment(char c, size_t len, size_t *i, bool *quoted, int *depth)
{
	if (*quoted) {
		if (c == '\\' && *i + 1 < len)
			(*i)++;
		else if (c == '"')
			*quoted = false;
		return true;
	}
	if (*depth > 0) {
		if (c == '\\' && *i + 1 < len)
			(*i)++;
		else if (c == '(')
			(*depth)++;
		else if (c == ')')
			(*depth)--;
		return true;
	}
	return false;
}

/* One mailbox: "<addr>" inside wins; else the text without comments,
 * folding whitespace and quotes around nothing. */
static int
take_mailbox(const char *s, size_t len, char ***list, size_t *n)
{
	char tmp[1024];
	size_t o = 0;
	int depth = 0;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_quote_or_comment(c, len, &i, &quoted, &depth))
			continue;
		if (c == '"') {
			/* a quoted local part: keep it as written */
			size_t j = i + 1;
			while (j < len && s[j] != '"')
				j += (s[j] == '\\' && j + 1 < len) ? 2 : 1;
			if (j < len && j + 1 < len && s[j + 1] == '@') {
				for (size_t k = i; k <= j && o < sizeof tmp; k++)
					tmp[o++] = s[k];
				i = j;
				continue;
			}
			quoted = true;
		} else if (c == '(') {
			depth = 1;
		} else if (c == '<') {
			const char *gt = memchr(s + i, '>', len - i);
			size_t e = gt ? (size_t)(gt - s) : len;
			return push(list, n, s + i + 1, e - i - 1);
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && o < sizeof tmp) {
			tmp[o++] = c;
		}
	}
	return push(list, n, tmp, o);
}

int
message_parse_addresses(const char *v, size_t len, char ***list, size_t *n_r)
{
	size_t start = 0;
	int depth = 0;
	bool quoted = false, angle = false;
	for (size_t i = 0; i <= len; i++) {
		char c = ',';	/* the end closes the last address */
		if (i < len)
			c = v[i];
		if (in_quote_or_comment(c, len, &i, &quoted, &depth))
			continue;
		switch (c) {
		case '"': quoted = true; break;
		case '(': depth = 1; break;
		case '<': angle = true; break;
		case '>': angle = false; break;
		case ':':
			/* "group name:" - drop the name, the members follow */
			if (!angle)
				start = i + 1;
			break;
		case ',':
		case ';':
			if (angle)
				break;
			if (take_mailbox(v + start, i - start, list, n_r) != 0)
				return -1;
			start = i + 1;
			break;
		default: break;
		}
	}
	return 0;
}

int
message_header_rcpts(const uint8_t *msg, size_t n, char ***list, size_t *n_r, struct buf *out)
{
	size_t hlen = message_header_len(msg, n), pos = 0, copied = 0;
	struct field f;
	while (next_field(msg, hlen, &pos, &f)) {
		bool bcc = field_is(msg, &f, "Bcc");
		if (bcc || field_is(msg, &f, "To") || field_is(msg, &f, "Cc")) {
			if (message_parse_addresses((const char *)msg + f.value, f.end - f.value, list,
						    n_r) != 0)
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
dropped(const uint8_t *m, const struct field *f, const struct message_edit *e)
{
	if (field_is(m, f, "Bcc"))
		return e->drop_bcc || e->undisclosed;
	if (field_is(m, f, "To") || field_is(m, f, "Cc"))
		return e->undisclosed;
	return e->replace_from && field_is(m, f, "From");
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
	size_t hlen = message_header_len(in, n), pos = 0, copied = 0;
	struct field f;
	while (rc == BUF_OK && next_field(in, hlen, &pos, &f)) {
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
	size_t hlen = message_header_len(msg, n), pos = 0;
	struct field f;
	while (next_field(msg, hlen, &pos, &f)) {
		if (!field_is(msg, &f, name))
			continue;
		char **l = NULL;
		size_t ln = 0;
		char *r = NULL;
		if (message_parse_addresses((const char *)msg + f.value, f.end - f.value, &l, &ln) == 0 &&
		    ln > 0) {
			r = l[0];
			l[0] = NULL;
		}
		message_free_list(&l, ln);
		return r;
	}
	return NULL;
}

void
message_free_list(char ***list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
}
