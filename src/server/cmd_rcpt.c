/* cmd_rcpt.c - RCPT TO (RFC 5321 4.1.1.3); policy.c decides relaying. */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

void
cmd_rcpt(struct session *s, struct span arg)
{
	char to[SMTP_PATH_MAX + 1];
	if (cmd_rcpt_check(s, arg, to) < 0)
		return;
	if (sess_txn_add_rcpt(s, to) < 0) {
		sess_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	sess_reply(s, 250, "2.1.5", "Ok");
}
