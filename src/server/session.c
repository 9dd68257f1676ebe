/* session.c - a connection's life: accept, read, state, close, free. */
#include "server/session.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "util/log.h"

/* Which of the session's timeouts (read and write alike) a state runs
 * under.  RFC 5321 4.5.3.2 gives a server one per phase. */
enum sess_timeout {
	TO_KEEP,	/* the previous state's stays: the last reply gets the time the client had */
	TO_HANDSHAKE,	/* tls_handshake_timeout */
	TO_COMMAND,	/* command_timeout */
	TO_DATA,	/* data_timeout */
};

/* One row per state, applied by sess_set_state() alone.  reads: the
 * socket is read in that state unless something else paused it (the
 * output backpressure, out_blocked, wins).  Only ST_CMD, ST_AUTH and
 * ST_DATA take commands from the input (sess_process); the waiting
 * states (auth-wait, commit, rcpt-wait) read on, so that a pipelined
 * next command waits in the input, bounded by its high watermark,
 * rather than reading being switched off and on again around every
 * wait (two epoll_ctl calls per message).  While reading is off the
 * read timeout does not run; the write timeout always does. */
static const struct sess_state_def {
	const char *name;
	bool reads;
	enum sess_timeout timeout;
} sess_states[] = {
	[ST_STARTTLS] = { "starttls", false, TO_KEEP },
	[ST_HANDSHAKE] = { "handshake", true, TO_HANDSHAKE },
	[ST_CMD] = { "command", true, TO_COMMAND },
	[ST_AUTH] = { "auth", true, TO_COMMAND },
	[ST_AUTH_WAIT] = { "auth-wait", true, TO_COMMAND },
	[ST_DATA] = { "data", true, TO_DATA },
	[ST_COMMIT] = { "commit", true, TO_COMMAND },
	[ST_RCPT_WAIT] = { "rcpt-wait", true, TO_COMMAND },
	[ST_CLOSING] = { "closing", false, TO_KEEP },
};
static_assert(sizeof sess_states / sizeof *sess_states == ST__COUNT, "sess_states");

static const char *
state_name(enum sess_state st)
{
	return sess_states[st].name;
}

/* Sets the read and write timeouts of s->bev to secs.  Setting them
 * restarts the timers that run. */
static void
sess_set_timeout(struct session *s, unsigned secs)
{
	struct timeval tv = { .tv_sec = secs, .tv_usec = 0 };
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under != NULL) {
		/* tls_bev.c's filter: it reads whole records (its read
		 * timeout), the socket under it writes (its write timeout
		 * runs while bytes wait, as a socket bufferevent's does). */
		bufferevent_set_timeouts(s->bev, &tv, NULL);
		bufferevent_set_timeouts(under, NULL, &tv);
		return;
	}
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static unsigned
sess_timeout_secs(const struct session *s, enum sess_timeout t)
{
	switch (t) {
	case TO_HANDSHAKE:
		return s->cfg->tls_handshake_timeout;
	case TO_DATA:
		return s->cfg->data_timeout;
	case TO_KEEP:
	case TO_COMMAND:
		break;
	}
	return s->cfg->command_timeout;
}

/* Reading on or off as s's state and the backpressure say.  Only a
 * change is applied: enabling a bufferevent that reads already would
 * restart its read timeout. */
static void
sess_apply_reading(struct session *s)
{
	bool want = sess_states[s->state].reads && !s->out_blocked;
	bool on = (bufferevent_get_enabled(s->bev) & EV_READ) != 0;
	if (want && !on) {
		bufferevent_enable(s->bev, EV_READ);
		sess_input_release(s);
		tls_bev_pull(s);
	} else if (!want && on)
		bufferevent_disable(s->bev, EV_READ);
}

/* Applies s's row to s->bev: its timeout (restarting the timers) unless
 * TO_KEEP, and reading. */
static void
sess_apply_state(struct session *s)
{
	enum sess_timeout t = sess_states[s->state].timeout;
	if (t != TO_KEEP)
		sess_set_timeout(s, sess_timeout_secs(s, t));
	sess_apply_reading(s);
}

