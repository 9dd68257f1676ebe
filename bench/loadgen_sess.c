/* loadgen_sess.c - the scripted SMTP dialogue of one load generator session.
 *
 * Lockstep: one command, then its reply, whose code must be the one the
 * step expects (lg_step_code); anything else is an error of that step.
 * The SCRAM-SHA-256 client is postern's own (src/lib/sasl), so that S5
 * measures the server, with a client that verifies the server's proof.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sasl/sasl.h"
#include "util/b64.h"
#include "util/buf.h"

const char *const lg_step_name[ST__COUNT] = {
	"CONNECT", "HANDSHAKE", "GREETING", "EHLO", "STARTTLS", "AUTH",
	"MAIL", "RCPT", "DATA", "BODY", "QUIT", "IDLE", "CLOSED",
};
_Static_assert(sizeof lg_step_name / sizeof *lg_step_name == ST__COUNT, "lg_step_name");

/* The only reply code each step accepts (AUTH also takes 334 while the
 * mechanism has more to say). */
static const int lg_step_code[ST__COUNT] = {
	[ST_GREET] = 220, [ST_EHLO] = 250, [ST_STARTTLS] = 220, [ST_AUTH] = 235,
	[ST_MAIL] = 250, [ST_RCPT] = 250, [ST_DATA] = 354, [ST_BODY] = 250,
	[ST_QUIT] = 221,
};

static void sess_next_connection(struct lg_sess *s);

static bool
accepting_work(struct lg_sess *s, uint64_t now)
{
	const struct lg_opts *o = s->loop->o;
	if (now >= s->loop->stop_at)
		return false;
	return o->count == 0 || atomic_fetch_add(&lg_started, 1) < o->count;
}

/* Records the first error text (printable ASCII only: it goes into JSON). */
void
lg_sess_fail(struct lg_sess *s, const char *fmt, ...)
{
	struct lg_stats *st = &s->loop->st;
	st->errors++;
	st->errors_at[s->step]++;
	if (st->first_error[0] == '\0') {
		char msg[sizeof st->first_error];
		va_list ap;
		va_start(ap, fmt);
		(void)vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		int n = snprintf(st->first_error, sizeof st->first_error, "%s: %s",
				 lg_step_name[s->step], msg);
		for (int i = 0; i < n && st->first_error[i]; i++) {
			char c = st->first_error[i];
			if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
				st->first_error[i] = '?';
		}
	}
	bool at_connect = s->step == ST_CONNECT;
	lg_io_close(s);
	sasl_sess_free(&s->sasl);
	/* a failed session starts over, so the offered load stays the same;
	 * after a failed connect only at the next sweep (no tight loop) */
	if (s->loop->o->mode != LG_IDLE) {
		if (at_connect) {
			s->step = ST_CLOSED;
			s->retry = true;
		} else
			sess_next_connection(s);
	} else {
		s->step = ST_CLOSED;
		s->loop->open--;
		if (!s->counted_est)
			s->loop->connecting--;
	}
}

/* Queues one command line and starts writing it. */
static void
sess_cmd(struct lg_sess *s, enum lg_step next, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
sess_cmd(struct lg_sess *s, enum lg_step next, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->cmd, sizeof s->cmd - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof s->cmd - 2) {
		lg_sess_fail(s, "command too long");
		return;
	}
	memcpy(s->cmd + n, "\r\n", 2);
	s->step = next;
	s->wp = s->cmd;
	s->wlen = (size_t)n + 2;
	s->deadline = lg_now_ns() + (uint64_t)(s->loop->o->reply_timeout * 1e9);
	(void)lg_io_flush(s);
}

static void
sess_quit(struct lg_sess *s)
{
	sess_cmd(s, ST_QUIT, "QUIT");
}

static void
sess_mail(struct lg_sess *s)
{
	uint64_t now = lg_now_ns();
	if (!accepting_work(s, now)) {
		sess_quit(s);
		return;
	}
	s->t_start = now;
	sess_cmd(s, ST_MAIL, "MAIL FROM:<%s>", s->loop->o->from);
}

/* AUTH PLAIN with an initial response, or the first SCRAM message. */
static void
sess_auth(struct lg_sess *s)
{
	const struct lg_opts *o = s->loop->o;
	struct buf raw, enc;
	buf_init(&raw, SASL_MSG_MAX);
	buf_init(&enc, sizeof s->cmd - 64);
	const char *mech = "PLAIN";
	int rc = 0;
	if (o->auth == LG_AUTH_PLAIN) {
		rc |= buf_addch(&raw, 0);
		rc |= buf_addstr(&raw, o->user);
		rc |= buf_addch(&raw, 0);
		rc |= buf_addstr(&raw, o->password);
	} else {
		mech = "SCRAM-SHA-256";
		const struct sasl_mech *m = sasl_mech_find(mech, strlen(mech));
		struct sasl_client_params p = { .authcid = o->user, .password = o->password };
		const char *why = NULL;
		s->scram_done = false;
		s->sasl = m ? sasl_client_new(m, &p) : NULL;
		if (s->sasl == NULL || sasl_step(s->sasl, NULL, 0, &raw, &why) != SASL_MORE)
			rc = -1;
	}
	if (rc == 0)
		rc = b64_encode(&enc, raw.p ? raw.p : (const uint8_t *)"", raw.len);
	buf_wipe_free(&raw);
	s->t_start = lg_now_ns();
	if (rc != 0)
		lg_sess_fail(s, "cannot build the AUTH %s line", mech);
	else
		sess_cmd(s, ST_AUTH, "AUTH %s %s", mech, buf_cstr(&enc));
	buf_wipe_free(&enc);
}

