/* addr.h - RFC 5321 paths and ESMTP parameters of MAIL FROM / RCPT TO.
 * Pure functions over spans; nothing is written into the input. */
#ifndef POSTERN_SMTP_ADDR_H
#define POSTERN_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "util/span.h"

/* RFC 5321 4.5.3.1: local-part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256

enum smtp_addr_rc {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX = -1,	/* -> 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT) */
	SMTP_ADDR_TOOLONG = -2,	/* -> 501 5.1.3 / 5.1.7 "path too long" */
};

/* Parses the argument after "MAIL FROM:" or "RCPT TO:": optional spaces,
 * "<" Mailbox ">" (or "<>" when allow_null), a source route "@a,@b:" is
 * accepted and dropped (RFC 5321 4.1.2), then optional " params".
 * Writes the mailbox (without <>; "" for the null path) to mailbox_r
 * (size SMTP_PATH_MAX + 1), and the parameter text to params_r.
 * Quoted local parts are accepted and kept as written.  *why_r gets a
 * static explanation on error. */
int smtp_path_parse(struct span in, bool allow_null, char mailbox_r[SMTP_PATH_MAX + 1],
		    struct span *params_r, const char **why_r);

/* One ESMTP parameter; both spans point into the parameter text. */
struct smtp_param {
	struct span key;
	struct span value;	/* "" when there is no "=VALUE" */
};

/* Takes the next "KEYWORD[=VALUE]" from params (space separated).
 * Returns 1 when one was taken, 0 at the end, -1 on bad syntax. */
int smtp_param_take(struct span *params, struct smtp_param *p_r);
/* The same with two outputs.  XXX: deprecated, kept only until
 * src/server/cmd_mail.c and cmd_rcpt.c move to smtp_param_take(). */
int smtp_param_next(struct span *params, struct span *key_r, struct span *value_r);

/* The domain part of a mailbox ("" when none); points into mailbox. */
const char *smtp_addr_domain(const char *mailbox);
/* True when mailbox (as smtp_path_parse() returns it, source route
 * dropped) is for this host: its domain is in local_domains (ASCII case
 * ignored, exact names: no subdomains, no suffixes), it is not an
 * address literal, and its local part holds no route (smtp_addr_has_route);
 * or it is the bare <Postmaster> (RFC 5321 4.5.1).  What an
 * unauthenticated client may send to on the smtp listener. */
bool smtp_addr_local(const char *mailbox, const char *local_domains);
/* True when the local part of mailbox holds a character that other
 * mail systems treat as a route: '%' (the "percent hack",
 * user%other@here goes on to other), '!' (UUCP bang paths), or '@'
 * (only possible quoted: "user@other"@here).  postern routes on the
 * domain alone, but a host behind it may not. */
bool smtp_addr_has_route(const char *mailbox);
/* True when domain (case-insensitive) is in the space- or comma-separated list. */
bool smtp_domain_in_list(const char *domain, const char *list);

#endif
