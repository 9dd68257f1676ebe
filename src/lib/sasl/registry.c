/* registry.c - the mechanisms postern knows, strongest first, and the
 * questions policy asks about them (all answered from the flags). */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"
#include "sasl/sasl_mech.h"

#include <strings.h>

/* Preference order, used by clients to pick and by servers to advertise:
 * a mechanism that proves knowledge of a salted key beats one that
 * proves knowledge of an unsalted one, which beats sending the password. */
static const struct sasl_mech *const sasl_registry[] = {
	/* EXTERNAL first: a client that has a certificate and is offered it
	 * (only with a verified, mapped one) sends no secret at all.  The
	 * -PLUS forms before their plain ones: they also prove that no one
	 * sits between the TLS ends. */
	&sasl_external_mech,
	&sasl_scram_sha256_plus_mech,
	&sasl_scram_sha256_mech,
	&sasl_scram_sha1_plus_mech,
	&sasl_scram_sha1_mech,
	&sasl_cram_md5_mech,
	&sasl_oauthbearer_mech,
	&sasl_xoauth2_mech,
	&sasl_plain_mech,
	&sasl_login_mech,
};

size_t
sasl_mech_count(void)
{
	return sizeof sasl_registry / sizeof sasl_registry[0];
}

const struct sasl_mech *
sasl_mech_at(size_t i)
{
	return i < sasl_mech_count() ? sasl_registry[i] : NULL;
}

/* Whole token only: "PLAINX" or "PLAI" is not PLAIN. */
const struct sasl_mech *
sasl_mech_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const char *n = sasl_registry[i]->name;
		if (strlen(n) == len && strncasecmp(n, name, len) == 0)
			return sasl_registry[i];
	}
	return NULL;
}

const char *
sasl_mech_name(const struct sasl_mech *m)
{
	return m->name;
}

int
sasl_mech_strength(const struct sasl_mech *m)
{
	return m->strength;
}

bool
sasl_mech_sends_password(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_SENDS_PASSWORD) != 0;
}

bool
sasl_mech_client_first(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_CLIENT_FIRST) != 0;
}

bool
sasl_mech_forbids_initial(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_FORBIDS_INITIAL) != 0;
}

enum sasl_cred_kind
sasl_mech_cred_kind(const struct sasl_mech *m)
{
	return m->cred_kind;
}

bool
sasl_mech_uses_token(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_USES_TOKEN) != 0;
}

bool
sasl_mech_binds_channel(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_CHANNEL_BINDING) != 0;
}

bool
sasl_mech_external(const struct sasl_mech *m)
{
	return (m->flags & SASL_MECH_EXTERNAL) != 0;
}

/* ---- the mechanisms (policy lives in these flags) ---- */

/* RFC 5802 section 6 and RFC 7677: the same SCRAM, with the channel
 * binding data in c=.  The credentials are the plain mechanism's. */
const struct sasl_mech sasl_scram_sha256_plus_mech = {
	.name = "SCRAM-SHA-256-PLUS", .flags = SASL_MECH_CLIENT_FIRST | SASL_MECH_CHANNEL_BINDING,
	.strength = 55, .cred_kind = SASL_CRED_SCRAM_SHA256, .digest = "SHA256",
	.client_start = sasl_scram_client_start, .client_step = sasl_scram_client_step,
	.client_free = sasl_scram_client_free, .server_start = sasl_scram_server_start,
	.server_step = sasl_scram_server_step, .server_free = sasl_scram_server_free,
};

const struct sasl_mech sasl_scram_sha1_plus_mech = {
	.name = "SCRAM-SHA-1-PLUS", .flags = SASL_MECH_CLIENT_FIRST | SASL_MECH_CHANNEL_BINDING,
	.strength = 45, .cred_kind = SASL_CRED_SCRAM_SHA1, .digest = "SHA1",
	.client_start = sasl_scram_client_start, .client_step = sasl_scram_client_step,
	.client_free = sasl_scram_client_free, .server_start = sasl_scram_server_start,
	.server_step = sasl_scram_server_step, .server_free = sasl_scram_server_free,
};

/* RFC 4422 appendix A.  cred_kind is never asked for: the identity is
 * the TLS client certificate's (sasl_server_params.external_user), and
 * the auth process offers it whatever the store (SASL_MECH_EXTERNAL). */
