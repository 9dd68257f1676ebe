/* authc.c - the auth process, seen from the network process
 * (doc/architecture.md): one socketpair, the mechanisms it announced in
 * HELLO, and the sessions waiting for an answer, by request id.
 *
 * The network process never holds a credential: it relays the client's
 * decoded SASL messages (AUTH_START, AUTH_CONT, AUTH_CANCEL) and gets
 * CONTINUE, OK or FAIL back; cmd_auth.c owns the SMTP side.  When the
 * connection breaks (the auth process died, or sent a malformed frame),
 * every waiting session is answered 454 at once, and AUTH answers 454
 * until the parent hands over the connection to a new auth process.
 */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "ipc/auth_proto.h"
#include "sasl/sasl.h"
#include "util/buf.h"
#include "util/log.h"

#define AUTHC_BUCKETS 64

struct authc {
	struct server *srv;
	struct bufferevent *bev;	/* NULL while no auth process is there */
	bool hello;			/* a HELLO came (ever): listeners may open */
	const struct sasl_mech *mechs[CONFIG_MECH_MAX];
	size_t nmechs;
	uint32_t next_id;
	LIST_HEAD(, session) wait[AUTHC_BUCKETS];
	struct auth_proto_dec dec;	/* last: 16 KiB */
};

static struct authc *
authc_get(struct server *srv)
{
	if (srv->auth == NULL && (srv->auth = calloc(1, sizeof *srv->auth)) != NULL)
		srv->auth->srv = srv;
	return srv->auth;
}

static struct session *
authc_find(struct authc *a, uint32_t id)
{
	struct session *s;
	LIST_FOREACH(s, &a->wait[id % AUTHC_BUCKETS], auth_link)
		if (s->auth_id == id)
			return s;
	return NULL;
}

static void
authc_forget(struct session *s)
{
	if (s->auth_id == 0)
		return;
	LIST_REMOVE(s, auth_link);
	s->auth_id = 0;
}

/* The connection is gone: every waiting session gets 454 now. */
static void
authc_down(struct authc *a, const char *why)
{
	if (a->bev == NULL)
		return;
	log_warn("auth process connection lost: %s", why);
	bufferevent_free(a->bev);
	a->bev = NULL;
	auth_proto_dec_wipe(&a->dec);
	for (size_t b = 0; b < AUTHC_BUCKETS; b++) {
		struct session *s;
		while ((s = LIST_FIRST(&a->wait[b])) != NULL) {
			authc_forget(s);
			if (s->state == ST_RCPT_WAIT)
				cmd_rcpt_answer(s, NULL);
			else
				cmd_auth_answer(s, NULL);
		}
	}
}

static void
authc_hello(struct authc *a, const struct auth_msg *m)
{
	a->nmechs = 0;
	for (size_t i = 0; i < m->nfields && a->nmechs < CONFIG_MECH_MAX; i++) {
		const struct sasl_mech *mech = sasl_mech_find((const char *)m->f[i].p, m->f[i].n);
		if (mech != NULL)
			a->mechs[a->nmechs++] = mech;
	}
	if (!a->hello) {
		a->hello = true;
		listener_enable_all(a->srv);
	}
}

/* One frame from the auth process; -1 when it breaks the protocol. */
static int
authc_dispatch(struct authc *a, const struct auth_msg *m)
{
	if (m->type == AUTH_MSG_HELLO) {
		authc_hello(a, m);
		return 0;
	}
	if (m->type != AUTH_MSG_CONTINUE && m->type != AUTH_MSG_OK && m->type != AUTH_MSG_FAIL &&
	    m->type != AUTH_MSG_RCPT_ANSWER)
		return -1;
	struct session *s = authc_find(a, m->id);
	if (s == NULL)
		return 0;	/* cancelled meanwhile: the answer crossed the cancel */
	if ((m->type == AUTH_MSG_RCPT_ANSWER) != (s->state == ST_RCPT_WAIT))
		return -1;	/* an answer to a question this request did not ask */
	if (m->type == AUTH_MSG_RCPT_ANSWER) {
		authc_forget(s);
		cmd_rcpt_answer(s, m);
		return 0;
	}
	if (m->type != AUTH_MSG_CONTINUE)
		authc_forget(s);
	cmd_auth_answer(s, m);
	return 0;
}

static void
authc_read(struct bufferevent *bev, void *arg)
{
	struct authc *a = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[4096];
	int n;
	while (a->bev == bev && (n = evbuffer_remove(in, chunk, sizeof chunk)) > 0) {
		size_t off = 0;
		while (a->bev == bev) {
			struct auth_msg m;
			size_t used;
			const char *why = NULL;
			enum auth_proto_rc rc =
				auth_proto_dec_feed(&a->dec, chunk + off, (size_t)n - off, &used, &m, &why);
			off += used;
			if (rc == AUTH_PROTO_MORE)
				break;
			if (rc == AUTH_PROTO_FRAME && authc_dispatch(a, &m) == 0)
				continue;
			log_err("malformed message from the auth process: %s",
				rc == AUTH_PROTO_BAD ? why : auth_msg_type_name(m.type));
			/* A bug over there: ask the parent for a new one. */
			if (a->srv->ctl_fd >= 0)
				(void)!write(a->srv->ctl_fd, "R", 1);
			authc_down(a, "malformed message");
		}
	}
	OPENSSL_cleanse(chunk, sizeof chunk);
}

