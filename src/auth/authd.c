/* authd.c - the auth process: its loop, its connections to network
 * processes, reload and exit (authd.h, doc/architecture.md).
 *
 * It keeps the uid of the parent (the store written by `postern passwd`
 * is mode 0600), but holds nothing else of the parent: no listener, no
 * TLS key, no spool.  It cannot be ptraced or dump core
 * (PR_SET_DUMPABLE 0): its memory holds derived secrets and, for a
 * moment, passwords.
 */
#include "auth/authd_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/auth_pool.h"
#include "sasl/sasl.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"

bool
authd_send(struct auth_conn *c, enum auth_msg_type type, uint32_t id, const struct auth_field *f,
	   size_t nfields)
{
	struct buf out;
	buf_init(&out, 4 + AUTH_PROTO_FRAME_MAX);
	bool ok = auth_proto_encode(&out, type, id, f, nfields) == 0;
	if (!ok)
		log_err("auth: cannot encode %s for request %u", auth_msg_type_name(type), id);
	else
		ok = bufferevent_write(c->bev, out.p, out.len) == 0;
	buf_wipe_free(&out);
	return ok;
}

/* The mechanisms of the config that the store can complete. */
static void
authd_pick_mechs(struct authd *d)
{
	d->nmechs = 0;
	for (size_t i = 0; i < d->cfg->nmechs; i++)
		if (store_supports(d->store, sasl_mech_cred_kind(d->cfg->mechs[i])))
			d->mechs[d->nmechs++] = d->cfg->mechs[i];
}

static void
authd_hello(struct auth_conn *c)
{
	struct auth_field f[AUTH_PROTO_FIELDS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < c->d->nmechs && n < AUTH_PROTO_FIELDS_MAX; i++) {
		const char *name = sasl_mech_name(c->d->mechs[i]);
		f[n++] = (struct auth_field){ (const uint8_t *)name, strlen(name) };
	}
	(void)authd_send(c, AUTH_MSG_HELLO, 0, f, n);
}

static void
authd_conn_free(struct auth_conn *c)
{
	auth_req_orphan_all(c);
	auth_rcpt_orphan_all(c);
	TAILQ_REMOVE(&c->d->conns, c, link);
	bufferevent_free(c->bev);
	auth_proto_dec_wipe(&c->dec);
	free(c);
}

/* A message that breaks the protocol is a bug of the network process:
 * say what, and stop (the parent starts a fresh auth process). */
static void
authd_conn_broken(struct auth_conn *c, const char *why)
{
	log_err("auth: malformed message from the network process: %s; exiting", why);
	c->d->broken = true;
	event_base_loopbreak(c->d->base);
}

static int
authd_dispatch(struct auth_conn *c, const struct auth_msg *m)
{
	switch (m->type) {
	case AUTH_MSG_START:
		return auth_req_start(c, m);
	case AUTH_MSG_CONT:
		return auth_req_cont(c, m);
	case AUTH_MSG_CANCEL:
		auth_req_cancel(c, m);
		return 0;
	case AUTH_MSG_RCPT_CHECK:
		return auth_rcpt_check(c, m);
	default:
		log_err("auth: %s is not a request", auth_msg_type_name(m->type));
		return -1;
	}
}

static void
authd_conn_read(struct bufferevent *bev, void *arg)
{
	struct auth_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[4096];
	int n;
	while (!c->d->broken && (n = evbuffer_remove(in, chunk, sizeof chunk)) > 0) {
		size_t off = 0;
		while (!c->d->broken) {
			struct auth_msg m;
			size_t used;
			const char *why = NULL;
			enum auth_proto_rc rc =
				auth_proto_dec_feed(&c->dec, chunk + off, (size_t)n - off, &used, &m, &why);
			off += used;
			if (rc == AUTH_PROTO_MORE)
				break;
			if (rc == AUTH_PROTO_BAD)
				authd_conn_broken(c, why);
			else if (authd_dispatch(c, &m) < 0)
				authd_conn_broken(c, "request out of order");
		}
	}
	OPENSSL_cleanse(chunk, sizeof chunk);
}

static void
authd_conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct auth_conn *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("auth: a network process closed its connection");
		authd_conn_free(c);
	}
}

