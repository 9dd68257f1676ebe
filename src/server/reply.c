/* reply.c - formatting SMTP replies into the session's output buffer.
 *
 * Only formatting and the error count live here: which reply to send is
 * the command's decision (no business logic keyed on reply digits).
 */
#include "server/session.h"

#include <inttypes.h>
#include <stdarg.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "util/log.h"

static void sess_vreply(struct session *s, int code, char sep, const char *enh, const char *fmt,
			va_list ap) __attribute__((format(printf, 5, 0)));

/* RFC 5321 4.5.3.1.5: "The maximum total length of a reply line
 * including the reply code and the <CRLF> is 512 octets."  Our texts
 * stay well under it; a longer one (a peer string in it) is cut. */
#define SESS_REPLY_LINE_MAX 512

/* One evbuffer_add per line: the replies of a pipelined group gather
 * in the output and go out in one write (one TLS record) at the end
 * of the loop pass. */
static void
sess_vreply(struct session *s, int code, char sep, const char *enh, const char *fmt, va_list ap)
{
	char line[SESS_REPLY_LINE_MAX];
	const size_t room = sizeof line - 2;	/* CRLF always fits */
	int n = enh != NULL ? snprintf(line, room, "%03d%c%s ", code, sep, enh)
			    : snprintf(line, room, "%03d%c", code, sep);
	size_t len = n > 0 ? (size_t)n : 0;
	if (len < room) {
		int m = vsnprintf(line + len, room - len, fmt, ap);
		if (m > 0)
			len += (size_t)m < room - len ? (size_t)m : room - len - 1;
	} else {
		len = room - 1;
	}
	line[len++] = '\r';
	line[len++] = '\n';
	evbuffer_add(bufferevent_get_output(s->bev), line, len);
}

void
sess_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sess_vreply(s, code, ' ', enh, fmt, ap);
	va_end(ap);
}

void
sess_reply_line(struct session *s, int code, bool last, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sess_vreply(s, code, last ? ' ' : '-', NULL, fmt, ap);
	va_end(ap);
}

void
sess_fail(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sess_vreply(s, code, ' ', enh, fmt, ap);
	va_end(ap);
	s->errors++;
	if (s->errors >= s->cfg->max_errors && s->state != ST_CLOSING) {
		log_info("session=%016" PRIx64 " too many errors client=%s errors=%u", s->id,
			 s->addr, s->errors);
		sess_reply(s, 421, "4.7.0", "%s Error: too many errors", s->cfg->hostname);
		sess_close(s);
	}
}