const struct sasl_mech sasl_external_mech = {
	.name = "EXTERNAL", .flags = SASL_MECH_CLIENT_FIRST | SASL_MECH_EXTERNAL, .strength = 60,
	.cred_kind = SASL_CRED_PASSWORD,
	.client_start = sasl_external_client_start, .client_step = sasl_external_client_step,
	.client_free = sasl_external_free, .server_start = sasl_external_server_start,
	.server_step = sasl_external_server_step, .server_free = sasl_external_free,
};

const struct sasl_mech sasl_scram_sha256_mech = {
	.name = "SCRAM-SHA-256", .flags = SASL_MECH_CLIENT_FIRST, .strength = 50,
	.cred_kind = SASL_CRED_SCRAM_SHA256, .digest = "SHA256",
	.client_start = sasl_scram_client_start, .client_step = sasl_scram_client_step,
	.client_free = sasl_scram_client_free, .server_start = sasl_scram_server_start,
	.server_step = sasl_scram_server_step, .server_free = sasl_scram_server_free,
};

const struct sasl_mech sasl_scram_sha1_mech = {
	.name = "SCRAM-SHA-1", .flags = SASL_MECH_CLIENT_FIRST, .strength = 40,
	.cred_kind = SASL_CRED_SCRAM_SHA1, .digest = "SHA1",
	.client_start = sasl_scram_client_start, .client_step = sasl_scram_client_step,
	.client_free = sasl_scram_client_free, .server_start = sasl_scram_server_start,
	.server_step = sasl_scram_server_step, .server_free = sasl_scram_server_free,
};

const struct sasl_mech sasl_cram_md5_mech = {
	.name = "CRAM-MD5", .flags = SASL_MECH_FORBIDS_INITIAL, .strength = 30,
	.cred_kind = SASL_CRED_CRAM_MD5,
	.client_start = sasl_cram_md5_client_start, .client_step = sasl_cram_md5_client_step,
	.client_free = sasl_cram_md5_client_free, .server_start = sasl_cram_md5_server_start,
	.server_step = sasl_cram_md5_server_step, .server_free = sasl_cram_md5_server_free,
};

const struct sasl_mech sasl_plain_mech = {
	.name = "PLAIN", .flags = SASL_MECH_SENDS_PASSWORD | SASL_MECH_CLIENT_FIRST,
	.strength = 20, .cred_kind = SASL_CRED_PASSWORD,
	.client_start = sasl_plain_client_start, .client_step = sasl_plain_client_step,
	.client_free = sasl_plain_client_free, .server_start = sasl_plain_server_start,
	.server_step = sasl_plain_server_step, .server_free = sasl_plain_server_free,
};

/* Server-first, but the user name may come as initial response. */
const struct sasl_mech sasl_login_mech = {
	.name = "LOGIN", .flags = SASL_MECH_SENDS_PASSWORD, .strength = 10,
	.cred_kind = SASL_CRED_PASSWORD,
	.client_start = sasl_login_client_start, .client_step = sasl_login_client_step,
	.client_free = sasl_login_client_free, .server_start = sasl_login_server_start,
	.server_step = sasl_login_server_step, .server_free = sasl_login_server_free,
};

/* RFC 7628: a bearer token is as good as a password to whoever reads
 * it, hence TLS only; ranked above PLAIN because a token is scoped and
 * expires.  OAUTHBEARER is the standard, XOAUTH2 its older Google form. */
const struct sasl_mech sasl_oauthbearer_mech = {
	.name = "OAUTHBEARER",
	.flags = SASL_MECH_SENDS_PASSWORD | SASL_MECH_CLIENT_FIRST | SASL_MECH_USES_TOKEN,
	.strength = 26, .cred_kind = SASL_CRED_OAUTH_TOKEN,
	.client_start = sasl_oauthbearer_client_start, .client_step = sasl_oauthbearer_client_step,
	.client_free = sasl_oauth_free, .server_start = sasl_oauthbearer_server_start,
	.server_step = sasl_oauthbearer_server_step, .server_free = sasl_oauth_free,
};

const struct sasl_mech sasl_xoauth2_mech = {
	.name = "XOAUTH2",
	.flags = SASL_MECH_SENDS_PASSWORD | SASL_MECH_CLIENT_FIRST | SASL_MECH_USES_TOKEN,
	.strength = 25, .cred_kind = SASL_CRED_OAUTH_TOKEN,
	.client_start = sasl_xoauth2_client_start, .client_step = sasl_xoauth2_client_step,
	.client_free = sasl_oauth_free, .server_start = sasl_xoauth2_server_start,
	.server_step = sasl_xoauth2_server_step, .server_free = sasl_oauth_free,
};
