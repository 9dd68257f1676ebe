/* received.c - the Received: header prepended to every accepted message
 * (RFC 5321 4.4, with the RFC 3848 protocol keywords).
 *
 * Decision: the authenticated user name is NOT written into the header.
 * Recipients see every Received line, and a login name is something an
 * attacker wants; like Postfix (smtpd_sasl_authenticated_header = no)
 * we keep it in the spool envelope and the log, and the header says
 * only that the client authenticated (the "A" in ESMTPSA).
 */
#include "server/session.h"

#include <string.h>
#include <time.h>

/* RFC 3848: ESMTP + "S" for TLS + "A" for SMTP AUTH; HELO gives SMTP. */
static const char *
received_protocol(const struct session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->tls)
		return s->auth_user ? "ESMTPSA" : "ESMTPS";
	return s->auth_user ? "ESMTPA" : "ESMTP";
}

int
received_format(const struct session *s, time_t now, struct buf *out)
{
	char date[64];
	struct tm tm;
	/* RFC 5322 3.3 date-time, e.g. "Wed, 25 Nov 2026 08:15:02 +0100";
	 * the C locale gives the English names it requires. */
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	/* RFC 5321 4.1.3: an IPv6 address literal is "[IPv6:...]". */
	bool v6 = strchr(s->ip, ':') != NULL;
	int rc = buf_printf(out, "Received: from %s (%s%s%s)\r\n", s->helo, v6 ? "[IPv6:" : "[",
			    s->ip, "]");
	if (rc == 0 && s->tls)
		rc = buf_printf(out, "\t(using %s with cipher %s)\r\n", s->tls_version,
				s->tls_cipher);
	if (rc == 0)
		rc = buf_printf(out, "\tby %s (postern) with %s id %s", s->cfg->hostname,
				received_protocol(s), s->queue_id);
	/* One recipient only: naming all of them would tell each recipient
	 * who else got the message (Bcc). */
	if (rc == 0 && s->nrcpt == 1)
		rc = buf_printf(out, "\r\n\tfor <%s>", s->rcpts[0]);
	if (rc == 0)
		rc = buf_printf(out, "; %s\r\n", date);
	return rc == 0 ? 0 : -1;
}
