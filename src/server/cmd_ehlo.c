/* cmd_ehlo.c - EHLO and HELO (RFC 5321 4.1.1.1), and the capability
 * list, each capability decided by one predicate (policy.c). */
#include "server/session.h"

#include <stdlib.h>
#include <string.h>

#include "sasl/sasl.h"
#include "util/log.h"

/* A domain or address literal as clients send them: letters, digits and
 * "-._:[]".  Anything else could break the Received header we build
 * from it, so it is refused rather than copied. */
static bool
helo_ok(struct span arg)
{
	if (arg.n == 0 || arg.n > 255)
		return false;
	for (size_t i = 0; i < arg.n; i++) {
		char c = arg.p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("-._:[]", c) != NULL;
		if (!ok || c == '\0')
			return false;
	}
	return true;
}

static bool
greet_common(struct session *s, struct span arg, const char *verb)
{
	if (!helo_ok(arg)) {
		sess_fail(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return false;
	}
	char *h = strndup(arg.p, arg.n);
	if (h == NULL) {
		sess_reply(s, 451, "4.3.0", "Out of memory");
		return false;
	}
	/* RFC 5321 4.1.4: EHLO/HELO also reset the mail transaction. */
	sess_txn_reset(s);
	free(s->helo);
	s->helo = h;
	return true;
}

/* The AUTH capability: keyword, then the mechanisms this session may
 * use, space-separated.  keyword is "AUTH " (RFC 4954) or "AUTH=", the
 * form clients written before RFC 2554 look for (Outlook Express,
 * Netscape 4, some copiers): "250-AUTH=LOGIN PLAIN", as Postfix's
 * broken_sasl_auth_clients writes it.  Both lines list the same
 * mechanisms: one predicate decides (policy_mech_offered). */
static void
ehlo_auth_line(struct session *s, const char *keyword)
{
	char line[256];
	size_t n = strlen(keyword);
	const char *sep = "";
	memcpy(line, keyword, n + 1);
	for (size_t i = 0; i < s->cfg->nmechs; i++) {
		const struct sasl_mech *m = s->cfg->mechs[i];
		if (!policy_mech_offered(s, m))
			continue;
		const char *name = sasl_mech_name(m);
		size_t k = strlen(name), g = strlen(sep);
		if (n + g + k >= sizeof line)
			break;
		memcpy(line + n, sep, g);
		memcpy(line + n + g, name, k);
		n += g + k;
		line[n] = '\0';
		sep = " ";
	}
	sess_reply_line(s, 250, false, "%s", line);
}

void
cmd_ehlo(struct session *s, struct span arg)
{
	if (!greet_common(s, arg, "EHLO"))
		return;
	s->esmtp = true;
	sess_reply_line(s, 250, false, "%s", s->cfg->hostname);
	sess_reply_line(s, 250, false, "PIPELINING");
	sess_reply_line(s, 250, false, "SIZE %zu", s->cfg->max_message_size);
	if (policy_may_starttls(s))
		sess_reply_line(s, 250, false, "STARTTLS");
	if (policy_may_auth(s)) {
		ehlo_auth_line(s, "AUTH ");
		if (s->cfg->legacy_auth_line)
			ehlo_auth_line(s, "AUTH=");
	}
	sess_reply_line(s, 250, false, "8BITMIME");
	sess_reply_line(s, 250, true, "ENHANCEDSTATUSCODES");
}

void
cmd_helo(struct session *s, struct span arg)
{
	if (!greet_common(s, arg, "HELO"))
		return;
	/* A HELO client gets no extensions (RFC 5321 4.1.1.1), hence no
	 * AUTH: cmd_auth answers it 503. */
	s->esmtp = false;
	sess_reply(s, 250, NULL, "%s", s->cfg->hostname);
}
