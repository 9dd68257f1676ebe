/* cmd_data.c - DATA (RFC 5321 4.1.1.4): 354, the content through
 * smtp_data_feed() into the spool, then the group commit and 250.
 *
 * End of data is CRLF.CRLF only; a bare CR or LF anywhere makes the
 * reader flag the message, and we refuse all of it once the real end
 * arrives, so nothing smuggled behind a fake end ever runs as a command
 * (the 2023 SMTP smuggling attacks). */
#include "server/session.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "util/log.h"

/* Writes the buffered content to the spool file. */
static void
data_flush(struct session *s)
{
	if (s->dbuf.len > 0 && !s->spool_failed && spool_msg_write(s->msg, s->dbuf.p, s->dbuf.len) < 0) {
		log_err("session=%016" PRIx64 " spool write failed id=%s", s->id, s->queue_id);
		s->spool_failed = true;
	}
	data_from_capture(s, s->dbuf.p, s->dbuf.len);
	s->msg_size += s->dbuf.len;
	buf_reset(&s->dbuf);
}

void
cmd_data(struct session *s, struct span arg)
{
	const char *why = NULL;
	if (s->nrcpt == 0) {
		sess_fail(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	s->msg = spool_msg_new(s->srv->spool, s->queue_id, &why);
	if (s->msg == NULL) {
		log_err("session=%016" PRIx64 " cannot start a queue file: %s", s->id, why ? why : "?");
		sess_reply(s, 451, "4.3.0", "Error: queue file write error");
		return;
	}
	buf_init(&s->dbuf, SESS_DATA_CHUNK);
	if (received_format(s, time(NULL), &s->dbuf) < 0) {
		sess_txn_reset(s);
		sess_reply(s, 451, "4.3.0", "Error: cannot format the Received header");
		return;
	}
	data_flush(s);
	s->msg_size = 0;	/* the Received header is ours: not counted */
	data_from_begin(s);	/* after it: the From check reads the client's header */
	smtp_data_init(&s->data, s->cfg->max_message_size);
	sess_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	sess_set_state(s, ST_DATA);
}

/* The reply for content the reader refused; false when there is none. */
static bool
data_refuse(struct session *s)
{
	unsigned long line = 0;
	switch (smtp_data_error(&s->data, &line)) {
	case SMTP_DATA_OK:
		return false;
	case SMTP_DATA_BARE_LF:
		/* RFC 5321 2.3.8: lines end with CRLF, and a bare LF
		 * is how the smuggling attacks fake an end of data. */
		sess_fail(s, 554, "5.6.0", "Message refused: bare LF in line %lu", line);
		break;
	case SMTP_DATA_BARE_CR:
		sess_fail(s, 554, "5.6.0", "Message refused: bare CR in line %lu", line);
		break;
	case SMTP_DATA_LINE_TOO_LONG:
		/* RFC 5321 4.5.3.1.6: 1000 octets per line with CRLF. */
		sess_fail(s, 554, "5.6.0", "Message refused: line %lu longer than 998 octets", line);
		break;
	case SMTP_DATA_TOO_BIG:
		/* RFC 1870 6.3: 552 when the message exceeds the limit. */
		sess_fail(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		break;
	case SMTP_DATA_LOCAL:
		/* Our trouble (out of memory), not the client's: a 5xx
		 * would bounce good mail for good. */
		log_err("session=%016" PRIx64 " cannot buffer the message content id=%s", s->id,
			s->queue_id);
		sess_reply(s, 451, "4.3.0", "Error: local error in processing");
		break;
	}
	char safe[LOG_SAFE_MAX];
	log_info("session=%016" PRIx64 " message refused client=%s from=<%s> line=%lu", s->id,
		 s->addr, log_quote_str(safe, sizeof safe, s->mail_from), line);
	return true;
}

/* The reply for a message the spool could not take: 452 4.3.1 when
 * the disk is full (RFC 3463 "mail system full": the client keeps the
 * message and tries later), else 451 4.3.0. */
static void
data_reply_failed(struct session *s, const char *why)
{
	if (why == spool_err_full)
		sess_reply(s, 452, "4.3.1", "Error: insufficient system storage");
	else
		sess_reply(s, 451, "4.3.0", "Error: queue file write error");
}

/* End of data: refuse, or close the file and wait for the commit. */
static void
data_end(struct session *s)
{
	const char *why = NULL;
	sess_set_state(s, ST_CMD);
	if (data_refuse(s) || data_from_refuse(s)) {
		sess_txn_reset(s);
		return;
	}
	struct spool_envelope env = {
		.mail_from = s->mail_from, .auth_param = s->auth_param,
		.rcpts = (const char *const *)s->rcpts, .nrcpt = s->nrcpt,
		.body = s->body_8bit ? "8BITMIME" : "7BIT",
		.auth_user = s->auth_user, .auth_mech = s->auth_mech,
		.client_addr = s->addr, .helo = s->helo,
		.tls_version = s->tls ? s->tls_version : NULL,
		.tls_cipher = s->tls ? s->tls_cipher : NULL,
		.arrival = time(NULL),
	};
	/* after a failed write, close only says why (a full disk...) */
	if (spool_msg_close(s->msg, &env, &why) < 0 || s->spool_failed) {
		log_err("session=%016" PRIx64 " queue file id=%s not written: %s", s->id,
			s->queue_id, why ? why : "write error");
		sess_txn_reset(s);
		data_reply_failed(s, why);
		return;
	}
	buf_free(&s->dbuf);
	/* 250 only once the group commit has the file on disk. */
	sess_set_state(s, ST_COMMIT);
	server_commit_enqueue(s->srv, s);
}

static_assert(SESS_DATA_CHUNK >= SMTP_DATA_OUT_MIN, "the DATA reader must always make progress");

bool
cmd_data_feed(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		/* The reader takes only what fits in dbuf (a CR held back
		 * at the end of one record comes out with the next record's
		 * LF); data_flush() empties dbuf, so every pass consumes. */
		size_t used = 0;
		bool end = smtp_data_feed(&s->data, v.iov_base, v.iov_len, &used, &s->dbuf);
		evbuffer_drain(in, used);
		data_flush(s);
		if (end) {
			data_end(s);
			return true;
		}
	}
	return false;
}

void
cmd_data_committed(struct session *s, bool ok, const char *why)
{
	sess_set_state(s, ST_CMD);
	if (!ok) {
		log_err("session=%016" PRIx64 " queue commit failed id=%s: %s", s->id, s->queue_id,
			why ? why : "?");
		data_reply_failed(s, why);
	} else {
		char from[LOG_SAFE_MAX], user[LOG_SAFE_MAX], helo[LOG_SAFE_MAX];
		log_info("session=%016" PRIx64 " queued id=%s from=<%s> nrcpt=%zu size=%zu user=%s"
			 " mech=%s helo=%s", s->id, s->queue_id,
			 log_quote_str(from, sizeof from, s->mail_from), s->nrcpt, s->msg_size,
			 log_quote_str(user, sizeof user, s->auth_user),
			 s->auth_mech ? s->auth_mech : "-", log_quote_str(helo, sizeof helo, s->helo));
		s->nmsgs++;
		s->nrcpt_total += (unsigned)s->nrcpt;
		s->srv->count.messages++;
		sess_reply(s, 250, "2.0.0", "Ok: queued as %s", s->queue_id);
	}
	sess_txn_reset(s);
	if (!sess_shutdown_if_idle(s))
		sess_resume(s);
}
