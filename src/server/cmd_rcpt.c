/* cmd_rcpt.c - RCPT TO (RFC 5321 4.1.1.3); policy.c decides relaying.
 *
 * A recipient in local_domains is checked before 250 (issue 14 item 3):
 * accepting every local part turns into bounces to forged senders
 * (backscatter) once mail is delivered.  The auth process knows the
 * users, the local_recipients map and the LMTP server (src/auth/
 * auth_rcpt.c); the session asks it and stops reading until the answer
 * is in, so pipelined commands behind the RCPT wait in the input buffer
 * and their replies come in order (RFC 2920). */
#include "server/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/auth_proto.h"
#include "smtp/addr.h"
#include "util/log.h"

static int
cmd_rcpt_check(struct session *s, struct span arg, char to[SMTP_PATH_MAX + 1])
{
	if (!span_istarts(arg, "TO:")) {
		sess_fail(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return -1;
	}
	span_skip(&arg, 3);
	struct span params, key, val;
	const char *why = NULL;
	if (smtp_path_parse(arg, false, to, &params, &why) != SMTP_ADDR_OK) {
		sess_fail(s, 501, "5.1.3", "Bad recipient address syntax (%s)", why ? why : "syntax");
		return -1;
	}
	/* No DSN (RFC 3461) yet, so RCPT takes no parameters. */
	if (smtp_param_next(&params, &key, &val) != 0) {
		sess_fail(s, 555, "5.5.4", "Unsupported RCPT TO parameter");
		return -1;
	}
	/* RFC 5321 4.5.3.1.10: "452 Too many recipients" is the way to
	 * say it; the client sends the rest in another transaction. */
	if (s->nrcpt >= s->cfg->max_recipients) {
		sess_reply(s, 452, "4.5.3", "Error: too many recipients");
		return -1;
	}
	if (policy_rcpt(s, to) < 0) {
		char safe[LOG_SAFE_MAX];
		log_info("session=%016" PRIx64 " relay denied client=%s rcpt=<%s>", s->id, s->addr,
			 log_quote_str(safe, sizeof safe, to));
		sess_fail(s, 554, "5.7.1", "<%s>: Relay access denied",
			  log_safe(safe, sizeof safe, to, strlen(to)));
		return -1;
	}
	return 0;
}

/* Adds the recipient and says 250. */
static void
cmd_rcpt_run(struct session *s, const char *to)
{
	if (sess_txn_add_rcpt(s, to) < 0) {
		sess_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	sess_reply(s, 250, "2.1.5", "Ok");
}

void
cmd_rcpt(struct session *s, struct span arg)
{
	char to[SMTP_PATH_MAX + 1];
	if (cmd_rcpt_check(s, arg, to) < 0)
		return;
	if (!policy_rcpt_verify(s, to)) {
		cmd_rcpt_run(s, to);
		return;
	}
	char *copy = strdup(to);
	if (copy == NULL || authc_rcpt(s, to) < 0) {
		free(copy);
		char safe[LOG_SAFE_MAX];
		log_warn("session=%016" PRIx64 " rcpt=<%s> cannot be checked: no auth process", s->id,
			 log_quote_str(safe, sizeof safe, to));
		sess_reply(s, 451, "4.3.0", "<%s>: Recipient check temporarily unavailable",
			   log_safe(safe, sizeof safe, to, strlen(to)));
		return;
	}
	s->rcpt_wait = copy;
	sess_set_state(s, ST_RCPT_WAIT);
}

/* The reply to a checked recipient: 250, 550 5.1.1 or 4xx. */
static void
cmd_rcpt_verdict(struct session *s, const struct auth_msg *m)
{
	const char *to = s->rcpt_wait;
	char safe[LOG_SAFE_MAX], why[LOG_SAFE_MAX];
	log_safe(safe, sizeof safe, to, strlen(to));
	enum auth_rcpt_verdict v = m != NULL ? (enum auth_rcpt_verdict)m->f[0].p[0] : AUTH_RCPT_TEMP;
	if (m != NULL)
		log_safe(why, sizeof why, (const char *)m->f[1].p, m->f[1].n);
	else
		(void)snprintf(why, sizeof why, "auth process unavailable");
	if (v == AUTH_RCPT_KNOWN) {
		log_debug("session=%016" PRIx64 " rcpt=<%s> known: %s", s->id, safe, why);
		cmd_rcpt_run(s, to);
		return;
	}
	log_info("session=%016" PRIx64 " rcpt %s client=%s rcpt=<%s> why=\"%s\"", s->id,
		 v == AUTH_RCPT_UNKNOWN ? "unknown" : "unverified", s->addr, safe, why);
	if (v == AUTH_RCPT_UNKNOWN)
		/* RFC 3463 3.2: X.1.1 "Bad destination mailbox address". */
		sess_fail(s, 550, "5.1.1", "<%s>: Recipient address rejected: User unknown", safe);
	else if (m == NULL)
		sess_reply(s, 451, "4.3.0", "<%s>: Recipient check temporarily unavailable", safe);
	else
		sess_reply(s, 450, "4.1.1", "<%s>: Recipient address rejected: cannot verify it now",
			   safe);
}

void
cmd_rcpt_answer(struct session *s, const struct auth_msg *m)
{
	if (s->rcpt_wait == NULL)
		return;
	sess_set_state(s, ST_CMD);
	cmd_rcpt_verdict(s, m);
	free(s->rcpt_wait);
	s->rcpt_wait = NULL;
	if (s->state == ST_CMD)
		sess_resume(s);
}
