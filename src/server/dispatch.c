/* dispatch.c - the command table and the one place its gates apply
 * (STYLE.md 5).  Each command then checks its own arguments. */
#include "server/session.h"

#include <string.h>

enum {
	CMD_NEED_HELO = 1 << 0,	/* after EHLO/HELO (RFC 5321 4.1.4) */
	CMD_NEED_AUTH = 1 << 1,	/* submission: authenticated first (RFC 6409 4.3) */
	CMD_NEED_MAIL = 1 << 2,	/* inside a mail transaction */
	CMD_NO_TXN = 1 << 3,	/* not inside a mail transaction */
	CMD_NO_ARG = 1 << 4,	/* takes no argument */
	CMD_NEED_TLS = 1 << 5,	/* submission: after STARTTLS (submission_tls) */
};

struct cmd {
	const char *name;
	void (*run)(struct session *s, struct span arg);
	unsigned flags;
};

static const struct cmd cmds[] = {
	{ "EHLO", cmd_ehlo, 0 },
	{ "HELO", cmd_helo, 0 },
	/* No EHLO needed first: RFC 3207 does not ask for one, Postfix
	 * takes it, and clients such as `gsasl --starttls` send STARTTLS
	 * right after the greeting.  The handshake forgets any EHLO, so
	 * MAIL still needs one after it. */
	{ "STARTTLS", cmd_starttls, CMD_NO_ARG },
	/* RFC 4954 4: "The AUTH command is not permitted during a mail
	 * transaction." */
	{ "AUTH", cmd_auth, CMD_NO_TXN | CMD_NEED_TLS },
	{ "MAIL", cmd_mail, CMD_NEED_HELO | CMD_NEED_TLS | CMD_NEED_AUTH },
	{ "RCPT", cmd_rcpt, CMD_NEED_MAIL },
	{ "DATA", cmd_data, CMD_NEED_MAIL | CMD_NO_ARG },
	{ "RSET", cmd_rset, CMD_NO_ARG },
	{ "NOOP", cmd_noop, 0 },
	{ "QUIT", cmd_quit, CMD_NO_ARG },
	{ "VRFY", cmd_vrfy, 0 },
	{ "HELP", cmd_help, 0 },
};

/* The gates, in a fixed order; true when the command may run. */
static bool
gates_pass(struct session *s, const struct cmd *c, struct span arg)
{
	if ((c->flags & CMD_NEED_HELO) && s->helo == NULL) {
		sess_fail(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return false;
	}
	if ((c->flags & CMD_NO_TXN) && s->mail_from != NULL) {
		sess_fail(s, 503, "5.5.1", "Error: %s not permitted during a mail transaction",
			  c->name);
		return false;
	}
	if ((c->flags & CMD_NEED_TLS) && policy_needs_starttls(s)) {
		/* Postfix's wording for the same gate (RFC 3207 4). */
		sess_fail(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return false;
	}
	if ((c->flags & CMD_NEED_AUTH) && policy_auth_required(s) && s->auth_user == NULL) {
		/* RFC 4954 6: "530 5.7.0 Authentication required" */
		sess_fail(s, 530, "5.7.0", "Authentication required");
		return false;
	}
	if ((c->flags & CMD_NEED_MAIL) && s->mail_from == NULL) {
		sess_fail(s, 503, "5.5.1", "Error: need MAIL command");
		return false;
	}
	if ((c->flags & CMD_NO_ARG) && arg.n > 0) {
		sess_fail(s, 501, "5.5.4", "Syntax: %s", c->name);
		return false;
	}
	return true;
}

void
sess_dispatch(struct session *s, struct span line)
{
	struct span in = line, verb;
	if (span_word(&in, &verb, 16) < 0) {
		sess_fail(s, 500, "5.5.2", "Command unrecognized");
		return;
	}
	in = span_rtrim(in);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		/* Whole-token, case-insensitive (RFC 5321 2.4). */
		if (!span_ieq(verb, cmds[i].name))
			continue;
		if (gates_pass(s, &cmds[i], in))
			cmds[i].run(s, in);
		return;
	}
	sess_fail(s, 500, "5.5.2", "Command unrecognized");
}
