/* smtp_client.c - the client session: connection, reply dispatch,
 * greeting, EHLO, STARTTLS, QUIT, and how a session ends. */
#include "client/smtp_client_impl.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/log.h"
#include "util/str.h"

/* How long the 221 to QUIT may take: a server that answered everything
 * else has no reason to be slow here, and the user is waiting. */
#define QUIT_WAIT_SEC 10

static const char *const state_name[] = {
	"new", "connecting", "handshake", "greeting", "ehlo", "helo", "starttls", "auth",
	"ready", "mail", "data-out", "body", "rset", "quit", "closed",
};
static_assert(sizeof state_name / sizeof *state_name == ST__COUNT, "state_name");

void
smtp_client_set_state(struct smtp_client *c, enum smtp_client_state to)
{
	log_debug("client peer=%s %s -> %s", c->peer, state_name[c->state], state_name[to]);
	c->state = to;
}

static void destroy(struct smtp_client *c);

/* Every entry point from libevent or the caller brackets its work with
 * enter/leave, so that smtp_client_free() inside a callback only marks
 * the session and the memory goes when the outermost frame returns.
 * Only entry points call them, and leave() is the last thing they do:
 * after it, c may be gone.  Internal functions (finish, fail...) always
 * run inside such a bracket and never free. */
static void
enter(struct smtp_client *c)
{
	c->depth++;
}

static bool
leave(struct smtp_client *c)
{
	if (--c->depth == 0 && c->free_pending) {
		destroy(c);
		return true;
	}
	return false;
}

/* ---- ending ---- */

static void
finish(struct smtp_client *c)
{
	if (c->state == ST_CLOSED)
		return;
	smtp_client_set_state(c, ST_CLOSED);
	if (c->bev) {
		bufferevent_free(c->bev);	/* frees the SSL and the socket too */
		c->bev = NULL;
		c->ssl = NULL;
		c->tlsinfo.peer = NULL;
		c->tlsinfo.chain = NULL;
	}
	smtp_client_auth_free(c);
	assert(c->depth > 0);	/* inside an entry point: a free here is deferred */
	c->cb.closed(c->arg, c, c->have_err ? &c->err : NULL);
}

/* RFC 5321 4.1.1.10: "The receiver MUST send a "221 OK" reply, and then
 * close the transmission channel."  We wait for the 221 so that the
 * transcript shows it and the server sees a clean end, but no longer
 * than QUIT_WAIT_SEC: nothing depends on it any more. */