/* A 334 during SCRAM: the server's message, answered by the library. */
static void
sess_auth_more(struct lg_sess *s, const char *text, size_t len)
{
	struct buf dec, out, enc;
	const char *why = "no SCRAM session";
	if (s->sasl == NULL || s->scram_done) {
		lg_sess_fail(s, "334 after the exchange ended");
		return;
	}
	buf_init(&dec, SASL_MSG_MAX);
	buf_init(&out, SASL_MSG_MAX);
	buf_init(&enc, sizeof s->cmd - 8);
	enum sasl_rc rc = SASL_FAIL;
	if (b64_decode(&dec, text, len) == 0)
		rc = sasl_step(s->sasl, dec.p ? dec.p : (const uint8_t *)"", dec.len, &out, &why);
	if (rc == SASL_DONE)
		s->scram_done = true;	/* server proof verified; answer empty */
	if ((rc == SASL_DONE || rc == SASL_MORE) &&
	    b64_encode(&enc, out.p ? out.p : (const uint8_t *)"", out.len) == 0)
		sess_cmd(s, ST_AUTH, "%s", buf_cstr(&enc));
	else
		lg_sess_fail(s, "SCRAM step refused the server's message: %s", why ? why : "?");
	buf_free(&dec);
	buf_wipe_free(&out);
	buf_wipe_free(&enc);
}

static void
sess_authenticated(struct lg_sess *s)
{
	struct lg_loop *l = s->loop;
	if (s->sasl && !s->scram_done) {
		lg_sess_fail(s, "235 before the server proved it knows the password");
		return;
	}
	sasl_sess_free(&s->sasl);
	l->st.logins++;
	lg_hist_add(&l->st.login, (lg_now_ns() - s->t_start) / 1000);
	if (l->o->mode == LG_LOGIN)
		sess_quit(s);
	else if (l->o->mode == LG_IDLE) {
		s->step = ST_IDLE;
		s->counted_est = true;
		l->st.established++;
		l->connecting--;
	} else
		sess_mail(s);
}

static void
sess_after_ehlo(struct lg_sess *s)
{
	const struct lg_opts *o = s->loop->o;
	if (o->tls == LG_TLS_STARTTLS && !s->tls_on)
		sess_cmd(s, ST_STARTTLS, "STARTTLS");
	else if (o->auth != LG_AUTH_NONE)
		sess_auth(s);
	else if (o->mode == LG_IDLE) {
		s->step = ST_IDLE;
		s->counted_est = true;
		s->loop->st.established++;
		s->loop->connecting--;
	} else
		sess_mail(s);
}

static void
sess_message_done(struct lg_sess *s)
{
	struct lg_loop *l = s->loop;
	l->st.messages++;
	lg_hist_add(&l->st.msg, (lg_now_ns() - s->t_start) / 1000);
	if (++s->msgs_in_conn < l->o->per_conn)
		sess_mail(s);
	else
		sess_quit(s);
}

/* Acts on one complete reply; code is its (consistent) code, last its
 * final line without the code. */
static void
sess_reply(struct lg_sess *s, int code, const char *last, size_t lastlen)
{
	const struct lg_opts *o = s->loop->o;
	if (s->step == ST_AUTH && code == 334) {
		sess_auth_more(s, last, lastlen);
		return;
	}
	if (s->step == ST_IDLE || code != lg_step_code[s->step]) {
		lg_sess_fail(s, "unexpected reply %d %.*s", code, (int)(lastlen > 80 ? 80 : lastlen),
			     last);
		return;
	}
	switch (s->step) {
	case ST_GREET:
		sess_cmd(s, ST_EHLO, "EHLO loadgen.bench.test");
		break;
	case ST_EHLO:
		sess_after_ehlo(s);
		break;
	case ST_STARTTLS:
		if (s->inlen != 0) {
			lg_sess_fail(s, "data after the 220 to STARTTLS");
			break;
		}
		s->step = ST_HANDSHAKE;
		lg_sess_event(s, EPOLLOUT);
		break;
	case ST_AUTH:
		sess_authenticated(s);
		break;
	case ST_MAIL:
		sess_cmd(s, ST_RCPT, "RCPT TO:<%s>", o->rcpt);
		break;
	case ST_RCPT:
		sess_cmd(s, ST_DATA, "DATA");
		break;
	case ST_DATA:
		s->step = ST_BODY;
		s->wp = o->message;
		s->wlen = o->message_len;
		(void)lg_io_flush(s);
		break;
	case ST_BODY:
		sess_message_done(s);
		break;
	case ST_QUIT:
		s->loop->st.sessions++;
		lg_io_close(s);
		sess_next_connection(s);
		break;
	default:
		lg_sess_fail(s, "reply in a step that expects none");
	}
}

