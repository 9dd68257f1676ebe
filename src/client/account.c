/* account.c - from a configured account to the options of one client
 * session: `postern send` and `postern outbox flush` connect the same
 * way, with the same password lookup and the same cleartext rule. */
#include <stdlib.h>
#include <string.h>


#include "client/config.h"
#include "client/oauth.h"
#include "client/smtp_client.h"
#include "sasl/sasl.h"
#include "util/str.h"

static void
fill_opts(const struct client_account *a, const char *pw, struct smtp_client_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = a->host;
	o->port = client_account_port(a);
	o->helo_name = a->domain;
	o->tls = !a->tls ? SMTP_TLS_NONE : a->tls_starttls ? SMTP_TLS_STARTTLS : SMTP_TLS_IMPLICIT;
	o->tls_trust_file = a->tls_trust_file;
	o->tls_nocertcheck = !a->tls_certcheck;
	o->has_fingerprint = a->fingerprint_len > 0;
	o->fingerprint_len = a->fingerprint_len;
	memcpy(o->fingerprint, a->fingerprint, sizeof o->fingerprint);
	o->tls_host_override = a->tls_host_override;
	o->tls_cert_file = a->tls_cert_file;
	o->tls_key_file = a->tls_key_file;
	o->source_ip = a->source_ip;
	o->timeout_sec = a->timeout;	/* 0 (off): the session's default */
	o->dsn_notify = a->dsn_notify;
	o->dsn_return = a->dsn_return;
	enum client_auth_mode am = client_account_auth(a);
	o->auth = am == CLIENT_AUTH_OFF ? SMTP_AUTH_OFF
		: am == CLIENT_AUTH_ON ? SMTP_AUTH_AUTO : SMTP_AUTH_MECH;
	o->auth_mech = a->auth_mech;
	o->user = a->user;
	o->password = pw;
	/* The exact rule (msmtp's): a mechanism that sends the password
	 * goes over a clear connection only when the account names it
	 * ("auth plain" / "auth login") AND says "tls off".  "auth on"
	 * never picks PLAIN or LOGIN without TLS. */
	const struct sasl_mech *m = a->auth_mech ? sasl_mech_find(a->auth_mech, strlen(a->auth_mech))
						 : NULL;
	o->allow_cleartext_password = am == CLIENT_AUTH_MECH && !a->tls && m != NULL &&
				      sasl_mech_sends_password(m);
}

int
client_account_opts(const struct client_account *a, struct smtp_client_opts *o, char **pw_r,
		    char **err_r)
{
	*pw_r = NULL;
	*err_r = NULL;
	if (client_account_auth(a) == CLIENT_AUTH_OFF) {
		fill_opts(a, NULL, o);
		return 0;
	}
	/* auth oauthbearer/xoauth2 without password or passwordeval: the
	 * token file `postern oauth login` filled, refreshed if need be.
	 * Failing that is the provider refusing us (EX_NOPERM), not a
	 * configuration error. */
	if (oauth_account_uses_file(a)) {
		if (oauth_access_token(a, pw_r, err_r) != 0)
			return -2;
		fill_opts(a, *pw_r, o);
		return 0;
	}
	if (client_account_password(a, pw_r, err_r) != 0)
		return -1;
	if (*pw_r == NULL || **pw_r == '\0') {
		str_wipe_free(pw_r);
		*err_r = str_printf("%s:%u: no password for %s at %s (set password or "
					    "passwordeval, or add it to ~/.netrc)",
					    a->file ? a->file : "config", a->line,
					    a->user ? a->user : "?", a->host ? a->host : "?");
		return -1;
	}
	fill_opts(a, *pw_r, o);
	return 0;
}