static void
send_quit(struct smtp_client *c)
{
	smtp_client_writef(c, "QUIT");
	smtp_client_set_state(c, ST_QUIT);
	unsigned sec = c->o.timeout_sec < QUIT_WAIT_SEC ? c->o.timeout_sec : QUIT_WAIT_SEC;
	struct timeval tv = { .tv_sec = sec };
	if (c->bev)
		bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* ---- classes ---- */

enum smtp_class
smtp_class_of_code(int code)
{
	if (code >= 200 && code < 400)
		return SMTP_CLASS_OK;
	return code >= 400 && code < 500 ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM;
}

const char *
smtp_class_name(enum smtp_class cls)
{
	static const char *const names[] = { "ok", "temporary", "permanent" };
	return (size_t)cls < sizeof names / sizeof *names ? names[cls] : "?";
}

static const char *const stage_names[] = {
	"connect", "greeting", "hello", "tls", "auth", "mail", "rcpt", "data", "quit", "local",
};
static_assert(sizeof stage_names / sizeof *stage_names == SMTP_STAGE_LOCAL + 1, "stage_names");

const char *
smtp_stage_name(enum smtp_stage stage)
{
	return (size_t)stage <= SMTP_STAGE_LOCAL ? stage_names[stage] : "?";
}

/* The class of a failure, decided here once for every caller.  What
 * went wrong on the way (the network, a timeout, TLS, a server's 4xx,
 * our own trouble) may work later: TEMP, as Postfix defers them.  A
 * 5xx, refused credentials, or a server that cannot do what the account
 * requires (no AUTH, only clear-text mechanisms) will not: PERM.  A
 * caller that knows better re-reads the stage: the queue runner defers
 * a relay's AUTH failure (PERM here) with a clear log line. */
static enum smtp_class
fail_class(enum smtp_client_fail kind, int code)
{
	switch (kind) {
	case SMTP_FAIL_REPLY:
		return smtp_class_of_code(code);
	case SMTP_FAIL_AUTH:
	case SMTP_FAIL_NOAUTH:
	case SMTP_FAIL_INSECURE:
		return code / 100 == 4 ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM;
	case SMTP_FAIL_CONNECT:
	case SMTP_FAIL_TIMEOUT:
	case SMTP_FAIL_TLS:
	case SMTP_FAIL_NOSTARTTLS:
	case SMTP_FAIL_PROTOCOL:
	case SMTP_FAIL_AUTH_TEMP:
	case SMTP_FAIL_INTERNAL:
	case SMTP_FAIL_SOURCE:
		break;
	}
	return SMTP_CLASS_TEMP;
}

static enum smtp_stage
state_stage(enum smtp_client_state st)
{
	switch (st) {
	case ST_NEW:
	case ST_CONNECTING: return SMTP_STAGE_CONNECT;
	case ST_HANDSHAKE:
	case ST_STARTTLS: return SMTP_STAGE_TLS;
	case ST_GREETING: return SMTP_STAGE_GREETING;
	case ST_EHLO:
	case ST_HELO: return SMTP_STAGE_HELLO;
	case ST_AUTH: return SMTP_STAGE_AUTH;
	case ST_DATA_OUT:
	case ST_BODY: return SMTP_STAGE_DATA;
	case ST_QUIT:
	case ST_CLOSED: return SMTP_STAGE_QUIT;
	case ST_READY:
	case ST_MAIL:
	case ST_RSET:
	case ST__COUNT: break;
	}
	return SMTP_STAGE_MAIL;
}

void
smtp_client_fail(struct smtp_client *c, enum smtp_client_fail kind, const struct smtp_reply *r,
		 const char *mech, const char *fmt, ...)
{
	if (c->state == ST_CLOSED || c->have_err)
		return;
	struct smtp_client_error *e = &c->err;
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->cls = fail_class(kind, r ? r->code : 0);
	e->stage = kind == SMTP_FAIL_SOURCE || kind == SMTP_FAIL_INTERNAL ? SMTP_STAGE_LOCAL
		   : kind == SMTP_FAIL_TLS || kind == SMTP_FAIL_NOSTARTTLS ? SMTP_STAGE_TLS
		   : state_stage(c->state);
	e->mech = mech;
	/* A message for people: one cut short (a very long host name or
	 * reply) still says what failed, so truncation is accepted. */
	char what[700];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (r) {
		e->code = r->code;
		memcpy(e->enh, r->enh, sizeof e->enh);
		(void)snprintf(e->msg, sizeof e->msg, "%s: %s: %s", c->peer, what,
			       smtp_reply_summary(r, e->reply, sizeof e->reply));
	} else {
		(void)snprintf(e->msg, sizeof e->msg, "%s: %s", c->peer, what);
	}
	c->have_err = true;
	smtp_client_note(c, "%s", e->msg);
	/* Be polite where the protocol still works: a QUIT costs nothing.
	 * Not after a TLS or protocol failure (the channel is not trusted),
	 * and never in the middle of the content: a QUIT there would be
	 * content, and only dropping the connection keeps a partial message
	 * from being delivered (RFC 5321 4.1.1.4: no end, no delivery). */
	if (c->bev && kind != SMTP_FAIL_TLS && kind != SMTP_FAIL_PROTOCOL && kind != SMTP_FAIL_CONNECT &&
	    kind != SMTP_FAIL_TIMEOUT && kind != SMTP_FAIL_SOURCE && c->state > ST_GREETING &&
	    c->state != ST_HANDSHAKE && c->state != ST_DATA_OUT) {
		send_quit(c);
		return;	/* closed() after the reply to QUIT, EOF or QUIT_WAIT_SEC */
	}
	finish(c);
}

int
smtp_client_error_sysexit(const struct smtp_client_error *e)
{
	/* The few details a sendmail caller sees beyond the class. */
	if (e->kind == SMTP_FAIL_INTERNAL)
		return EX_SOFTWARE;
	if (e->kind == SMTP_FAIL_SOURCE)
		return EX_IOERR;
	if (e->kind == SMTP_FAIL_PROTOCOL)
		return EX_PROTOCOL;
	if (e->kind == SMTP_FAIL_TLS || e->kind == SMTP_FAIL_NOSTARTTLS)
		return EX_UNAVAILABLE;
	if (e->cls == SMTP_CLASS_PERM)
		return e->stage == SMTP_STAGE_AUTH && e->kind == SMTP_FAIL_AUTH ? EX_NOPERM
									: EX_UNAVAILABLE;
	return EX_TEMPFAIL;
}

bool
smtp_client_error_is_temporary(const struct smtp_client_error *e)
{
	return e->cls == SMTP_CLASS_TEMP;
}

/* ---- output ---- */

static void
transcript(struct smtp_client *c, enum smtp_dir dir, unsigned flags, const char *mech,
	   size_t payload_off, const char *text, size_t len)
{
	if (c->cb.transcript == NULL)
		return;
	struct smtp_line l = {
		.dir = dir, .flags = flags | (c->tls ? SMTP_LINE_TLS : 0u), .text = text,
		.len = len, .payload_off = payload_off, .mech = mech,
	};
	c->cb.transcript(c->arg, &l);
}

void
smtp_client_write_line(struct smtp_client *c, unsigned flags, const char *mech, size_t payload_off,
		       const char *text, size_t len)
{
	transcript(c, SMTP_DIR_CLIENT, flags, mech, payload_off, text, len);
	if (c->bev == NULL)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, text, len);
	evbuffer_add(out, "\r\n", 2);
}

