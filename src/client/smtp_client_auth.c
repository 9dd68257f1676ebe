/* smtp_client_auth.c - choosing a SASL mechanism and running the AUTH
 * exchange (RFC 4954) on top of the sasl library's step API. */
#include "client/smtp_client_impl.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "util/b64.h"

/* RFC 4954 section 4: "the AUTH command ... line length ... 12288
 * octets", including "AUTH", the mechanism and CRLF. */
#define AUTH_LINE_MAX 12288

size_t
smtp_client_pick_mechs(const struct smtp_ehlo *caps, bool encrypted,
		       const struct smtp_client_opts *o, const char **names_r, size_t max,
		       const char **why_r)
{
	size_t n = 0;
	*why_r = NULL;
	if (!smtp_ehlo_has(caps, SMTP_EXT_AUTH) || caps->nmechs == 0) {
		*why_r = "the server does not offer AUTH";
		return 0;
	}
	if (o->auth == SMTP_AUTH_MECH) {
		const struct sasl_mech *m = o->auth_mech ? sasl_mech_find(o->auth_mech,
									strlen(o->auth_mech)) : NULL;
		if (m == NULL) {
			*why_r = "the configured mechanism is not supported by postern";
			return 0;
		}
		if (!smtp_ehlo_offers_mech(caps, sasl_mech_name(m))) {
			*why_r = "the server does not offer the configured mechanism";
			return 0;
		}
		if (sasl_mech_sends_password(m) && !encrypted && !o->allow_cleartext_password) {
			*why_r = "the configured mechanism would send the password over a "
				 "connection without TLS";
			return 0;
		}
		if (max > 0)
			names_r[n++] = sasl_mech_name(m);
		return n;
	}
	/* STYLE 9: preference is the registry's order, strongest first;
	 * without TLS every mechanism that sends the password is dropped. */
	bool dropped = false;
	for (size_t i = 0; i < sasl_mech_count() && n < max; i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		/* A token mechanism is used only when configured, or when
		 * the password is a token (then only those). */
		if (!smtp_ehlo_offers_mech(caps, sasl_mech_name(m)) || sasl_mech_uses_token(m) != o->token)
			continue;
		if (sasl_mech_sends_password(m) && !encrypted) {
			dropped = true;
			continue;
		}
		/* -PLUS binds to TLS: without it, the plain form follows
		 * (a server that offers -PLUS in clear text is confused). */
		if (sasl_mech_binds_channel(m) && !encrypted)
			continue;
		names_r[n++] = sasl_mech_name(m);
	}
	if (n == 0)
		*why_r = dropped ? "the server offers only mechanisms that send the password in "
				   "the clear, and the connection is not encrypted (use tls on)"
				 : "the server offers no mechanism postern supports";
	return n;
}

void
smtp_client_auth_free(struct smtp_client *c)
{
	sasl_sess_free(&c->sasl);
	buf_wipe(&c->pending_ir);
}

static const char *
cur_mech(const struct smtp_client *c)
{
	return c->mech_i < c->nmechs ? c->mechs[c->mech_i] : NULL;
}

/* The definition of the mechanism being tried; NULL outside AUTH. */
static const struct sasl_mech *
cur_sasl_mech(const struct smtp_client *c)
{
	const char *name = cur_mech(c);
	return name ? sasl_mech_find(name, strlen(name)) : NULL;
}

static unsigned
secret_flag(const struct smtp_client *c)
{
	const struct sasl_mech *m = cur_sasl_mech(c);
	return m && sasl_mech_sends_password(m) ? SMTP_LINE_SECRET : 0u;
}

/* Sends "prefix" + base64(data) as one line, marked as SASL. */
static int
send_b64(struct smtp_client *c, const char *prefix, const struct buf *data)
{
	struct buf line;
	buf_init(&line, AUTH_LINE_MAX + 64);
	int rc = buf_addstr(&line, prefix);
	size_t off = line.len;
	if (rc == BUF_OK && prefix[0] != '\0' && data->len == 0)
		rc = buf_addch(&line, '=');	/* RFC 4954: "=" is an empty initial response */
	else if (rc == BUF_OK)
		rc = b64_encode(&line, data->p ? data->p : (const uint8_t *)"", data->len);
	if (rc == BUF_OK && line.len + 2 <= AUTH_LINE_MAX)
		smtp_client_write_line(c, SMTP_LINE_SASL | secret_flag(c), cur_mech(c), off,
				       (const char *)line.p, line.len);
	else
		rc = BUF_TOOBIG;
	buf_wipe_free(&line);
	return rc;
}

static void try_mech(struct smtp_client *c);

