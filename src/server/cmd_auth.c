/* cmd_auth.c - AUTH (RFC 4954): the SMTP glue around a SASL step
 * session (sasl.h).  We own the 334/235/535 lines and the base64; the
 * mechanism owns the bytes.  Credentials come from the store through
 * authq.c, once the throttle (auth_throttle.c) lets an attempt through;
 * failures are answered after a jittered delay.
 *
 * Never logged: the SASL payload, the AUTH line, any password.
 */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "sasl/sasl.h"
#include "util/b64.h"
#include "util/log.h"

static void
auth_log_failure(struct session *s, const char *why)
{
	char user[LOG_SAFE_MAX];
	const struct sasl_mech *m = s->sasl ? sasl_sess_mech(s->sasl) : NULL;
	log_quote_str(user, sizeof user, s->sasl ? sasl_sess_authcid(s->sasl) : NULL);
	/* Stable for fail2ban: "auth failed: client=IP user=NAME mech=MECH".
	 * NAME is the peer's: log_quote() keeps it one field, so that it
	 * cannot add a client= of its own. */
	log_warn("auth failed: client=%s user=%s mech=%s session=%016" PRIx64 " why=\"%s\"", s->ip,
		 user, m ? sasl_mech_name(m) : "-", s->id, why ? why : "-");
	s->srv->count.auth_failed++;
}

/* Ends the exchange and reads commands again. */
static void
auth_finish(struct session *s)
{
	auth_throttle_cancel(s);	/* before the SASL session (it has the user) */
	sasl_sess_free(&s->sasl);
	if (s->state != ST_CLOSING)
		sess_set_state(s, ST_CMD);
}

/* Counts a failed or refused AUTH of this session.  At
 * auth_max_failures, adds "421 4.7.0" to the reply already queued and
 * closes: true then (the caller must not resume reading).  A guesser
 * that keeps one connection gets no more tries than one that
 * reconnects, and reconnecting costs it a TLS handshake. */
static bool
auth_session_over(struct session *s)
{
	if (s->state == ST_CLOSING)
		return true;
	if (++s->auth_failures < s->cfg->auth_max_failures)
		return false;
	log_warn("auth failed too often: client=%s failures=%u session=%016" PRIx64 ": closing",
		 s->ip, s->auth_failures, s->id);
	sess_reply(s, 421, "4.7.0", "%s Error: too many failed authentications", s->cfg->hostname);
	sess_close(s);
	return true;
}

static void
auth_delay_done(int fd, short what, void *arg)
{
	struct session *s = arg;
	if (s->auth_delay_verify) {
		/* the throttle's delay is over: now check the credentials */
		s->auth_delay_verify = false;
		authq_submit(s);
		return;
	}
	/* RFC 4954 6: "535 5.7.8 Authentication credentials invalid" */
	sess_fail(s, 535, "5.7.8", "Authentication credentials invalid");
	auth_finish(s);
	if (!auth_session_over(s))
		sess_resume(s);
}

/* Stops reading and runs auth_delay_done() after ms: then the
 * credential check when verify, else the 535.  A timer: the loop never
 * sleeps (STYLE.md 15). */
static void
auth_wait(struct session *s, unsigned ms, bool verify)
{
	if (s->auth_delay == NULL)
		s->auth_delay = evtimer_new(s->srv->base, auth_delay_done, s);
	s->auth_delay_verify = verify;
	sess_set_state(s, ST_AUTH_WAIT);
	bufferevent_disable(s->bev, EV_READ);
	if (s->auth_delay == NULL) {
		auth_delay_done(-1, 0, s);
		return;
	}
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000L };
	evtimer_add(s->auth_delay, &tv);
}

/* Every 535 waits AUTH_FAIL_DELAY_MS plus up to as much again of
 * jitter, so that the time of the answer tells nothing about why it
 * failed (unknown user, wrong password).  Slowing repeated guesses is
 * the throttle's job (auth_throttle.c), before the check. */
#define AUTH_FAIL_DELAY_MS 500u