/* Takes every complete reply out of s->in.  A reply is lines "DDD-text"
 * ending with "DDD text"; all its lines must carry the same code. */
static void
sess_parse(struct lg_sess *s)
{
	size_t start = 0;
	int code = -1;
	for (;;) {
		char *nl = memchr(s->in + start, '\n', s->inlen - start);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (s->in + start));
		const char *l = s->in + start;
		if (len < 4 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
		    l[2] < '0' || l[2] > '9' || (l[3] != ' ' && l[3] != '-' && l[3] != '\r')) {
			lg_sess_fail(s, "malformed reply line");
			return;
		}
		int c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (code >= 0 && c != code) {
			lg_sess_fail(s, "reply lines with codes %d and %d", code, c);
			return;
		}
		code = c;
		start += len + 1;
		if (l[3] == '-')
			continue;
		char last[sizeof s->in];
		size_t lastlen = len > 4 ? len - 4 : 0;
		if (lastlen && l[4 + lastlen - 1] == '\r')
			lastlen--;
		memcpy(last, l + 4, lastlen);
		last[lastlen] = '\0';
		memmove(s->in, s->in + start, s->inlen - start);
		s->inlen -= start;
		start = 0;
		code = -1;
		sess_reply(s, c, last, lastlen);
		/* lockstep: anything left is unsolicited, and the next round
		 * checks it against the new step (an error unless it fits) */
		if (s->fd < 0 || s->inlen == 0 || s->step == ST_HANDSHAKE)
			return;
	}
}

/* Opens the session's next connection, or retires the session. */
static void
sess_next_connection(struct lg_sess *s)
{
	struct lg_loop *l = s->loop;
	s->msgs_in_conn = 0;
	s->counted_est = false;
	if (lg_now_ns() >= l->stop_at || (l->o->count && atomic_load(&lg_started) >= l->o->count)) {
		s->step = ST_CLOSED;
		l->open--;
		return;
	}
	lg_sess_start(s);
}

void
lg_sess_start(struct lg_sess *s)
{
	s->step = ST_CONNECT;
	s->deadline = lg_now_ns() + (uint64_t)(s->loop->o->reply_timeout * 1e9);
	(void)lg_io_connect(s);
}

static void
sess_connected(struct lg_sess *s)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		lg_sess_fail(s, "connect: %s", strerror(err ? err : EIO));
		return;
	}
	s->step = s->loop->o->tls == LG_TLS_IMPLICIT ? ST_HANDSHAKE : ST_GREET;
	if (s->step == ST_HANDSHAKE)
		lg_sess_event(s, EPOLLOUT);
	else
		lg_io_want(s, EPOLLIN);
}

static void
sess_handshake(struct lg_sess *s)
{
	if (lg_io_handshake(s) <= 0)
		return;
	if (s->loop->o->tls == LG_TLS_IMPLICIT) {
		s->step = ST_GREET;	/* the greeting comes over TLS */
		s->deadline = lg_now_ns() + (uint64_t)(s->loop->o->reply_timeout * 1e9);
		lg_io_want(s, EPOLLIN);
	} else	/* after STARTTLS: EHLO again (RFC 3207: forget what was learnt) */
		sess_cmd(s, ST_EHLO, "EHLO loadgen.bench.test");
}

/* Dispatches an epoll event for s. */
void
lg_sess_event(struct lg_sess *s, uint32_t events)
{
	if (s->step == ST_CONNECT) {
		sess_connected(s);
		return;
	}
	if (s->step == ST_HANDSHAKE) {
		sess_handshake(s);
		return;
	}
	if (s->wlen > 0 && lg_io_flush(s) <= 0)
		return;
	for (;;) {
		int r = lg_io_read(s);
		if (r < 0) {
			if (s->fd >= 0)
				lg_sess_fail(s, "connection closed by the server");
			return;
		}
		if (r == 0)
			return;
		sess_parse(s);
		/* a new connection (after QUIT) waits for its own events */
		if (s->fd < 0 || s->step == ST_CONNECT || s->step == ST_HANDSHAKE || s->wlen > 0)
			return;
	}
}

void
lg_sess_check_timeout(struct lg_sess *s, uint64_t now)
{
	if (s->retry && s->step == ST_CLOSED) {
		s->retry = false;
		sess_next_connection(s);
		return;
	}
	if (s->fd >= 0 && s->step != ST_IDLE && now > s->deadline)
		lg_sess_fail(s, "no reply within %.0f s", s->loop->o->reply_timeout);
}