static void
next_mech(struct smtp_client *c, const struct smtp_reply *r)
{
	sasl_sess_free(&c->sasl);
	buf_wipe(&c->pending_ir);
	const char *failed = cur_mech(c);
	c->mech_i++;
	if (c->mech_i < c->nmechs) {
		smtp_client_note(c, "%s unavailable (%d), trying %s", failed, r ? r->code : 0,
				 cur_mech(c));
		try_mech(c);
		return;
	}
	smtp_client_fail(c, r && r->code / 100 == 4 ? SMTP_FAIL_AUTH_TEMP : SMTP_FAIL_NOAUTH, r,
			 failed, "no authentication mechanism worked for %s (last tried %s)",
			 c->o.user ? c->o.user : "", failed);
}

/* The current mechanism cannot even start on our side: try the next
 * one, or end with EX_UNAVAILABLE (the server refused nothing). */
static void
local_failure(struct smtp_client *c, const char *why)
{
	const char *name = cur_mech(c);
	sasl_sess_free(&c->sasl);
	c->mech_i++;
	if (c->mech_i < c->nmechs) {
		smtp_client_note(c, "cannot use %s: %s; trying %s", name, why, cur_mech(c));
		try_mech(c);
		return;
	}
	smtp_client_fail(c, SMTP_FAIL_NOAUTH, NULL, name, "cannot authenticate %s with %s: %s",
			 c->o.user, name, why);
}

/* Did the server advertise the -PLUS form of the plain mechanism m? */
static bool
server_offers_plus(const struct smtp_client *c, const struct sasl_mech *m)
{
	char plus[SMTP_MECH_NAME_MAX + 1];
	int n = snprintf(plus, sizeof plus, "%s-PLUS", sasl_mech_name(m));
	return n > 0 && (size_t)n < sizeof plus && smtp_ehlo_offers_mech(&c->caps, plus);
}

/* SCRAM over TLS: the channel's binding data (RFC 5056), so that
 * -PLUS binds (tls-exporter on TLS 1.3, else tls-server-end-point)
 * and plain SCRAM says "y" (we could bind, the server offered no
 * -PLUS).  Without it, -PLUS fails locally and the next mechanism is
 * tried.  Plain SCRAM chosen although the server offered its -PLUS
 * form (auth MECH, probe --auth) says "n": "y" would tell the server
 * that its -PLUS was stripped on the way, which it answers with a
 * failure (RFC 5802 section 6 forbids "n" only when no -PLUS was seen). */
static void
set_channel_binding(struct smtp_client *c, const struct sasl_mech *m)
{
	struct sasl_cb cb = { 0 };
	if (!sasl_mech_binds_channel(m) && server_offers_plus(c, m))
		return;
	if (c->tls && sasl_cb_from_ssl(c->ssl, false, &cb))
		sasl_sess_set_cb(c->sasl, &cb);
	OPENSSL_cleanse(&cb, sizeof cb);
}

static void
try_mech(struct smtp_client *c)
{
	const struct sasl_mech *m = cur_sasl_mech(c);
	if (m == NULL) {	/* smtp_client_pick_mechs() returns known names only */
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "no mechanism to try");
		return;
	}
	const char *name = sasl_mech_name(m);
	struct sasl_client_params p = {
		.authcid = c->o.user, .password = buf_cstr(&c->password), .authzid = NULL,
	};
	c->sasl = sasl_client_new(m, &p);
	if (c->sasl == NULL) {
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, name, "cannot start %s", name);
		return;
	}
	set_channel_binding(c, m);
	c->sasl_last = SASL_MORE;
	char prefix[64];
	(void)snprintf(prefix, sizeof prefix, "AUTH %s ", name);	/* a registry name: fits */
	if (!sasl_mech_client_first(m)) {
		smtp_client_writef(c, "AUTH %s", name);
		return;
	}
	struct buf out;
	const char *why = NULL;
	buf_init(&out, SASL_MSG_MAX);
	c->sasl_last = sasl_step(c->sasl, NULL, 0, &out, &why);
	if (c->sasl_last != SASL_MORE && c->sasl_last != SASL_DONE) {
		/* A local refusal (say a password PLAIN cannot carry): nothing
		 * was sent, so another mechanism costs the server nothing. */
		buf_wipe_free(&out);
		local_failure(c, why ? why : "error");
		return;
	} else if (send_b64(c, prefix, &out) != BUF_OK) {
		/* RFC 4954 section 4: "If use of the initial response
		 * argument would cause the AUTH command to exceed this
		 * length, the client MUST NOT use the initial response
		 * parameter" - send it after the empty 334 instead. */
		buf_add(&c->pending_ir, out.p, out.len);
		smtp_client_writef(c, "AUTH %s", name);
	}
	buf_wipe_free(&out);
}