int
authd_add_conn(struct authd *d, int fd)
{
	struct auth_conn *c = calloc(1, sizeof *c);
	if (c == NULL || evutil_make_socket_nonblocking(fd) < 0 ||
	    (c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		close(fd);
		return -1;
	}
	c->d = d;
	for (size_t i = 0; i < AUTH_REQ_BUCKETS; i++)
		LIST_INIT(&c->reqs[i]);
	LIST_INIT(&c->rcpt_jobs);
	auth_proto_dec_init(&c->dec);
	TAILQ_INSERT_TAIL(&d->conns, c, link);
	bufferevent_setcb(c->bev, authd_conn_read, NULL, authd_conn_event, c);
	bufferevent_enable(c->bev, EV_READ);
	authd_hello(c);
	return 0;
}

struct authd *
authd_new(struct event_base *base, struct config *cfg, const uint8_t *key, char **err_r)
{
	struct authd *d = calloc(1, sizeof *d);
	*err_r = NULL;
	if (d == NULL) {
		config_free(&cfg);
		*err_r = strdup("out of memory");
		return NULL;
	}
	d->base = base;
	d->cfg = cfg;
	TAILQ_INIT(&d->conns);
	memcpy(d->fake_salt_key, key, sizeof d->fake_salt_key);
	char *why = NULL;
	d->store = store_open(cfg->credentials, cfg->dir, &why);
	if (d->store == NULL) {
		(void)!asprintf(err_r, "credentials %s: %s", cfg->credentials, why ? why : "cannot open");
		free(why);
		authd_free(&d);
		return NULL;
	}
	d->rcpt = auth_rcpt_new(cfg, err_r);
	if (d->rcpt == NULL) {
		authd_free(&d);
		return NULL;
	}
	d->throttle = throttle_new(&cfg->throttle);
	if (d->throttle == NULL || RAND_bytes(d->tag_key, sizeof d->tag_key) != 1) {
		*err_r = strdup("cannot set up the AUTH throttle (out of memory, or no SipHash)");
		authd_free(&d);
		return NULL;
	}
	d->pool = auth_pool_new(base, cfg->auth_workers, cfg->auth_client_inflight, auth_req_job_done);
	if (d->pool == NULL) {
		*err_r = strdup("cannot start the auth workers");
		authd_free(&d);
		return NULL;
	}
	authd_pick_mechs(d);
	return d;
}

/* The local recipients of the new config; a broken map keeps the old
 * one (the parent checked it before the reload, so this is a file
 * changed in between). */
static void
authd_reload_rcpt(struct authd *d, const struct config *cfg)
{
	char *err = NULL;
	struct auth_rcpt *r = auth_rcpt_new(cfg, &err);
	if (r == NULL) {
		log_err("auth: local recipients not reloaded, keeping the old ones: %s",
			err ? err : "out of memory");
		free(err);
		return;
	}
	auth_rcpt_free(&d->rcpt);
	d->rcpt = r;
}

int
authd_reload(struct authd *d)
{
	char *err = NULL;
	struct config *cfg = config_load(d->cfg->path, &err);
	if (cfg == NULL) {
		log_err("auth: reload failed, keeping the running config: %s", err ? err : "?");
		free(err);
		return -1;
	}
	if (strcmp(cfg->credentials, d->cfg->credentials) != 0 || strcmp(cfg->dir, d->cfg->dir) != 0) {
		log_info("auth: credentials changed to %s: a new auth process takes over",
			 cfg->credentials);
		config_free(&cfg);
		return 1;
	}
	if (store_reload(d->store, &err) < 0) {
		log_err("auth: reload of %s failed, keeping the users loaded before: %s",
			cfg->credentials, err ? err : "?");
		free(err);
	}
	authd_reload_rcpt(d, cfg);
	config_free(&d->cfg);
	d->cfg = cfg;
	log_set_level(cfg->log_level);
	throttle_set_limits(d->throttle, &cfg->throttle);
	authd_pick_mechs(d);
	struct auth_conn *c;
	TAILQ_FOREACH(c, &d->conns, link)
		authd_hello(c);
	log_info("auth: reloaded %s", cfg->path);
	return 0;
}

int
authd_broken(const struct authd *d)
{
	return d->broken;
}

void
authd_free(struct authd **dp)
{
	struct authd *d = *dp;
	if (d == NULL)
		return;
	struct auth_conn *c;
	while ((c = TAILQ_FIRST(&d->conns)) != NULL)
		authd_conn_free(c);
	/* After the connections: their requests with jobs wait for these. */
	auth_pool_free(&d->pool);
	auth_rcpt_free(&d->rcpt);
	store_free(&d->store);
	throttle_free(&d->throttle);
	config_free(&d->cfg);
	OPENSSL_cleanse(d, sizeof *d);
	free(d);
	*dp = NULL;
}