static void
authc_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		authc_down(arg, what & BEV_EVENT_EOF ? "closed" : "error");
}

int
authc_attach(struct server *srv, int fd)
{
	struct authc *a = authc_get(srv);
	if (a == NULL) {
		close(fd);
		return -1;
	}
	authc_down(a, "replaced by a new auth process");
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    (a->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return -1;
	}
	auth_proto_dec_init(&a->dec);
	bufferevent_setcb(a->bev, authc_read, NULL, authc_event, a);
	bufferevent_enable(a->bev, EV_READ);
	return 0;
}

bool
authc_offers(const struct server *srv, const struct sasl_mech *m)
{
	const struct authc *a = srv->auth;
	for (size_t i = 0; a != NULL && m != NULL && i < a->nmechs; i++)
		if (a->mechs[i] == m)
			return true;
	return false;
}

static int
authc_send(struct authc *a, enum auth_msg_type type, uint32_t id, const struct auth_field *f,
	   size_t nf)
{
	struct buf out;
	buf_init(&out, 4 + AUTH_PROTO_FRAME_MAX);
	int rc = auth_proto_encode(&out, type, id, f, nf);
	if (rc == 0)
		rc = bufferevent_write(a->bev, out.p, out.len);
	buf_wipe_free(&out);
	return rc;
}

/* A new request id, never 0 ("no request"). */
static uint32_t
authc_next_id(struct authc *a)
{
	if (++a->next_id == 0)
		a->next_id = 1;
	return a->next_id;
}

/* s waits for the answer to request id. */
static void
authc_wait(struct authc *a, struct session *s, uint32_t id)
{
	s->auth_id = id;
	LIST_INSERT_HEAD(&a->wait[id % AUTHC_BUCKETS], s, auth_link);
}

int
authc_start(struct session *s, const struct sasl_mech *m, const uint8_t *ir, size_t irlen)
{
	struct authc *a = s->srv->auth;
	if (a == NULL || a->bev == NULL)
		return -1;
	uint32_t id = authc_next_id(a);
	uint8_t flags = (uint8_t)((s->tls ? AUTH_START_TLS : 0) | (ir ? AUTH_START_IR : 0));
	uint8_t sid[8];
	for (size_t i = 0; i < 8; i++)
		sid[i] = (uint8_t)(s->id >> (56 - 8 * i));
	const char *name = sasl_mech_name(m);
	struct auth_field f[5] = {
		{ (const uint8_t *)name, strlen(name) },
		{ (const uint8_t *)s->ip, strlen(s->ip) },
		{ &flags, 1 },
		{ sid, 8 },
		{ ir, ir ? irlen : 0 },
	};
	if (authc_send(a, AUTH_MSG_START, id, f, 5) < 0)
		return -1;
	authc_wait(a, s, id);
	return 0;
}

int
authc_rcpt(struct session *s, const char *mailbox)
{
	struct authc *a = s->srv->auth;
	if (a == NULL || a->bev == NULL || s->auth_id != 0)
		return -1;
	uint32_t id = authc_next_id(a);
	uint8_t sid[8];
	for (size_t i = 0; i < 8; i++)
		sid[i] = (uint8_t)(s->id >> (56 - 8 * i));
	struct auth_field f[3] = {
		{ (const uint8_t *)mailbox, strlen(mailbox) },
		{ (const uint8_t *)s->ip, strlen(s->ip) },
		{ sid, 8 },
	};
	if (authc_send(a, AUTH_MSG_RCPT_CHECK, id, f, 3) < 0)
		return -1;
	authc_wait(a, s, id);
	return 0;
}

int
authc_cont(struct session *s, const uint8_t *p, size_t n)
{
	struct authc *a = s->srv->auth;
	if (s->auth_id == 0 || a == NULL || a->bev == NULL)
		return -1;
	struct auth_field f = { p, n };
	return authc_send(a, AUTH_MSG_CONT, s->auth_id, &f, 1);
}

void
authc_cancel(struct session *s)
{
	struct authc *a = s->srv->auth;
	if (s->auth_id == 0)
		return;
	if (a != NULL && a->bev != NULL)
		(void)authc_send(a, AUTH_MSG_CANCEL, s->auth_id, NULL, 0);
	authc_forget(s);
}

void
authc_free(struct server *srv)
{
	struct authc *a = srv->auth;
	if (a == NULL)
		return;
	if (a->bev != NULL)
		bufferevent_free(a->bev);
	auth_proto_dec_wipe(&a->dec);
	free(a);
	srv->auth = NULL;
}