void
smtp_client_writef(struct smtp_client *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Our commands are short; addresses are capped by the caller. */
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	smtp_client_write_line(c, 0, NULL, 0, line, (size_t)n);
}

void
smtp_client_note(struct smtp_client *c, const char *fmt, ...)
{
	if (c->cb.transcript == NULL)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	transcript(c, SMTP_DIR_NOTE, 0, NULL, 0, line,
		   (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The server closed the connection (seen one loop turn after the event:
 * see event_cb).  After QUIT that is the normal end. */
static void
on_eof(struct smtp_client *c)
{
	c->eof_pending = false;
	if (c->state == ST_CLOSED)
		return;
	if (c->state == ST_QUIT) {
		finish(c);
		return;
	}
	smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "the server closed the connection (%s)",
			 state_name[c->state]);
}

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	void (*fn)(struct smtp_client *) = c->defer_fn;
	c->defer_fn = NULL;
	enter(c);
	if (fn)
		fn(c);
	if (c->eof_pending)
		on_eof(c);
	leave(c);
}

void
smtp_client_defer(struct smtp_client *c, void (*fn)(struct smtp_client *c))
{
	c->defer_fn = fn;
	event_active(c->defer_ev, EV_TIMEOUT, 0);
}

/* ---- replies ---- */

static void
send_ehlo(struct smtp_client *c)
{
	smtp_ehlo_init(&c->caps);
	smtp_client_writef(c, "%s %s", c->o.protocol == SMTP_PROTO_LMTP ? "LHLO" : "EHLO",
			   c->helo_name);
	smtp_client_set_state(c, ST_EHLO);
}

static void
on_greeting(struct smtp_client *c, const struct smtp_reply *r)
{
	/* RFC 5321 3.1: a 554 greeting means "go away"; 4xx: try later. */
	if (r->code != 220) {
		smtp_client_fail(c, SMTP_FAIL_REPLY, r, NULL, "server refused the connection");
		return;
	}
	send_ehlo(c);
}

static void
on_ehlo(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code == 250) {
		smtp_ehlo_parse(&c->caps, r);
		if (c->cb.capabilities)
			c->cb.capabilities(c->arg, &c->caps, c->tls);
		smtp_client_after_ehlo(c);
		return;
	}
	/* RFC 5321 3.2: a server that does not know EHLO answers 500/502;
	 * HELO is fine when we need no extension at all. */
	if (r->code / 100 == 5 && c->o.tls == SMTP_TLS_NONE && c->o.auth == SMTP_AUTH_OFF &&
	    c->o.protocol == SMTP_PROTO_SMTP) {
		smtp_client_writef(c, "HELO %s", c->helo_name);
		smtp_client_set_state(c, ST_HELO);
		return;
	}
	smtp_client_fail(c, SMTP_FAIL_REPLY, r, NULL, "%s refused",
			 c->o.protocol == SMTP_PROTO_LMTP ? "LHLO" : "EHLO");
}