static unsigned
auth_fail_delay(void)
{
	uint32_t jitter = 0;
	if (RAND_bytes((unsigned char *)&jitter, sizeof jitter) != 1)
		jitter = 0;	/* no jitter is still a delay */
	return AUTH_FAIL_DELAY_MS + jitter % AUTH_FAIL_DELAY_MS;
}

/* Wrong credentials: tell the throttle, answer 535 later. */
static void
auth_fail_later(struct session *s, const char *why)
{
	auth_log_failure(s, why);
	auth_throttle_record(s, false);
	auth_wait(s, auth_fail_delay(), false);
}

/* The credentials are ready to be checked: the throttle decides
 * whether now, later, or not at all. */
static void
auth_gate(struct session *s)
{
	unsigned ms = 0;
	switch (auth_throttle_check(s, &ms)) {
	case THROTTLE_ALLOW:
		sess_set_state(s, ST_AUTH_WAIT);
		bufferevent_disable(s->bev, EV_READ);
		authq_submit(s);
		return;
	case THROTTLE_DELAY:
		auth_wait(s, ms, true);
		return;
	case THROTTLE_REFUSE:
		s->srv->count.auth_failed++;
		/* RFC 4954 6: "454 4.7.0 Temporary authentication failure";
		 * nothing was checked, so nothing is told about the password. */
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure, try again later");
		auth_finish(s);
		(void)auth_session_over(s);
		return;
	}
}

static void
auth_success(struct session *s)
{
	const char *user = sasl_sess_authcid(s->sasl);
	const char *authz = sasl_sess_authzid(s->sasl);
	/* The credentials were right, whatever follows: the pair of this
	 * address and user is known good from now on. */
	auth_throttle_record(s, true);
	/* We do not let one user act for another: an authorization
	 * identity other than the user's own is a failure. */
	if (authz != NULL && authz[0] != '\0' && strcmp(authz, user) != 0) {
		auth_fail_later(s, "authorization identity differs from the user");
		return;
	}
	s->auth_user = strdup(user);
	if (s->auth_user == NULL) {
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
		return;
	}
	s->auth_mech = sasl_mech_name(sasl_sess_mech(s->sasl));
	char safe[LOG_SAFE_MAX];
	log_info("session=%016" PRIx64 " auth ok client=%s user=%s mech=%s", s->id, s->ip,
		 log_quote_str(safe, sizeof safe, user), s->auth_mech);
	s->srv->count.auth_ok++;
	sess_reply(s, 235, "2.7.0", "Authentication successful");
	auth_finish(s);
}

/* Acts on a sasl_step() result. */
static void
auth_next(struct session *s, enum sasl_rc rc, const struct buf *out, const char *why)
{
	switch (rc) {
	case SASL_MORE: {
		struct buf enc;
		buf_init(&enc, b64_encoded_len(SASL_MSG_MAX));
		if (b64_encode(&enc, out->p ? out->p : (const uint8_t *)"", out->len) != BUF_OK) {
			buf_free(&enc);
			sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
			auth_finish(s);
			return;
		}
		sess_reply_line(s, 334, true, "%s", buf_cstr(&enc));
		buf_free(&enc);
		sess_set_state(s, ST_AUTH);
		return;
	}
	case SASL_NEED_CRED:
		auth_gate(s);
		return;
	case SASL_DONE:
		auth_success(s);
		return;
	case SASL_FAIL:
		auth_fail_later(s, why);
		return;
	case SASL_TEMPFAIL:
		/* Our trouble, not the client's: not "auth failed", which
		 * contrib/fail2ban counts against the client. */
		log_warn("auth temporary failure: client=%s session=%016" PRIx64 " why=\"%s\"", s->ip,
			 s->id, why ? why : "-");
		/* RFC 4954 6: "454 4.7.0 Temporary authentication failure" */
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
		return;
	case SASL_BADSYNTAX:
		auth_log_failure(s, why);
		sess_fail(s, 501, "5.5.2", "Malformed authentication response");
		auth_finish(s);
		return;
	}
}

/* Feeds one message (decoded) to the mechanism; in == NULL: none. */
static void
auth_feed(struct session *s, const uint8_t *in, size_t n)
{
	struct buf out;
	const char *why = NULL;
	buf_init(&out, SASL_MSG_MAX);
	enum sasl_rc rc = sasl_step(s->sasl, in, n, &out, &why);
	auth_next(s, rc, &out, why);
	buf_wipe_free(&out);
}

