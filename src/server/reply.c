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

static void
sess_vreply(struct session *s, int code, char sep, const char *enh, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (enh != NULL)
		evbuffer_add_printf(out, "%03d%c%s ", code, sep, enh);
	else
		evbuffer_add_printf(out, "%03d%c", code, sep);
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
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