void
smtp_client_auth_start(struct smtp_client *c)
{
	const char *why;
	if (c->o.user == NULL || c->o.user[0] == '\0') {
		smtp_client_fail(c, SMTP_FAIL_NOAUTH, NULL, NULL,
				 "authentication is on but no user is set");
		return;
	}
	c->nmechs = smtp_client_pick_mechs(&c->caps, c->tls, &c->o, c->mechs,
					   sizeof c->mechs / sizeof *c->mechs, &why);
	if (c->nmechs == 0) {
		bool insecure = why && strstr(why, "without TLS") != NULL;
		insecure = insecure || (why && strstr(why, "not encrypted") != NULL);
		smtp_client_fail(c, insecure ? SMTP_FAIL_INSECURE : SMTP_FAIL_NOAUTH, NULL,
				 c->o.auth_mech, "cannot authenticate %s%s%s: %s", c->o.user,
				 c->o.auth_mech ? " with " : "", c->o.auth_mech ? c->o.auth_mech : "",
				 why);
		return;
	}
	c->mech_i = 0;
	smtp_client_set_state(c, ST_AUTH);
	try_mech(c);
}

/* A 334: decode the challenge, step, answer. */
static void
on_challenge(struct smtp_client *c, const struct smtp_reply *r)
{
	const char *name = cur_mech(c);
	if (c->pending_ir.len > 0) {
		send_b64(c, "", &c->pending_ir);
		buf_wipe(&c->pending_ir);
		return;
	}
	struct buf in, out;
	buf_init(&in, SASL_MSG_MAX);
	buf_init(&out, SASL_MSG_MAX);
	const char *why = NULL;
	struct span t = { r->text.p ? (const char *)r->text.p : "", r->text.len };
	if (r->nlines != 1 || b64_decode(&in, t.p, t.n) != 0) {
		why = "the server's challenge is not valid base64";
		c->sasl_last = SASL_BADSYNTAX;
	} else {
		c->sasl_last = sasl_step(c->sasl, in.p ? in.p : (const uint8_t *)"", in.len, &out, &why);
	}
	if (c->sasl_last == SASL_MORE || c->sasl_last == SASL_DONE) {
		/* SASL_DONE with nothing to say: SCRAM verified the server's
		 * signature; RFC 4954 wants an empty line, then 235. */
		send_b64(c, "", &out);
	} else {
		/* RFC 4954 section 4: "If the client wishes to cancel an
		 * authentication exchange, it issues a line with a single "*"." */
		smtp_client_writef(c, "*");
		smtp_client_fail(c, SMTP_FAIL_AUTH, NULL, name, "authentication with %s failed for %s: %s",
				 name, c->o.user, why ? why : "mechanism error");
	}
	buf_wipe_free(&in);
	buf_wipe_free(&out);
}

/* XXX: the sasl library has no "mutual" flag yet: SCRAM is the one
 * mechanism here whose server proves it knows the secret, and a 235
 * before that proof must not count (a fake server could skip it). */
static bool
needs_server_proof(const char *mech)
{
	return mech != NULL && strncasecmp(mech, "SCRAM-", 6) == 0;
}

void
smtp_client_auth_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	const char *name = cur_mech(c);
	if (r->code == 334) {
		on_challenge(c, r);
		return;
	}
	if (c->cb.auth_result)
		c->cb.auth_result(c->arg, name, r->code == 235, r);
	if (c->state == ST_CLOSED)
		return;
	if (r->code == 235) {
		if (needs_server_proof(name) && c->sasl_last != SASL_DONE) {
			smtp_client_fail(c, SMTP_FAIL_AUTH, r, name, "%s: the server accepted %s "
					 "without proving it knows the password", name, c->o.user);
			return;
		}
		c->auth_mech_ok = name;
		sasl_sess_free(&c->sasl);
		smtp_client_set_state(c, ST_READY);
		c->cb.ready(c->arg, c);
		return;
	}
	switch (r->code) {
	case 504:	/* mechanism not supported */
	case 534:	/* mechanism too weak */
	case 538:	/* encryption required for mechanism */
	case 454:	/* temporary authentication failure */
		next_mech(c, r);
		return;
	default:
		break;
	}
	/* 535 and anything else: stop.  Trying other mechanisms with the
	 * same wrong credentials only feeds the server's failure counters.
	 * OAUTHBEARER/XOAUTH2: the error status the server sent before
	 * (RFC 7628 JSON) says why; `postern probe` explains it. */
	const char *status = c->sasl != NULL ? sasl_sess_peer_error(c->sasl) : NULL;
	smtp_client_fail(c, r->code / 100 == 4 ? SMTP_FAIL_AUTH_TEMP : SMTP_FAIL_AUTH, r, name,
			 "authentication failed for %s with %s%s%s", c->o.user, name,
			 status ? "; the server's error status: " : "", status ? status : "");
}