static void
ready(struct smtp_client *c)
{
	smtp_client_set_state(c, ST_READY);
	c->cb.ready(c->arg, c);
}

void
smtp_client_after_ehlo(struct smtp_client *c)
{
	if (c->o.tls == SMTP_TLS_OPPORTUNISTIC && !c->tls && !c->tls_tried) {
		c->tls_tried = true;
		if (smtp_ehlo_has(&c->caps, SMTP_EXT_STARTTLS)) {
			smtp_client_writef(c, "STARTTLS");
			smtp_client_set_state(c, ST_STARTTLS);
			return;
		}
		smtp_client_note(c, "the server does not offer STARTTLS; going on in the clear "
				    "(opportunistic TLS)");
	}
	if (c->o.tls == SMTP_TLS_STARTTLS && !c->tls) {
		/* RFC 3207 section 4: no STARTTLS in the list means none.
		 * A man in the middle strips it to downgrade us: refuse. */
		if (!smtp_ehlo_has(&c->caps, SMTP_EXT_STARTTLS)) {
			smtp_client_fail(c, SMTP_FAIL_NOSTARTTLS, NULL, NULL,
					 "the server does not offer STARTTLS; refusing to continue "
					 "without TLS (tls_starttls on)");
			return;
		}
		smtp_client_writef(c, "STARTTLS");
		smtp_client_set_state(c, ST_STARTTLS);
		return;
	}
	if (c->o.auth != SMTP_AUTH_OFF) {
		smtp_client_auth_start(c);
		return;
	}
	ready(c);
}

static void
on_starttls(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code != 220 && c->o.tls == SMTP_TLS_OPPORTUNISTIC) {
		/* RFC 3207 section 4: after a refusal the session goes on as
		 * before; "may" asks for no more than that. */
		smtp_client_note(c, "STARTTLS refused (%d); going on in the clear (opportunistic TLS)",
				 r->code);
		smtp_client_after_ehlo(c);
		return;
	}
	if (r->code != 220) {
		smtp_client_fail(c, SMTP_FAIL_REPLY, r, NULL, "STARTTLS refused");
		return;
	}
	/* CVE-2021-22947 (curl), the client side of CVE-2011-0411: bytes
	 * the server (or a man in the middle) sent behind the 220 are not
	 * protected by TLS; they must never be read as replies after the
	 * handshake.  Throw them away, and the parser's state with them. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk > 0) {
		smtp_client_note(c, "discarding %zu bytes received after the 220 to STARTTLS", junk);
		evbuffer_drain(in, junk);
	}
	smtp_reply_parser_reset(&c->rp);
	/* RFC 3207 4.2: "The client MUST discard any knowledge obtained
	 * from the server ... which was not obtained from the TLS
	 * negotiation itself." */
	smtp_ehlo_init(&c->caps);
	c->tls_done_starttls = true;
	if (smtp_client_tls_start(c) != 0)
		return;
	smtp_client_set_state(c, ST_HANDSHAKE);
}

static void
on_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	switch (c->state) {
	case ST_GREETING: on_greeting(c, r); break;
	case ST_EHLO: on_ehlo(c, r); break;
	case ST_HELO:
		if (r->code == 250)
			ready(c);
		else
			smtp_client_fail(c, SMTP_FAIL_REPLY, r, NULL, "HELO refused");
		break;
	case ST_STARTTLS: on_starttls(c, r); break;
	case ST_AUTH: smtp_client_auth_reply(c, r); break;
	case ST_MAIL:
	case ST_BODY:
	case ST_RSET: smtp_client_mail_reply(c, r); break;
	case ST_DATA_OUT:
		/* A reply before our final dot (a 421, a 552 cut-off): the
		 * server gave up on this message; the connection goes too. */
		smtp_client_fail(c, SMTP_FAIL_REPLY, r, NULL, "the server replied while the message "
				 "was being sent");
		break;
	case ST_QUIT: finish(c); break;
	default:
		smtp_client_fail(c, SMTP_FAIL_PROTOCOL, r, NULL, "unexpected reply");
		break;
	}
}

