/* addr.c - RFC 5321 section 4.1.2 paths and ESMTP parameters.
 *
 * The grammar, with the names RFC 5321 gives them:
 *	Path		= "<" [ A-d-l ":" ] Mailbox ">"
 *	A-d-l		= At-domain *( "," At-domain )
 *	At-domain	= "@" Domain
 *	Mailbox		= Local-part "@" ( Domain / address-literal )
 *	Local-part	= Dot-string / Quoted-string
 *	Domain		= sub-domain *("." sub-domain)
 *	sub-domain	= Let-dig [Ldh-str]
 * Strict everywhere except one thing real clients do: spaces between the
 * colon and "<" ("MAIL FROM: <a@b>").  Non-ASCII octets are refused:
 * postern does not offer SMTPUTF8 (RFC 6531).
 */
#include "smtp/addr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* RFC 1035 2.3.4: labels are 63 octets or less. */
#define SMTP_LABEL_MAX 63
/* The longest address literal text: "IPv6:" + 45 (RFC 4291 text form). */
#define SMTP_LITERAL_MAX 64

struct cursor {
	const char *p;
	size_t n;
	size_t i;
};

static int
cur_peek(const struct cursor *c)
{
	return c->i < c->n ? (unsigned char)c->p[c->i] : -1;
}

static int
fail(const char **why_r, const char *why, int rc)
{
	*why_r = why;
	return rc;
}

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" */
static bool
is_atext(int c)
{
	return c >= 0 && (is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL));
}

