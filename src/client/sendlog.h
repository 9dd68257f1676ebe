/* sendlog.h - msmtp's `logfile` and `syslog`: one line per message that
 * `postern send` tried to send, in msmtp's format, so that scripts that
 * read msmtp logs keep working:
 *
 *   Dec 01 09:00:00 host=smtp.example.test tls=on auth=on user=alice
 *     from=alice@example.test recipients=bob@example.test,carol@example.test
 *     mailsize=321 exitcode=EX_OK                             (one line)
 *
 * On failure, mailsize is left out and "smtpstatus=550 smtpmsg='...'"
 * (when a server reply decided it) and "errormsg='...'" come before
 * exitcode.  Single quotes inside those values become '?' (msmtp's rule,
 * so that the quoting parses).  The syslog line is the same without the
 * time (LOG_INFO, or LOG_ERR on failure).
 */
#ifndef POSTERN_CLIENT_SENDLOG_H
#define POSTERN_CLIENT_SENDLOG_H

#include <stddef.h>
#include <stdint.h>

struct client_account;

struct client_send_outcome {
	const char *from;
	const char *const *rcpts;
	size_t nrcpts;
	size_t mailsize;	/* msmtp's count: a line end is one byte */
	int smtp_code;		/* the deciding server reply, 0: none */
	const char *smtp_msg;	/* its text, or NULL */
	const char *errmsg;	/* why it failed, or NULL */
	int exitcode;		/* sysexits.h; 0: EX_OK */
};

/* Writes the line to a's logfile ("-": stdout) and/or syslog, when the
 * account has them.  A log that cannot be written is reported on stderr
 * (as msmtp does) and does not change the outcome. */
void client_sendlog(const struct client_account *a, const struct client_send_outcome *o);

#endif