static void
show_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	/* The transcript shows the lines as the server sent them. */
	struct span rest = { r->text.p ? (const char *)r->text.p : "", r->text.len };
	struct span line;
	size_t i = 0;
	char buf[SMTP_REPLY_LINE_MAX + 8];
	while (smtp_reply_next_line(&rest, &line)) {
		bool last = ++i == r->nlines;
		int n = snprintf(buf, sizeof buf, "%03d%c", r->code, last ? ' ' : '-');
		size_t l = line.n < sizeof buf - 5 ? line.n : sizeof buf - 5;
		memcpy(buf + n, line.p, l);
		bool sasl = r->code == 334 && c->state == ST_AUTH;
		transcript(c, SMTP_DIR_SERVER, sasl ? SMTP_LINE_SASL : 0u,
			   sasl ? c->mechs[c->mech_i] : NULL, 4, buf, (size_t)n + l);
	}
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	enter(c);
	struct evbuffer *in = bufferevent_get_input(bev);
	while (c->state != ST_CLOSED && c->bev == bev && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t used = 0;
		enum smtp_reply_rc rc = smtp_reply_feed(&c->rp, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == SMTP_REPLY_MORE)
			continue;
		if (rc < 0) {
			smtp_client_fail(c, SMTP_FAIL_PROTOCOL, NULL, NULL, "%s from the server",
					 rc == SMTP_REPLY_SYNTAX ? "malformed reply" :
					 rc == SMTP_REPLY_TOOLONG ? "reply line too long" :
					 "reply with too many lines");
			break;
		}
		const struct smtp_reply *r = smtp_reply_parser_get(&c->rp);
		show_reply(c, r);
		on_reply(c, r);
	}
	leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg);

/* The output drained below its low-water mark: more content, if we are
 * sending some. */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	enter(c);
	if (c->state == ST_DATA_OUT && c->bev == bev)
		smtp_client_body_pump(c);
	leave(c);
}

static void
connected(struct smtp_client *c)
{
	if (c->o.tls == SMTP_TLS_IMPLICIT) {
		if (smtp_client_tls_start(c) == 0)
			smtp_client_set_state(c, ST_HANDSHAKE);
		return;
	}
	smtp_client_set_state(c, ST_GREETING);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	enter(c);
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == ST_CONNECTING) {
			connected(c);
		} else if (c->state == ST_HANDSHAKE && smtp_client_tls_check(c) == 0) {
			/* after STARTTLS: EHLO again; implicit TLS: the greeting */
			if (c->tls_done_starttls)
				send_ehlo(c);
			else
				smtp_client_set_state(c, ST_GREETING);
		}
	} else if ((what & BEV_EVENT_TIMEOUT) && c->state == ST_QUIT) {
		smtp_client_note(c, "no reply to QUIT within %d seconds; closing", QUIT_WAIT_SEC);
		finish(c);
	} else if (what & BEV_EVENT_TIMEOUT) {
		smtp_client_fail(c, SMTP_FAIL_TIMEOUT, NULL, NULL, "no answer from the server "
				 "within %u seconds (%s)", c->o.timeout_sec, state_name[c->state]);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state == ST_HANDSHAKE) {
			smtp_client_tls_check(c);	/* reports the handshake error */
		} else if (c->state == ST_CONNECTING) {
			int dnserr = bufferevent_socket_get_dns_error(bev);
			if (dnserr)
				smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot resolve %s: %s",
						 c->host, evutil_gai_strerror(dnserr));
			else
				smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot connect: %s",
						 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		} else {
			/* bufferevent_openssl reports the peer's close_notify
			 * before it hands over the bytes it read in the same
			 * pass (a 221 to QUIT, a 421 "shutting down"): read_cb
			 * sees them right after this returns, so decide on the
			 * next loop turn, in defer_cb. */
			c->eof_pending = true;
			event_active(c->defer_ev, EV_TIMEOUT, 0);
		}
	}
	leave(c);
}

/* Installs our callbacks on c->bev (after connect or TLS wrapping). */
void smtp_client_hook_bev(struct smtp_client *c);

