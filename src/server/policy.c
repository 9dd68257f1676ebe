/* policy.c - who may do what: one predicate per decision, used both by
 * EHLO (what we offer) and by the command (what we allow), so the two
 * can never disagree (STYLE.md 6). */
#include "server/session.h"

#include "sasl/sasl.h"
#include "smtp/addr.h"

bool
policy_may_starttls(const struct session *s)
{
	/* Submissions is TLS from the first byte (RFC 8314); elsewhere we
	 * need a certificate, and TLS only once. */
	return !s->tls && s->gen->ssl != NULL && s->role != ROLE_SUBMISSIONS;
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
	if (!s->esmtp || s->auth_user != NULL)
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
	if (s->auth_user != NULL)
		return 0;
	const char *domain = smtp_addr_domain(mailbox);
	/* RFC 5321 4.5.1: <Postmaster> without a domain must be accepted. */
	if (domain[0] == '\0')
		return 0;
	return smtp_domain_in_list(domain, s->cfg->local_domains) ? 0 : -1;
}
