/* header.c - RFC 5322 header fields and address lists (see header.h).
 *
 *	address-list	= (address *("," address))
 *	address		= mailbox / group
 *	mailbox		= name-addr / addr-spec
 *	name-addr	= [display-name] angle-addr
 *	group		= display-name ":" [group-list] ";" [CFWS]
 * Lenient by default (a mail program's own message, `send -t`); strict
 * for a message a server must judge (SMTP_HEADER_STRICT).
 */
#include "smtp/header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest mailbox text we copy: far above RFC 5321's 254-octet
 * mailbox, so that only nonsense is cut (and strict mode refuses it). */
#define HEADER_MAILBOX_MAX 1024

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
smtp_header_len(const uint8_t *m, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t e = line_end(m, n, i);
		if (blank_line(m, i, e))
			return e < n ? e + 1 : n;
		i = e + 1;
	}
	return n;
}

bool
smtp_header_next(const uint8_t *m, size_t hlen, size_t *pos, struct smtp_header_field *f)
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
		f->value = (size_t)(colon - m) + 1;
		/* RFC 5322 4.5.x obs-optional: "From : x" is the From
		 * field too; readers honour it, so must we. */
		f->name_len = (size_t)(colon - (m + i));
		while (f->name_len > 0 && (m[i + f->name_len - 1] == ' ' || m[i + f->name_len - 1] == '\t'))
			f->name_len--;
		i = e + 1;
		while (i < hlen && (m[i] == ' ' || m[i] == '\t'))
			i = line_end(m, hlen, i) + 1;
		f->end = i < hlen ? i : hlen;
		*pos = f->end;
		return true;
	}
	return false;
}

bool
smtp_header_is(const uint8_t *m, const struct smtp_header_field *f, const char *name)
{
	size_t l = strlen(name);
	return f->name_len == l && strncasecmp((const char *)m + f->start, name, l) == 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
push(char ***list, size_t *n, const char *s, size_t len)
{
	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len == 0)
		return 0;
	return smtp_list_add(list, n, s, len);
}

int
smtp_list_add(char ***list, size_t *n, const char *s, size_t len)
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

void
smtp_list_free(char ***list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
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

/* After an angle-addr only blanks and comments may follow; anything
 * else ("<a@x> b@y") is read differently by different programs. */
static bool
only_cfws(const char *s, size_t len)
{
	int depth = 0;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		if (in_quote_or_comment(s[i], len, &i, &quoted, &depth))
			continue;
		if (s[i] == '(')
			depth = 1;
		else if (!is_blank(s[i]))
			return false;
	}
	return depth == 0;
}

/* "<addr>" of a name-addr: pushes addr; strict checks what follows. */
static int
take_angle(const char *s, size_t len, size_t i, unsigned flags, char ***list, size_t *n)
{
	const char *gt = memchr(s + i, '>', len - i);
	size_t e = gt ? (size_t)(gt - s) : len;
	if ((flags & SMTP_HEADER_STRICT) && (gt == NULL || !only_cfws(s + e + 1, len - e - 1)))
		return -2;
	return push(list, n, s + i + 1, e - i - 1);
}

/* One mailbox: "<addr>" inside wins; else the text without comments,
 * folding whitespace and quotes around nothing. */
static int
take_mailbox(const char *s, size_t len, unsigned flags, char ***list, size_t *n)
{
	char tmp[HEADER_MAILBOX_MAX];
	size_t o = 0;
	int depth = 0;
	bool quoted = false, cut = false;
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
				for (size_t k = i; k <= j; k++)
					if (o < sizeof tmp)
						tmp[o++] = s[k];
					else
						cut = true;
				i = j;
				continue;
			}
			quoted = true;
		} else if (c == '(') {
			depth = 1;
		} else if (c == '<') {
			return take_angle(s, len, i, flags, list, n);
		} else if (!is_blank(c)) {
			if (o < sizeof tmp)
				tmp[o++] = c;
			else
				cut = true;
		}
	}
	if ((flags & SMTP_HEADER_STRICT) && (cut || quoted || depth > 0))
		return -2;
	return push(list, n, tmp, o);
}

int
smtp_header_addresses(const char *v, size_t len, unsigned flags, char ***list, size_t *n_r)
{
	size_t start = 0;
	int depth = 0, rc = 0;
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
			/* "group name:" - drop the name, the members follow.
			 * Strict: a name with '@' looks like an address. */
			if (angle)
				break;
			if ((flags & SMTP_HEADER_STRICT) && memchr(v + start, '@', i - start) != NULL)
				return -2;
			start = i + 1;
			break;
		case ',':
		case ';':
			if (angle)
				break;
			rc = take_mailbox(v + start, i - start, flags, list, n_r);
			if (rc != 0)
				return rc;
			start = i + 1;
			break;
		default: break;
		}
	}
	/* An unterminated quote, comment or "<" swallowed the end, and with
	 * it the last address. */
	if ((flags & SMTP_HEADER_STRICT) && (quoted || depth > 0 || angle))
		return -2;
	return 0;
}
