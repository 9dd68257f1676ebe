/* ehlo.c - EHLO capability parsing. */
#include "smtp/ehlo.h"

#include <string.h>

#include "smtp/reply.h"
#include "util/span.h"

void
smtp_ehlo_init(struct smtp_ehlo *e)
{
	memset(e, 0, sizeof *e);
}

static const struct {
	const char *name;
	enum smtp_ext bit;
} exts[] = {
	{ "PIPELINING", SMTP_EXT_PIPELINING },
	{ "STARTTLS", SMTP_EXT_STARTTLS },
	{ "8BITMIME", SMTP_EXT_8BITMIME },
	{ "SIZE", SMTP_EXT_SIZE },
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	{ "AUTH", SMTP_EXT_AUTH },
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
	{ "DSN", SMTP_EXT_DSN },
	{ "CHUNKING", SMTP_EXT_CHUNKING },
};

/* RFC 4422 3.1: sasl-mech = 1*20mech-char; mech-char = UPPER-ALPHA /
 * DIGIT / HYPHEN / UNDERSCORE.  Servers write them in lower case
 * sometimes; we accept that and store upper case. */
static bool
mech_name_ok(struct span w)
{
	if (w.n == 0 || w.n > SMTP_MECH_NAME_MAX)
		return false;
	for (size_t i = 0; i < w.n; i++) {
		char c = w.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static void
add_mech(struct smtp_ehlo *e, struct span w)
{
	char name[SMTP_MECH_NAME_MAX + 1];
	if (!mech_name_ok(w))
		return;
	for (size_t i = 0; i < w.n; i++) {
		char c = w.p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		name[i] = c;
	}
	name[w.n] = '\0';
	if (smtp_ehlo_offers_mech(e, name) || e->nmechs >= SMTP_EHLO_MECHS_MAX)
		return;
	memcpy(e->mechs[e->nmechs++], name, w.n + 1);
}

/* RFC 1870 section 4: "SIZE" [SP number]; 0 means no fixed maximum.
 * Values that do not parse are ignored (treated as no limit). */
static void
parse_size(struct smtp_ehlo *e, struct span rest)
{
	struct span w;
	if (span_word(&rest, &w, 20) != 0)
		return;
	unsigned long long v = 0;
	for (size_t i = 0; i < w.n; i++) {
		if (w.p[i] < '0' || w.p[i] > '9')
			return;
		v = v * 10 + (unsigned)(w.p[i] - '0');
	}
	e->size_max = v;
}

void
smtp_ehlo_parse_line(struct smtp_ehlo *e, const char *line, size_t len)
{
	struct span rest = { line, len };
	struct span kw;
	while (rest.n > 0 && rest.p[0] == ' ')
		span_skip(&rest, 1);
	rest = span_rtrim(rest);
	/* The legacy form "AUTH=PLAIN LOGIN" (servers that speak to
	 * pre-RFC 2554 clients): the first mechanism follows the "=". */
	if (span_istarts(rest, "AUTH=")) {
		span_skip(&rest, 5);
		e->ext |= SMTP_EXT_AUTH;
		while (span_word(&rest, &kw, 64) == 0)
			add_mech(e, kw);
		return;
	}
	if (span_word(&rest, &kw, 64) != 0)
		return;
	for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
		if (!span_ieq(kw, exts[i].name))
			continue;
		e->ext |= exts[i].bit;
		if (exts[i].bit == SMTP_EXT_AUTH) {
			struct span w;
			while (span_word(&rest, &w, 64) == 0)
				add_mech(e, w);
		} else if (exts[i].bit == SMTP_EXT_SIZE) {
			parse_size(e, rest);
		}
		return;
	}
}

int
smtp_ehlo_parse(struct smtp_ehlo *e, const struct smtp_reply *r)
{
	if (r->code != 250)
		return -1;
	struct span rest = { (const char *)r->text.p, r->text.len };
	if (rest.p == NULL)
		rest.p = "";
	struct span line;
	bool first = true;
	while (smtp_reply_next_line(&rest, &line)) {
		if (first) {
			struct span dom;
			first = false;
			if (span_word(&line, &dom, sizeof e->domain - 1) == 0)
				span_cstr(dom, e->domain, sizeof e->domain);
			continue;
		}
		smtp_ehlo_parse_line(e, line.p, line.n);
	}
	return 0;
}

bool
smtp_ehlo_has(const struct smtp_ehlo *e, enum smtp_ext x)
{
	return (e->ext & (unsigned)x) != 0;
}

bool
smtp_ehlo_offers_mech(const struct smtp_ehlo *e, const char *name)
{
	for (size_t i = 0; i < e->nmechs; i++)
		if (span_ieq(span_of(e->mechs[i]), name))
			return true;
	return false;
}