/* Dot-string = Atom *("." Atom); Atom = 1*atext */
static int
parse_dot_string(struct cursor *c, const char **why_r)
{
	for (;;) {
		size_t start = c->i;
		while (is_atext(cur_peek(c)))
			c->i++;
		if (c->i == start) {
			if (cur_peek(c) == '.')
				return fail(why_r, "empty atom in local part ('..' or leading '.')", -1);
			if (cur_peek(c) >= 0x80)
				return fail(why_r, "non-ASCII octet in local part (SMTPUTF8 is not offered)", -1);
			return fail(why_r, "invalid character in local part", -1);
		}
		if (cur_peek(c) != '.')
			return 0;
		c->i++;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE
 * qtextSMTP = %d32-33 / %d35-91 / %d93-126; quoted-pairSMTP = %d92 %d32-126 */
static int
parse_quoted_string(struct cursor *c, const char **why_r)
{
	c->i++;	/* the opening quote */
	for (;;) {
		int ch = cur_peek(c);
		if (ch == '"') {
			c->i++;
			return 0;
		}
		if (ch == '\\') {
			c->i++;
			ch = cur_peek(c);
			if (ch < 32 || ch > 126)
				return fail(why_r, "invalid quoted-pair in local part", -1);
		} else if (ch < 0) {
			return fail(why_r, "unterminated quoted local part", -1);
		} else if (ch < 32 || ch > 126) {
			return fail(why_r, "invalid character in quoted local part", -1);
		}
		c->i++;
	}
}

/* One sub-domain: Let-dig [Ldh-str]; Ldh-str ends with a Let-dig. */
static int
parse_label(struct cursor *c, const char **why_r)
{
	size_t start = c->i;
	if (cur_peek(c) == '-')
		return fail(why_r, "domain label starts with '-'", SMTP_ADDR_SYNTAX);
	while (is_alnum(cur_peek(c)) || cur_peek(c) == '-')
		c->i++;
	if (c->i == start) {
		if (cur_peek(c) >= 0x80)
			return fail(why_r, "non-ASCII octet in domain (use the A-label form)", SMTP_ADDR_SYNTAX);
		return fail(why_r, "empty domain label", SMTP_ADDR_SYNTAX);
	}
	if (c->p[c->i - 1] == '-')
		return fail(why_r, "domain label ends with '-'", SMTP_ADDR_SYNTAX);
	if (c->i - start > SMTP_LABEL_MAX)
		return fail(why_r, "domain label longer than 63 octets", SMTP_ADDR_TOOLONG);
	return 0;
}

/* Domain = sub-domain *("." sub-domain) */
static int
parse_domain(struct cursor *c, const char **why_r)
{
	size_t start = c->i;
	for (;;) {
		int rc = parse_label(c, why_r);
		if (rc != 0)
			return rc;
		if (cur_peek(c) != '.')
			break;
		c->i++;
	}
	if (c->i - start > SMTP_DOMAIN_MAX)
		return fail(why_r, "domain longer than 255 octets", SMTP_ADDR_TOOLONG);
	return 0;
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]".  No General-address-literal tag is
 * registered, so only the two IP forms are accepted; inet_pton() is
 * exactly as strict as Snum ("0".."255", dotted quad) and IPv6-addr. */
static int
parse_literal(struct cursor *c, const char **why_r)
{
	c->i++;	/* "[" */
	size_t start = c->i;
	while (cur_peek(c) >= 0 && cur_peek(c) != ']')
		c->i++;
	if (cur_peek(c) != ']')
		return fail(why_r, "address literal without ']'", SMTP_ADDR_SYNTAX);
	size_t len = c->i - start;
	c->i++;
	if (len > SMTP_LITERAL_MAX)
		return fail(why_r, "address literal too long", SMTP_ADDR_SYNTAX);
	char text[SMTP_LITERAL_MAX + 1];
	memcpy(text, c->p + start, len);
	text[len] = '\0';
	if (memchr(text, '\0', len) != NULL)
		return fail(why_r, "NUL in address literal", SMTP_ADDR_SYNTAX);
	unsigned char bin[16];
	if (len > 5 && strncmp(text, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, text + 5, bin) != 1)
			return fail(why_r, "bad IPv6 address literal", SMTP_ADDR_SYNTAX);
		return 0;
	}
	if (inet_pton(AF_INET, text, bin) != 1)
		return fail(why_r, "bad address literal (want [1.2.3.4] or [IPv6:...])", SMTP_ADDR_SYNTAX);
	return 0;
}

/* A-d-l ":" -- a source route, accepted and dropped.  RFC 5321
 * appendix C: "SMTP servers MUST continue to accept source route syntax
 * ... They MAY, if necessary, ignore the routes and utilize only the
 * target domain in the address." */
static int
parse_source_route(struct cursor *c, const char **why_r)
{
	for (;;) {
		c->i++;	/* "@" */
		int rc = parse_domain(c, why_r);
		if (rc != 0)
			return rc;
		if (cur_peek(c) == ':') {
			c->i++;
			return 0;
		}
		if (cur_peek(c) != ',' || c->i + 1 >= c->n || c->p[c->i + 1] != '@')
			return fail(why_r, "bad source route (want \"@a,@b:\")", SMTP_ADDR_SYNTAX);
		c->i++;
	}
}

static bool
is_postmaster(const struct cursor *c, size_t start)
{
	return c->i - start == 10 && strncasecmp(c->p + start, "postmaster", 10) == 0;
}

/* Mailbox ">" -- leaves the cursor after ">"; copies the mailbox. */
static int
parse_mailbox(struct cursor *c, bool allow_null, char *mailbox_r, const char **why_r)
{
	size_t start = c->i;
	int rc = cur_peek(c) == '"' ? parse_quoted_string(c, why_r) : parse_dot_string(c, why_r);
	if (rc != 0)
		return SMTP_ADDR_SYNTAX;
	if (c->i - start > SMTP_LOCAL_MAX)
		return fail(why_r, "local part longer than 64 octets", SMTP_ADDR_TOOLONG);
	/* RFC 5321 4.5.1: "... MUST support the reserved mailbox
	 * "postmaster" ... RCPT TO:<Postmaster>" -- without a domain.  It
	 * is a recipient form only, so it is refused when the null path is
	 * allowed (MAIL). */
	bool bare_pm = !allow_null && cur_peek(c) == '>' && is_postmaster(c, start);
	if (!bare_pm) {
		if (cur_peek(c) != '@')
			return fail(why_r, cur_peek(c) == '>' ? "missing '@domain'" : "invalid character in local part",
				    SMTP_ADDR_SYNTAX);
		c->i++;
		rc = cur_peek(c) == '[' ? parse_literal(c, why_r) : parse_domain(c, why_r);
		if (rc != 0)
			return rc;
	}
	if (cur_peek(c) != '>')
		return fail(why_r, cur_peek(c) < 0 ? "missing '>'" : "invalid character in domain", SMTP_ADDR_SYNTAX);
	size_t len = c->i - start;
	c->i++;
	if (len > SMTP_PATH_MAX - 2)
		return fail(why_r, "path longer than 256 octets", SMTP_ADDR_TOOLONG);
	memcpy(mailbox_r, c->p + start, len);
	mailbox_r[len] = '\0';
	return 0;
}

/* The text after ">": nothing, or spaces then parameters. */
static int
parse_tail(struct cursor *c, struct span *params_r, const char **why_r)
{
	if (c->i < c->n && c->p[c->i] != ' ')
		return fail(why_r, "unexpected text after '>'", SMTP_ADDR_SYNTAX);
	while (c->i < c->n && c->p[c->i] == ' ')
		c->i++;
	*params_r = span_rtrim((struct span){ c->p + c->i, c->n - c->i });
	return 0;
}

int
smtp_path_parse(struct span in, bool allow_null, char mailbox_r[SMTP_PATH_MAX + 1],
		struct span *params_r, const char **why_r)
{
	struct cursor c = { in.p, in.n, 0 };
	mailbox_r[0] = '\0';
	*params_r = (struct span){ "", 0 };
	/* Lenient: "MAIL FROM: <a@b>" is common in the wild. */
	while (cur_peek(&c) == ' ')
		c.i++;
	if (cur_peek(&c) != '<')
		return fail(why_r, "missing '<'", SMTP_ADDR_SYNTAX);
	c.i++;
	size_t path_start = c.i - 1;
	if (cur_peek(&c) == '>') {
		if (!allow_null)
			return fail(why_r, "null path <> is not allowed here", SMTP_ADDR_SYNTAX);
		c.i++;
		return parse_tail(&c, params_r, why_r);
	}
	int rc;
	if (cur_peek(&c) == '@' && (rc = parse_source_route(&c, why_r)) != 0)
		return rc;
	if ((rc = parse_mailbox(&c, allow_null, mailbox_r, why_r)) != 0) {
		mailbox_r[0] = '\0';
		return rc;
	}
	/* RFC 5321 4.5.3.1.3: "The maximum total length of a reverse-path
	 * or forward-path is 256 octets (including the punctuation and
	 * element separators)." */
	if (c.i - path_start > SMTP_PATH_MAX) {
		mailbox_r[0] = '\0';
		return fail(why_r, "path longer than 256 octets", SMTP_ADDR_TOOLONG);
	}
	if ((rc = parse_tail(&c, params_r, why_r)) != 0)
		mailbox_r[0] = '\0';
	return rc;
}

/* RFC 5321 4.1.2:
 *	esmtp-param	= esmtp-keyword ["=" esmtp-value]
 *	esmtp-keyword	= (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *	esmtp-value	= 1*(%d33-60 / %d62-126)
 *			; any CHAR excluding "=", SP, and control characters */
int
smtp_param_take(struct span *params, struct smtp_param *p_r)
{
	struct span *key_r = &p_r->key, *value_r = &p_r->value;
	struct cursor c = { params->p, params->n, 0 };
	while (cur_peek(&c) == ' ')
		c.i++;
	if (c.i == c.n) {
		span_skip(params, c.i);
		return 0;
	}
	size_t kstart = c.i;
	if (!is_alnum(cur_peek(&c)))
		return -1;
	while (is_alnum(cur_peek(&c)) || cur_peek(&c) == '-')
		c.i++;
	*key_r = (struct span){ c.p + kstart, c.i - kstart };
	*value_r = (struct span){ "", 0 };
	if (cur_peek(&c) == '=') {
		c.i++;
		size_t vstart = c.i;
		for (int ch = cur_peek(&c); ch >= 33 && ch <= 126 && ch != '='; ch = cur_peek(&c))
			c.i++;
		if (c.i == vstart)
			return -1;
		*value_r = (struct span){ c.p + vstart, c.i - vstart };
	}
	if (c.i < c.n && c.p[c.i] != ' ')
		return -1;
	span_skip(params, c.i);
	return 1;
}

/* XXX: remove once src/server calls smtp_param_take(). */
int
smtp_param_next(struct span *params, struct span *key_r, struct span *value_r) // NOLINT(bugprone-easily-swappable-parameters): deprecated shim, see addr.h
{
	struct smtp_param p;
	int rc = smtp_param_take(params, &p);
	if (rc == 1) {
		*key_r = p.key;
		*value_r = p.value;
	}
	return rc;
}

const char *
smtp_addr_domain(const char *mailbox)
{
	/* The domain cannot hold '@'; a quoted local part can. */
	const char *at = strrchr(mailbox, '@');
	return at != NULL ? at + 1 : "";
}

bool
smtp_addr_has_route(const char *mailbox)
{
	const char *domain = smtp_addr_domain(mailbox);
	size_t local_len = domain[0] != '\0' ? (size_t)(domain - mailbox) - 1 : strlen(mailbox);
	for (size_t i = 0; i < local_len; i++)
		if (mailbox[i] == '%' || mailbox[i] == '!' || mailbox[i] == '@')
			return true;
	return false;
}

bool
smtp_addr_local(const char *mailbox, const char *local_domains)
{
	const char *domain = smtp_addr_domain(mailbox);
	/* RFC 5321 4.5.1: <Postmaster> without a domain must be accepted
	 * (the parser lets no other mailbox through without one). */
	if (domain[0] == '\0')
		return true;
	/* An address literal is never local, not even one of our own
	 * addresses: the host has many (loopback, v4, v6, NAT), and mail to
	 * a bare IP is what relay probes send, hardly people. */
	if (domain[0] == '[')
		return false;
	/* user%other@local, other!user@local, "user@other"@local: routes
	 * that a percent-hack or UUCP-aware host behind us would follow. */
	if (smtp_addr_has_route(mailbox))
		return false;
	return smtp_domain_in_list(domain, local_domains);
}

bool
smtp_domain_in_list(const char *domain, const char *list)
{
	size_t dlen = strlen(domain);
	if (dlen == 0 || list == NULL)
		return false;
	const char *p = list;
	while (*p != '\0') {
		size_t skip = strspn(p, " ,\t");
		p += skip;
		size_t len = strcspn(p, " ,\t");
		if (len == dlen && strncasecmp(p, domain, len) == 0)
			return true;
		p += len;
	}
	return false;
}
