/* cmd_auth.c - AUTH (RFC 4954): the SMTP side of a SASL exchange whose
 * mechanism runs in the auth process (doc/architecture.md).  We own the
 * 334/235/535 lines, the base64, the "*" cancel and which mechanisms a
 * listener may use; the auth process owns the mechanism, the secrets and
 * the failure counts and the throttle (src/auth/auth_throttle.c).  The
 * messages go through authc.c; the session stops reading while it
 * waits.  Failures are answered after the delay the auth process chose,
 * by a timer; after auth_max_failures_per_session failures or refusals
 * the session ends with 421 4.7.0.
 *
 * Never logged: the SASL payload, the AUTH line, any password.
 */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ipc/auth_proto.h"
#include "sasl/sasl.h"
#include "util/b64.h"
#include "util/log.h"

/* u: the user the client named (n bytes), NULL when unknown. */
static void
auth_log_failure(struct session *s, const char *u, size_t n, const char *why)
{
	char user[LOG_SAFE_MAX] = "-";
	const struct sasl_mech *m = s->auth_m;
	if (u != NULL && n > 0)
		log_quote(user, sizeof user, u, n);
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
	authc_cancel(s);
	s->auth_m = NULL;
	if (s->state != ST_CLOSING)
		sess_set_state(s, ST_CMD);
}

/* Counts a failed or refused AUTH of this session.  At
 * auth_max_failures_per_session, adds "421 4.7.0" to the reply already
 * queued and closes: true then (the caller must not resume reading).  A
 * guesser that keeps one connection gets no more tries than one that
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
	/* RFC 4954 6: "535 5.7.8 Authentication credentials invalid" */
	sess_fail(s, 535, "5.7.8", "Authentication credentials invalid");
	auth_finish(s);
	if (!auth_session_over(s))
		sess_resume(s);
}

/* Wrong credentials: answer after delay_ms (chosen by the auth process,
 * which counts the failures per client address), by a timer; the loop
 * never sleeps (STYLE.md 15). */
static void
auth_fail_later(struct session *s, uint32_t delay_ms)
{
	struct timeval tv = { .tv_sec = delay_ms / 1000, .tv_usec = (long)(delay_ms % 1000) * 1000L };
	if (s->auth_delay == NULL)
		s->auth_delay = evtimer_new(s->srv->base, auth_delay_done, s);
	if (s->auth_delay == NULL) {
		auth_delay_done(-1, 0, s);
		return;
	}
	sess_set_state(s, ST_AUTH_WAIT);
	evtimer_add(s->auth_delay, &tv);
}

static void
auth_success(struct session *s, const struct auth_field *user)
{
	s->auth_user = strndup((const char *)user->p, user->n);
	if (s->auth_user == NULL || strlen(s->auth_user) != user->n) {
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
		return;
	}
	s->auth_mech = sasl_mech_name(s->auth_m);
	char safe[LOG_SAFE_MAX];
	log_info("session=%016" PRIx64 " auth ok client=%s user=%s mech=%s", s->id, s->ip,
		 log_quote(safe, sizeof safe, s->auth_user, user->n), s->auth_mech);
	s->srv->count.auth_ok++;
	sess_reply(s, 235, "2.7.0", "Authentication successful");
	auth_finish(s);
}

static void
auth_challenge(struct session *s, const struct auth_field *c)
{
	struct buf enc;
	buf_init(&enc, b64_encoded_len(SASL_MSG_MAX));
	if (b64_encode(&enc, c->p ? c->p : (const uint8_t *)"", c->n) != BUF_OK) {
		buf_free(&enc);
		authc_cancel(s);
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
		return;
	}
	sess_reply_line(s, 334, true, "%s", buf_cstr(&enc));
	buf_free(&enc);
	sess_set_state(s, ST_AUTH);
}

/* FAIL from the auth process: fields kind, user, delay, reason.  Only
 * the client's own failures are logged as "auth failed" (contrib/fail2ban
 * counts those against it); a refusal by the throttle was logged by the
 * auth process, which saw why; trouble on our side is logged as such. */
