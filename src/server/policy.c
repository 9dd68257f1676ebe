/* policy.c - who may do what: one predicate per decision, used both by
 * EHLO (what we offer) and by the command (what we allow), so the two
 * can never disagree (STYLE.md 6). */
#include "server/session.h"

#include <string.h>
#include <strings.h>

#include "sasl/sasl.h"
#include "server/sendermap.h"
#include "smtp/addr.h"

bool
policy_may_starttls(const struct session *s)
{
	/* Submissions is TLS from the first byte (RFC 8314); elsewhere we
	 * need a certificate, and TLS only once. */
	return !s->tls && s->gen->ssl != NULL && s->role != ROLE_SUBMISSIONS;
}

bool
policy_needs_starttls(const struct session *s)
{
	/* RFC 8314 3: submission in clear text is to be phased out; as
	 * Postfix's submission service (smtpd_tls_security_level=encrypt),
	 * a submission listener takes no AUTH and no MAIL before STARTTLS
	 * unless the administrator set submission_tls = optional.  The
	 * listener always has a certificate (config.c check_whole). */
	return s->role == ROLE_SUBMISSION && !s->tls && !s->cfg->submission_tls_optional;
}

enum policy_mech
policy_mech_check(const struct session *s, const struct sasl_mech *m)
{
	const struct config *c = s->cfg;
	bool listed = false;
	for (size_t i = 0; m != NULL && i < c->nmechs; i++)
		listed |= c->mechs[i] == m;
	/* Advertising a mechanism the store cannot verify breaks every
	 * client that picks the strongest one offered: the auth process
	 * said in its HELLO which ones it can complete. */
	if (!listed || !authc_offers(s->srv, m))
		return POLICY_MECH_UNKNOWN;
	/* RFC 4954 4: plaintext mechanisms only over a protected channel
	 * unless the administrator allowed them everywhere. */
	if (sasl_mech_sends_password(m) && !s->tls && !c->plaintext_always)
		return POLICY_MECH_NEEDS_TLS;
	return POLICY_MECH_OK;
}

bool
policy_mech_offered(const struct session *s, const struct sasl_mech *m)
{
	return policy_mech_check(s, m) == POLICY_MECH_OK;
}

bool
policy_may_auth(const struct session *s)
{
	if (!s->esmtp || s->auth_user != NULL || policy_needs_starttls(s))
		return false;
	for (size_t i = 0; i < s->cfg->nmechs; i++)
		if (policy_mech_offered(s, s->cfg->mechs[i]))
			return true;
	return false;
}

bool
policy_auth_required(const struct session *s)
{
	/* RFC 6409 4.3: the submission ports accept mail only from
	 * authenticated users; the MX role takes mail for local domains. */
	return s->role != ROLE_SMTP;
}

int
policy_rcpt(const struct session *s, const char *mailbox)
{
	/* An authenticated session may relay; anyone else only reaches
	 * local_domains, and smtp_addr_local() says what counts as local
	 * (the open-relay battery: tests/interop/test_relay_battery.py). */
	if (s->auth_user != NULL)
		return 0;
	return smtp_addr_local(mailbox, s->cfg->local_domains) ? 0 : -1;
}

bool
policy_rcpt_verify(const struct session *s, const char *mailbox)
{
	const char *domain = smtp_addr_domain(mailbox);
	if (domain[0] == '\0' || !smtp_domain_in_list(domain, s->cfg->local_domains))
		return false;
	size_t local_len = (size_t)(domain - mailbox) - 1;
	return !(local_len == 10 && strncasecmp(mailbox, "postmaster", 10) == 0);
}

bool
policy_sender_owned(const struct session *s, const char *address)
{
	/* Without AUTH there is no user to own anything: the MX role takes
	 * mail from any sender, for local recipients only (policy_rcpt). */
	if (s->auth_user == NULL)
		return true;
	/* The null sender carries no identity and is what a user's own
	 * programs must use for MDNs (RFC 8098 2.1) and DSNs; Postfix's
	 * reject_sender_login_mismatch lets it through as well. */
	if (address[0] == '\0')
		return true;
	return sendermap_grants(s->gen->senders, s->auth_user, address, s->cfg->local_domains);
}

bool
policy_checks_header_from(const struct session *s)
{
	return s->auth_user != NULL && s->cfg->check_header_from;
}
