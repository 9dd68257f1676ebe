/* ehlo.h - the capabilities a server lists in its EHLO reply.
 *
 * RFC 5321 4.1.1.1: each line after the first is "ehlo-keyword
 * *( SP ehlo-param )".  Keywords are compared as whole tokens, case
 * insensitively (never by prefix: "DSN" must not match "DSNX").
 * Several AUTH lines are merged, and the pre-RFC 2554 form "AUTH=PLAIN
 * LOGIN" that old servers (and Outlook-era configurations) still send is
 * read as AUTH too.
 */
#ifndef POSTERN_SMTP_EHLO_H
#define POSTERN_SMTP_EHLO_H

#include <stdbool.h>
#include <stddef.h>

struct smtp_reply;

enum smtp_ext {
	SMTP_EXT_PIPELINING = 1u << 0,	/* RFC 2920 */
	SMTP_EXT_STARTTLS = 1u << 1,	/* RFC 3207 */
	SMTP_EXT_8BITMIME = 1u << 2,	/* RFC 6152 */
	SMTP_EXT_SIZE = 1u << 3,	/* RFC 1870 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 4,	/* RFC 2034 */
	SMTP_EXT_AUTH = 1u << 5,	/* RFC 4954 */
	SMTP_EXT_SMTPUTF8 = 1u << 6,	/* RFC 6531 */
	SMTP_EXT_DSN = 1u << 7,		/* RFC 3461 */
	SMTP_EXT_CHUNKING = 1u << 8,	/* RFC 3030 */
};

/* RFC 4422 3.1: a mechanism name is 1 to 20 characters [A-Z0-9-_]. */
#define SMTP_MECH_NAME_MAX 20
/* More than any real server lists; the rest is ignored. */
#define SMTP_EHLO_MECHS_MAX 32

struct smtp_ehlo {
	unsigned ext;		/* enum smtp_ext bits */
	/* SIZE: the declared maximum in octets, 0 when SIZE has no value
	 * or the value is 0 ("no fixed maximum", RFC 1870 section 4). */
	unsigned long long size_max;
	/* Mechanism names from every AUTH / AUTH= line, upper case, in the
	 * order first seen, without duplicates; invalid names are skipped. */
	char mechs[SMTP_EHLO_MECHS_MAX][SMTP_MECH_NAME_MAX + 1];
	size_t nmechs;
	/* The server's name from the first line (NUL-terminated, cut). */
	char domain[256];
};

void smtp_ehlo_init(struct smtp_ehlo *e);
/* Fills e (after smtp_ehlo_init) from a 250 EHLO reply.
 * Returns 0, or -1 when the reply is not a 250. Unknown keywords and
 * garbage lines are ignored (a client must not fail on them). */
int smtp_ehlo_parse(struct smtp_ehlo *e, const struct smtp_reply *r);
/* Parses one capability line (not the first line of the reply). */
void smtp_ehlo_parse_line(struct smtp_ehlo *e, const char *line, size_t len);
bool smtp_ehlo_has(const struct smtp_ehlo *e, enum smtp_ext x);
/* Whole-token, case-insensitive. */
bool smtp_ehlo_offers_mech(const struct smtp_ehlo *e, const char *name);

#endif