void
smtp_client_hook_bev(struct smtp_client *c)
{
	struct timeval tv = { .tv_sec = c->o.timeout_sec };
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- life cycle ---- */

struct smtp_client *
smtp_client_new(struct event_base *base, const struct smtp_client_opts *opts,
		const struct smtp_client_cbs *cbs, void *arg)
{
	struct smtp_client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->base = base;
	c->o = *opts;
	c->cb = *cbs;
	c->arg = arg;
	c->host = strdup(opts->host ? opts->host : opts->unix_path ? "localhost" : "");
	c->connect_addr = str_dup(opts->connect_addr);
	c->helo_name = strdup(opts->helo_name ? opts->helo_name : "localhost");
	c->trust_file = str_dup(opts->tls_trust_file);
	c->auth_mech = str_dup(opts->auth_mech);
	c->user = str_dup(opts->user);
	c->source_ip = str_dup(opts->source_ip);
	c->tls_name = str_dup(opts->tls_host_override);
	c->cert_file = str_dup(opts->tls_cert_file);
	c->key_file = str_dup(opts->tls_key_file);
	c->dsn_notify = str_dup(opts->dsn_notify);
	c->dsn_return = str_dup(opts->dsn_return);
	c->unix_path = str_dup(opts->unix_path);
	c->o.unix_path = c->unix_path;
	c->o.source_ip = c->source_ip;
	c->o.tls_host_override = c->tls_name;
	c->o.tls_cert_file = c->cert_file;
	c->o.tls_key_file = c->key_file;
	c->o.dsn_notify = c->dsn_notify;
	c->o.dsn_return = c->dsn_return;
	c->o.host = c->host;
	c->o.connect_addr = c->connect_addr;
	c->o.helo_name = c->helo_name;
	c->o.tls_trust_file = c->trust_file;
	c->o.auth_mech = c->auth_mech;
	c->o.user = c->user;
	c->o.password = NULL;
	if (c->o.timeout_sec == 0)
		c->o.timeout_sec = 300;
	buf_init(&c->password, 16384);
	if (opts->password)
		buf_addstr(&c->password, opts->password);
	buf_init(&c->pending_ir, 16384);
	smtp_reply_parser_init(&c->rp);
	smtp_ehlo_init(&c->caps);
	bool v6 = c->host && strchr(c->host, ':') != NULL;
	/* Only for messages (a host name is at most 255 bytes: it fits). */
	if (opts->unix_path)	/* truncation only shortens a message */
		(void)snprintf(c->peer, sizeof c->peer, "unix:%s", opts->unix_path);
	else
		(void)snprintf(c->peer, sizeof c->peer, v6 ? "[%s]:%u" : "%s:%u", c->host, opts->port);
	c->defer_ev = event_new(base, -1, 0, defer_cb, c);
	bool lost = (opts->source_ip && !c->source_ip) || (opts->tls_host_override && !c->tls_name) ||
		    (opts->tls_cert_file && !c->cert_file) || (opts->tls_key_file && !c->key_file) ||
		    (opts->dsn_notify && !c->dsn_notify) || (opts->dsn_return && !c->dsn_return) ||
		    (opts->unix_path && !c->unix_path) || (opts->host == NULL && opts->unix_path == NULL);
	if (c->host == NULL || c->helo_name == NULL || c->defer_ev == NULL || lost) {
		destroy(c);
		return NULL;
	}
	return c;
}

void
smtp_client_set_dns(struct smtp_client *c, struct evdns_base *dns)
{
	c->dns = dns;
}

/* msmtp's source_ip: a socket bound to that address, connected to the
 * first address of where in the same family.  libevent's
 * connect_hostname makes its own socket after resolving, so this path
 * resolves itself, blocking (only `postern send` sets source_ip).
 * Failures are reported through smtp_client_fail(). */
static void
connect_from(struct smtp_client *c, const char *where)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *src = NULL, *dst = NULL;
	int e = getaddrinfo(c->o.source_ip, NULL, &hints, &src);
	if (e != 0) {
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "source_ip %s: %s", c->o.source_ip,
				 gai_strerror(e));
		return;
	}
	char port[8];
	(void)snprintf(port, sizeof port, "%u", c->o.port);	/* <= 65535 */
	hints.ai_family = src->ai_family;
	hints.ai_flags = AI_NUMERICSERV;
	e = getaddrinfo(where, port, &hints, &dst);
	if (e != 0) {
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot resolve %s (for source_ip %s): %s",
				 where, c->o.source_ip, gai_strerror(e));
		freeaddrinfo(src);
		return;
	}
	int fd = socket(src->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, src->ai_addr, src->ai_addrlen) != 0) {
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot bind to source_ip %s: %s",
				 c->o.source_ip, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
	} else if (bufferevent_setfd(c->bev, fd) != 0) {
		(void)close(fd);
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "cannot set up the connection");
	} else if (bufferevent_socket_connect(c->bev, dst->ai_addr, (int)dst->ai_addrlen) != 0) {
		/* the bufferevent owns fd now (BEV_OPT_CLOSE_ON_FREE) */
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot connect from %s: %s",
				 c->o.source_ip, strerror(errno));
	}
	freeaddrinfo(src);
	freeaddrinfo(dst);
}

