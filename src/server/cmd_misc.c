/* cmd_misc.c - RSET, NOOP, QUIT, VRFY, HELP (RFC 5321 4.1.1.5-4.1.1.10). */
#include "server/session.h"

void
cmd_rset(struct session *s, struct span arg)
{
	/* RFC 5321 4.1.1.5: "any stored sender, recipients, and mail data
	 * MUST be discarded"; the EHLO state stays. */
	sess_txn_reset(s);
	sess_reply(s, 250, "2.0.0", "Ok");
}

void
cmd_noop(struct session *s, struct span arg)
{
	sess_reply(s, 250, "2.0.0", "Ok");
}

void
cmd_quit(struct session *s, struct span arg)
{
	sess_reply(s, 221, "2.0.0", "Bye");
	sess_close(s);
}

void
cmd_vrfy(struct session *s, struct span arg)
{
	if (arg.n == 0) {
		sess_fail(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: 252 when we will not verify but will try to
	 * deliver; telling who exists would help address harvesting. */
	sess_reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void
cmd_help(struct session *s, struct span arg)
{
	sess_reply(s, 214, "2.0.0", "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}