void
sess_set_state(struct session *s, enum sess_state to)
{
	log_debug("session=%016" PRIx64 " %s -> %s", s->id, state_name(s->state), state_name(to));
	enum sess_timeout was = sess_states[s->state].timeout;
	s->state = to;
	/* The same timeout goes on running: a command does not restart
	 * the clock of a client that is slow to read its replies. */
	enum sess_timeout t = sess_states[to].timeout;
	if (t != TO_KEEP && t != was)
		sess_set_timeout(s, sess_timeout_secs(s, t));
	sess_apply_reading(s);
}

/* Finds the next line in the input.  Returns its length including the
 * LF, 0 when no full line is buffered yet, or -1 when the line is over
 * its cap (the caller replies; the rest of the line is skipped). */
static long
sess_next_line(struct session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	size_t len = p.pos < 0 ? avail : (size_t)p.pos + 1;
	size_t cap = SESS_CMD_LINE_MAX;
	if (s->state == ST_AUTH)
		cap = SESS_AUTH_LINE_MAX;
	else if (avail >= 5) {
		char head[5];
		evbuffer_copyout(in, head, sizeof head);
		if (span_ieq((struct span){ head, 5 }, "AUTH "))
			cap = SESS_AUTH_LINE_MAX;
	}
	if (len > cap)
		return -1;
	return p.pos < 0 ? 0 : (long)len;
}

/* Skips input up to and including the next LF.  True when found. */
static bool
sess_skip_line(struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)p.pos + 1);
	return true;
}

/* Handles one command or AUTH response line.  Returns false when no
 * full line is buffered. */
static bool
sess_one_line(struct session *s, struct evbuffer *in)
{
	char line[SESS_AUTH_LINE_MAX];
	if (s->discard_line) {
		if (!sess_skip_line(in))
			return false;
		s->discard_line = false;
	}
	long n = sess_next_line(s, in);
	if (n == 0)
		return false;
	if (n < 0) {
		/* RFC 4954 section 4 names the code for AUTH lines; we use
		 * the same for every overlong line. */
		s->discard_line = !sess_skip_line(in);
		sess_fail(s, 500, "5.5.6", "Line too long");
		if (s->state == ST_AUTH) {
			authc_cancel(s);
			s->auth_m = NULL;
			sess_set_state(s, ST_CMD);
		}
		return true;
	}
	evbuffer_remove(in, line, (size_t)n);
	struct span sp = { line, (size_t)n - 1 };
	if (sp.n > 0 && sp.p[sp.n - 1] == '\r')
		sp.n--;
	if (s->state == ST_AUTH)
		cmd_auth_response(s, sp);
	else
		sess_dispatch(s, sp);
	/* AUTH lines carry credentials: do not leave them on the stack. */
	OPENSSL_cleanse(line, (size_t)n);
	return true;
}

/* Replies not yet handed to the kernel: with tls_bev.c's filter also
 * the records under it. */
static size_t
sess_output_pending(const struct session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	struct evbuffer *wire = tls_bev_wire_output(s);
	return wire != bufferevent_get_output(s->bev) ? n + evbuffer_get_length(wire) : n;
}

/* Runs inside libevent's write path each time an output buffer of a
 * blocked session changes.  It only notes that the output drained: the
 * session goes on from its own event (sess_output_drained), outside
 * that write.  An evbuffer callback rather than the write callback,
 * which libevent calls only once the output is empty. */
static void
sess_output_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct session *s = arg;
	if (info->n_deleted > 0 && sess_output_pending(s) <= SESS_OUTPUT_LOW)
		event_active(s->out_ev, 0, 0);
}

/* Ends the watch of a blocked session's output buffer (no-op when not
 * blocked).  Never inside sess_output_changed(); before s->bev is
 * freed. */
static void
sess_output_unwatch(struct session *s)
{
	if (!s->out_blocked)
		return;
	s->out_blocked = false;
	if (s->out_watch != NULL)
		evbuffer_remove_cb_entry(tls_bev_wire_output(s), s->out_watch);
	s->out_watch = NULL;
}

static void
sess_output_drained(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	sess_output_unwatch(s);
	if (!s->dead)
		sess_resume(s);	/* which takes the commands that waited */
}

/* Watches the output buffer of s and marks it blocked.  False when out
 * of memory: then nothing is watched. */