/* LMTP's usual transport (RFC 2033 section 5: "a UNIX-domain socket").
 * Failures are reported through smtp_client_fail() or as an event. */
static void
connect_unix(struct smtp_client *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(c->o.unix_path);
	if (n >= sizeof sun.sun_path) {
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "socket path too long");
		return;
	}
	memcpy(sun.sun_path, c->o.unix_path, n + 1);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sun, (int)sizeof sun) != 0)
		smtp_client_fail(c, SMTP_FAIL_CONNECT, NULL, NULL, "cannot connect: %s",
				 strerror(errno));
}

void
smtp_client_start(struct smtp_client *c)
{
	enter(c);
	smtp_client_set_state(c, ST_CONNECTING);
	if (c->o.tls != SMTP_TLS_NONE && smtp_client_tls_ctx(c) != 0) {
		leave(c);
		return;
	}
	c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "out of memory");
		leave(c);
		return;
	}
	smtp_client_hook_bev(c);
	if (c->o.unix_path) {
		connect_unix(c);
		leave(c);
		return;
	}
	const char *where = c->connect_addr ? c->connect_addr : c->host;
	if (c->o.source_ip) {
		connect_from(c, where);
		leave(c);
		return;
	}
	/* The callback reports a failure (also a DNS one) as an event. */
	bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC, where, (int)c->o.port);
	leave(c);
}

void
smtp_client_quit(struct smtp_client *c)
{
	enter(c);
	if (c->state == ST_READY) {
		send_quit(c);
	} else if (c->state != ST_QUIT && c->state != ST_CLOSED) {
		finish(c);
	}
	leave(c);
}

void
smtp_client_abort(struct smtp_client *c, const struct smtp_client_error *err)
{
	enter(c);
	if (err && !c->have_err) {
		c->err = *err;
		c->have_err = true;
	}
	finish(c);
	leave(c);
}

static void
destroy(struct smtp_client *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	smtp_client_auth_free(c);
	smtp_client_mail_free(c);
	if (c->own_ctx && c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->defer_ev)
		event_free(c->defer_ev);
	smtp_reply_parser_free(&c->rp);
	buf_wipe_free(&c->password);
	buf_wipe_free(&c->pending_ir);
	free(c->host);
	free(c->unix_path);
	free(c->connect_addr);
	free(c->helo_name);
	free(c->trust_file);
	free(c->auth_mech);
	free(c->user);
	free(c->source_ip);
	free(c->tls_name);
	free(c->cert_file);
	free(c->key_file);
	free(c->dsn_notify);
	free(c->dsn_return);
	free(c);
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;
	*cp = NULL;
	if (c == NULL)
		return;
	if (c->depth > 0) {
		/* XXX: a callback of this session is on the stack (STYLE 17). */
		c->free_pending = true;
		return;
	}
	destroy(c);
}

const struct smtp_ehlo *
smtp_client_caps(const struct smtp_client *c)
{
	return &c->caps;
}

const struct smtp_tls_info *
smtp_client_tls(const struct smtp_client *c)
{
	return c->tls ? &c->tlsinfo : NULL;
}

const char *
smtp_client_auth_mech(const struct smtp_client *c)
{
	return c->auth_mech_ok;
}

const char *
smtp_client_peer(const struct smtp_client *c)
{
	return c->peer;
}