static void
auth_failed(struct session *s, const struct auth_msg *m)
{
	char why[AUTH_PROTO_WHY_MAX + 1];
	memcpy(why, m->f[3].p ? (const char *)m->f[3].p : "", m->f[3].n);
	why[m->f[3].n] = '\0';
	switch ((enum auth_fail_kind)m->f[0].p[0]) {
	case AUTH_FAIL_INVALID: {
		auth_log_failure(s, (const char *)m->f[1].p, m->f[1].n, why);
		const uint8_t *d = m->f[2].p;
		auth_fail_later(s, (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
		return;
	}
	case AUTH_FAIL_SYNTAX:
		auth_log_failure(s, (const char *)m->f[1].p, m->f[1].n, why);
		sess_fail(s, 501, "5.5.2", "Malformed authentication response");
		break;
	case AUTH_FAIL_TEMP:
		log_warn("auth temporary failure: client=%s session=%016" PRIx64 " why=\"%s\"", s->ip,
			 s->id, why);
		/* RFC 4954 6: "454 4.7.0 Temporary authentication failure" */
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		break;
	case AUTH_FAIL_BUSY:
	case AUTH_FAIL_THROTTLED:
		s->srv->count.auth_failed++;
		/* Nothing was checked, so nothing is told about the password. */
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure, try again later");
		auth_finish(s);
		(void)auth_session_over(s);
		return;
	}
	auth_finish(s);
}

/* The session waits for the auth process: no input meanwhile. */
static void
auth_wait(struct session *s)
{
	sess_set_state(s, ST_AUTH_WAIT);
}

/* Sends the first message (ir == NULL: none) or the next one. */
static void
auth_relay(struct session *s, const uint8_t *p, size_t n, bool first)
{
	int rc = first ? authc_start(s, s->auth_m, p, n) : authc_cont(s, p, n);
	if (rc < 0) {
		auth_log_failure(s, NULL, 0, "auth process unavailable");
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
		return;
	}
	auth_wait(s);
}

/* Decodes a base64 client message ("=" alone is empty when first) and
 * relays it; replies 501 5.5.2 itself when it cannot be decoded. */
static void
auth_relay_b64(struct session *s, struct span b64, bool first)
{
	struct buf dec;
	buf_init(&dec, SASL_MSG_MAX);
	if (first && b64.n == 1 && b64.p[0] == '=') {
		auth_relay(s, (const uint8_t *)"", 0, first);
		return;
	}
	if (b64_decode(&dec, b64.p, b64.n) != 0) {
		buf_wipe_free(&dec);
		auth_log_failure(s, NULL, 0, "bad base64");
		/* RFC 4954 4: "If the client ... cannot be decoded ... the
		 * server ... MUST reject the AUTH command with a 501 reply." */
		sess_fail(s, 501, "5.5.2", "Cannot decode response");
		auth_finish(s);
		return;
	}
	auth_relay(s, dec.p ? dec.p : (const uint8_t *)"", dec.len, first);
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
	s->auth_m = m;
	if (arg.n == 0)
		auth_relay(s, NULL, 0, true);
	else
		/* RFC 4954 4: "=" is an initial response of zero length. */
		auth_relay_b64(s, arg, true);
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
	auth_relay_b64(s, line, false);
}

void
cmd_auth_answer(struct session *s, const struct auth_msg *m)
{
	if (m == NULL) {
		auth_log_failure(s, NULL, 0, "auth process unavailable");
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		auth_finish(s);
	} else if (m->type == AUTH_MSG_CONTINUE) {
		auth_challenge(s, &m->f[0]);
	} else if (m->type == AUTH_MSG_OK) {
		auth_success(s, &m->f[0]);
	} else {
		auth_failed(s, m);
	}
	if (s->state == ST_CMD || s->state == ST_AUTH)
		sess_resume(s);
}