static bool
sess_output_watch(struct session *s)
{
	if (s->out_ev == NULL)
		s->out_ev = event_new(s->srv->base, -1, 0, sess_output_drained, s);
	if (s->out_ev == NULL)
		return false;
	s->out_watch = evbuffer_add_cb(tls_bev_wire_output(s), sess_output_changed, s);
	s->out_blocked = s->out_watch != NULL;
	return s->out_blocked;
}

/* Backpressure: true when s has more replies waiting than
 * SESS_OUTPUT_MAX; it then stops reading (pipelined commands stay in
 * the input buffer, in order) until the output drained to
 * SESS_OUTPUT_LOW.  A client that never reads meets the write timeout. */
static bool
sess_output_full(struct session *s)
{
	if (s->out_blocked)
		return true;
	size_t pending = sess_output_pending(s);
	if (pending <= SESS_OUTPUT_MAX)
		return false;
	if (!sess_output_watch(s)) {
		/* Buffering on without a cap is what this prevents. */
		log_err("session=%016" PRIx64 " out of memory pausing a full output client=%s",
			s->id, s->addr);
		sess_close(s);
		return true;
	}
	log_debug("session=%016" PRIx64 " output full pending=%zu: reading paused", s->id,
		  pending);
	bufferevent_disable(s->bev, EV_READ);
	return true;
}

/* Processes every complete line in the input buffer, in order
 * (RFC 2920 pipelining), until the session stops reading. */
static void
sess_process(struct session *s)
{
	while (s->state == ST_CMD || s->state == ST_AUTH || s->state == ST_DATA) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		if (sess_output_full(s))
			break;
		if (s->state == ST_DATA) {
			if (!cmd_data_feed(s))
				break;
			continue;
		}
		if (s->state == ST_CMD && sess_shutdown_if_idle(s))
			break;
		if (!sess_one_line(s, in))
			break;
	}
}

static void sess_write_cb(struct bufferevent *bev, void *arg);
static void sess_event_cb(struct bufferevent *bev, short what, void *arg);

static void
sess_read_cb(struct bufferevent *bev, void *arg)
{
	sess_process(arg);
}

/* The last reply is out of s->bev (in the socket): the reaper frees s,
 * outside every libevent callback. */
static void
sess_flushed(struct session *s)
{
	server_bury(s->srv, s);
}

/* The 220 to STARTTLS is written (and every reply before it): TLS
 * takes the socket itself, with no plain bufferevent under it.  RFC
 * 3207 4.2: the negotiation starts right after that reply; reading
 * was off since, so the client's first TLS bytes wait in the socket.
 * A TLS bufferevent on the socket, rather than a filter over the plain
 * one: a filter makes a TLS record of every evbuffer_add (a record per
 * reply, not per pipelined group) and copies every byte once more, and
 * an idle session would keep the plain bufferevent and its buffers (1
 * KB).  libevent holds a reference on bev while this callback runs, so
 * freeing it here is safe. */
static void
sess_starttls_written(struct session *s)
{
	sess_output_unwatch(s);
	sess_out_detach(s);
	evutil_socket_t fd = bufferevent_getfd(s->bev);
	bufferevent_setfd(s->bev, -1);	/* freed without closing fd */
	bufferevent_free(s->bev);
	s->bev = NULL;
	if (tls_start(s, fd) < 0)
		server_bury(s->srv, s);
}

void
sess_out_flushed(struct session *s)
{
	if (s->state == ST_CLOSING && sess_output_pending(s) == 0)
		sess_flushed(s);
	else if (s->state == ST_STARTTLS)
		sess_starttls_written(s);
}

static void
sess_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	sess_out_drained(s);
	sess_out_flushed(s);
}

static void
sess_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		tls_done(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
		/* The client stopped reading: a 421 would not reach it, and
		 * libevent has stopped writing (no write callback will come).
		 * Free the session now, or it holds its fd and its
		 * connection slot for good. */
		log_info("session=%016" PRIx64 " write timeout client=%s state=%s pending=%zu",
			 s->id, s->addr, state_name(s->state), sess_output_pending(s));
		server_bury(s->srv, s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && s->state != ST_CLOSING && s->state != ST_HANDSHAKE &&
	    s->state != ST_STARTTLS) {
		/* RFC 5321 4.5.3.2: the server may close after its timeout;
		 * 421 tells the client why. */
		log_info("session=%016" PRIx64 " timeout client=%s state=%s", s->id, s->addr,
			 state_name(s->state));
		sess_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->cfg->hostname);
		sess_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		log_debug("session=%016" PRIx64 " connection error state=%s", s->id,
			  state_name(s->state));
	server_bury(s->srv, s);
}