/* Decodes a base64 client message ("=" alone is empty when allow_eq)
 * and feeds it; replies 501 5.5.2 itself when it cannot be decoded. */
static void
auth_feed_b64(struct session *s, struct span b64, bool allow_eq)
{
	struct buf dec;
	buf_init(&dec, SASL_MSG_MAX);
	if (allow_eq && b64.n == 1 && b64.p[0] == '=') {
		auth_feed(s, (const uint8_t *)"", 0);
		return;
	}
	if (b64_decode(&dec, b64.p, b64.n) != 0) {
		buf_wipe_free(&dec);
		auth_log_failure(s, "bad base64");
		/* RFC 4954 4: "If the client ... cannot be decoded ... the
		 * server ... MUST reject the AUTH command with a 501 reply." */
		sess_fail(s, 501, "5.5.2", "Cannot decode response");
		auth_finish(s);
		return;
	}
	auth_feed(s, dec.p ? dec.p : (const uint8_t *)"", dec.len);
	buf_wipe_free(&dec);
}

/* Gates and mechanism choice; NULL when it replied an error. */
static const struct sasl_mech *
cmd_auth_check(struct session *s, struct span *arg)
{
	struct span name;
	if (!s->esmtp) {
		/* AUTH is an ESMTP extension: a HELO client never saw it. */
		sess_fail(s, 503, "5.5.1", "Error: send EHLO first");
		return NULL;
	}
	if (s->auth_user != NULL) {
		/* RFC 4954 4: "After a successful AUTH command completes, a
		 * server MUST reject any further AUTH commands with a 503". */
		sess_fail(s, 503, "5.5.1", "Error: already authenticated");
		return NULL;
	}
	if (span_word(arg, &name, 64) < 0) {
		sess_fail(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return NULL;
	}
	const struct sasl_mech *m = sasl_mech_find(name.p, name.n);
	switch (policy_mech_check(s, m)) {
	case POLICY_MECH_OK:
		break;
	case POLICY_MECH_UNKNOWN:
		sess_fail(s, 504, "5.5.4", "Unrecognized authentication type");
		return NULL;
	case POLICY_MECH_NEEDS_TLS:
		/* RFC 4954 6: "538 5.7.11 Encryption required for requested
		 * authentication mechanism" */
		sess_fail(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return NULL;
	}
	return m;
}

void
cmd_auth(struct session *s, struct span arg)
{
	const struct sasl_mech *m = cmd_auth_check(s, &arg);
	if (m == NULL)
		return;
	if (arg.n > 0 && sasl_mech_forbids_initial(m)) {
		sess_fail(s, 501, "5.7.0", "%s takes no initial response", sasl_mech_name(m));
		return;
	}
	struct sasl_server_params p = {
		.hostname = s->cfg->hostname,
		.fake_salt_key = s->srv->fake_salt_key,
		.fake_salt_key_len = sizeof s->srv->fake_salt_key,
	};
	s->sasl = sasl_server_new(m, &p);
	if (s->sasl == NULL) {
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	if (arg.n == 0)
		auth_feed(s, NULL, 0);
	else
		/* RFC 4954 4: "=" is an initial response of zero length. */
		auth_feed_b64(s, arg, true);
}

void
cmd_auth_response(struct session *s, struct span line)
{
	/* RFC 4954 4: "If the client wishes to cancel the authentication
	 * exchange, it issues a line with a single "*".  If the server
	 * receives such a response, it MUST reject the AUTH command by
	 * sending a 501 reply." */
	if (line.n == 1 && line.p[0] == '*') {
		sess_fail(s, 501, "5.0.0", "Authentication cancelled");
		auth_finish(s);
		return;
	}
	auth_feed_b64(s, line, false);
}

void
cmd_auth_resume(struct session *s)
{
	auth_feed(s, NULL, 0);
	if (s->state == ST_CMD || s->state == ST_AUTH)
		sess_resume(s);
}