/* bufferevent_openssl reserves room in its input buffer before each
 * SSL_read (4 KiB without a read watermark, 16 KiB with one, in a
 * chain of twice that), also when reading is switched on and nothing
 * has come; the empty chain then stays for as long as the session
 * idles: 8-32 KiB per idle TLS session, where the issue allows 10 KiB
 * for all of it.  evbuffer_drain() frees the chains only of a buffer
 * that holds bytes, and the input's end is frozen for us, so one byte
 * goes in at the front and out again.  Our input has no callbacks of
 * its own; a TLS bufferevent has no watermark callback either (see
 * tls_start), so this reserves nothing anew. */
void
sess_input_release(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	if (evbuffer_get_length(in) == 0 && evbuffer_prepend(in, "", 1) == 0)
		evbuffer_drain(in, 1);
}

void
sess_attach(struct session *s, struct bufferevent *bev, size_t input_max)
{
	s->bev = bev;
	bufferevent_setcb(bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, input_max);
	sess_apply_state(s);
	bufferevent_enable(bev, EV_WRITE);
}

void
sess_resume(struct session *s)
{
	if (s->state == ST_CLOSING)
		return;
	/* The client's time starts again from here (after an AUTH answer,
	 * a commit, drained output). */
	sess_apply_state(s);
	sess_process(s);
}

void
sess_close(struct session *s)
{
	if (s->state == ST_CLOSING)
		return;
	sess_set_state(s, ST_CLOSING);
	if (sess_output_pending(s) == 0)
		sess_flushed(s);
	/* else sess_write_cb buries it once the reply is written; the
	 * write timeout bounds that wait. */
}

bool
sess_shutdown_if_idle(struct session *s)
{
	if (!s->srv->stopping || s->srv->handover || s->mail_from != NULL || s->state == ST_CLOSING)
		return false;
	sess_reply(s, 421, "4.3.2", "%s Service shutting down", s->cfg->hostname);
	sess_close(s);
	return true;
}

int
sess_txn_add_rcpt(struct session *s, const char *mailbox)
{
	char *copy = strdup(mailbox);
	if (copy == NULL)
		return -1;
	char **v = reallocarray(s->rcpts, s->nrcpt + 1, sizeof *v);
	if (v == NULL) {
		free(copy);
		return -1;
	}
	s->rcpts = v;
	s->rcpts[s->nrcpt++] = copy;
	return 0;
}

void
sess_txn_reset(struct session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	free(s->auth_param);
	s->auth_param = NULL;
	for (size_t i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->body_8bit = false;
	spool_msg_abort(&s->msg);
	buf_free(&s->dbuf);
	buf_free(&s->hdr);
	s->hdr_on = s->hdr_done = false;
	s->msg_size = 0;
	s->spool_failed = false;
}

void
sess_forget(struct session *s)
{
	sess_txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	free(s->auth_user);
	s->auth_user = NULL;
	free(s->tls_client_user);	/* EXTERNAL: set again after a handshake */
	s->tls_client_user = NULL;
	s->auth_mech = NULL;
	authc_cancel(s);
	s->auth_m = NULL;
}

static void
sess_format_addr(struct session *s, const struct sockaddr *sa)
{
	unsigned port = 0;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, s->ip, sizeof s->ip);
		port = ntohs(a->sin6_port);
		/* at most 1 + 45 + 2 + 5 bytes: fits s->addr */
		(void)snprintf(s->addr, sizeof s->addr, "[%s]:%u", s->ip, port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, s->ip, sizeof s->ip);
		port = ntohs(a->sin_port);
		(void)snprintf(s->addr, sizeof s->addr, "%s:%u", s->ip, port);
	}
}

static void
sess_greet(struct session *s)
{
	/* RFC 5321 4.2: the greeting names the server; RFC 2034 codes are
	 * not used in the greeting. */
	sess_reply(s, 220, NULL, "%s ESMTP postern", s->cfg->hostname);
	s->greeted = true;
}

bool
session_accept(struct server *srv, int fd, const struct sockaddr *sa, socklen_t salen,
	       enum listen_role role)
{
	struct session *s = calloc(1, sizeof *s);
	if (s == NULL) {
		log_err("out of memory accepting a connection");
		close(fd);
		return false;
	}
	s->id = srv->next_id++;
	s->srv = srv;
	s->gen = gen_ref(srv->gen);
	s->cfg = s->gen->cfg;
	s->role = role;
	sess_format_addr(s, sa);
	TAILQ_INSERT_TAIL(&srv->sessions, s, link);
	srv->nsessions++;
	log_info("session=%016" PRIx64 " connect client=%s listener=%s", s->id, s->addr,
		 config_role_name(role));
	if (role == ROLE_SUBMISSIONS) {
		/* RFC 8314 3.3: TLS starts at once; the greeting follows it. */
		s->state = ST_HANDSHAKE;
		if (tls_start(s, fd) < 0)
			server_bury(srv, s);
		return true;
	}
	struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		server_bury(srv, s);	/* session_free() gives the count back */
		return true;
	}
	s->state = ST_CMD;
	sess_attach(s, bev, SESS_INPUT_MAX);
	sess_out_direct(s);
	sess_greet(s);
	return true;
}

/* glibc keeps freed memory inside its heap: the short-lived buffers of
 * each handshake (record buffers, the certificate flight, RSA
 * temporaries) and of closed sessions leave whole free pages between
 * the long-lived SSL objects of idle sessions, and RSS stays high
 * (bench/idle_sessions.py: about 1 KB more per idle session).
 * malloc_trim() hands those pages back to the kernel.  It walks the
 * heap (0.1-0.3 ms with 5000 sessions), so it runs half a second after
 * a handshake or a close, once for all of that half second. */
static void
sess_trim_heap(evutil_socket_t fd, short what, void *arg)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

static void
sess_trim_soon(struct server *srv)
{
	/* A time, not a "pending" flag: a trim still pending when its
	 * event base is freed must not block the trims of a later one. */
	static struct timespec next;
	static const struct timeval later = { .tv_sec = 0, .tv_usec = 500000 };
	struct timespec now;
	if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
		return;
	if (now.tv_sec < next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec))
		return;
	next = now;
	next.tv_nsec += 500000000L;
	if (next.tv_nsec >= 1000000000L) {
		next.tv_sec++;
		next.tv_nsec -= 1000000000L;
	}
	(void)event_base_once(srv->base, -1, EV_TIMEOUT, sess_trim_heap, NULL, &later);
}

void
sess_tls_ready(struct session *s)
{
	sess_trim_soon(s->srv);
	sess_set_state(s, ST_CMD);
	if (!s->greeted)
		sess_greet(s);
	sess_process(s);
}

void
session_free(struct session **sp)
{
	struct session *s = *sp;
	if (s == NULL)
		return;
	struct server *srv = s->srv;
	char helo[LOG_SAFE_MAX];
	log_info("session=%016" PRIx64 " disconnect client=%s helo=%s messages=%u rcpts=%u errors=%u",
		 s->id, s->addr, log_quote_str(helo, sizeof helo, s->helo), s->nmsgs, s->nrcpt_total,
		 s->errors);
	authc_cancel(s);
	sess_output_unwatch(s);
	if (s->out_ev)
		event_free(s->out_ev);
	if (s->commit_on != NULL)
		TAILQ_REMOVE(s->commit_on, s, wait_link);
	sess_forget(s);
	free(s->rcpt_wait);
	if (s->auth_delay)
		event_free(s->auth_delay);
	/* The alert goes straight to the socket (the last reply is
	 * already there). */
	if (s->state == ST_CLOSING)
		tls_close_notify(s);
	sess_out_detach(s);
	tls_bev_end(s, s->state == ST_CLOSING);
	if (s->bev)
		bufferevent_free(s->bev);
	iptab_release(srv->ips, s->ip);
	gen_unref(&s->gen);
	free(s);
	*sp = NULL;
	sess_trim_soon(srv);
}
