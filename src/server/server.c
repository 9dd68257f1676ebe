/* server.c - the process: generations of settings, start-up checks,
 * the event loop, signals, and freeing closed sessions. */
#include "server/session.h"

#include <inttypes.h>
#include <signal.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "server/sendermap.h"
#include "server/spool.h"
#include "store/store.h"
#include "util/log.h"
#include "util/str.h"

struct gen *
gen_new(struct config *cfg, char **err_r)
{
	struct gen *g = calloc(1, sizeof *g);
	if (g == NULL) {
		config_free(&cfg);
		*err_r = strdup("out of memory");
		return NULL;
	}
	g->cfg = cfg;
	g->refs = 1;
	g->ssl = tls_ctx_new(cfg, err_r);
	if (*err_r != NULL) {
		gen_unref(&g);
		return NULL;
	}
	char *why = NULL;
	g->store = store_open(cfg->credentials, cfg->dir, &why);
	if (g->store == NULL) {
		(void)!asprintf(err_r, "credentials %s: %s", cfg->credentials, why ? why : "cannot open");
		free(why);
		gen_unref(&g);
		return NULL;
	}
	if (cfg->sender_login_map != NULL &&
	    (g->senders = sendermap_load(cfg->sender_login_map, err_r)) == NULL) {
		gen_unref(&g);
		return NULL;
	}
	return g;
}

struct gen *
gen_ref(struct gen *g)
{
	g->refs++;
	return g;
}

void
gen_unref(struct gen **gp)
{
	struct gen *g = *gp;
	*gp = NULL;
	if (g == NULL || --g->refs > 0)
		return;
	SSL_CTX_free(g->ssl);
	store_free(&g->store);
	sendermap_free(&g->senders);
	config_free(&g->cfg);
	free(g);
}

void
server_bury(struct server *srv, struct session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	TAILQ_REMOVE(&srv->sessions, s, link);
	TAILQ_INSERT_TAIL(&srv->dead, s, link);
	event_active(srv->reaper_ev, 0, 0);
}

/* Frees closed sessions outside their own callbacks (STYLE.md 17). */
static void
server_reap(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s;
	while ((s = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, s, link);
		if (sess_drain(s)) {
			s->dead = false;
			TAILQ_INSERT_TAIL(&srv->sessions, s, link);
			continue;
		}
		srv->nsessions--;
		session_free(&s);
	}
	if (srv->stopping && srv->nsessions == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
server_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;
	log_info("shutdown grace over, closing %zu sessions", srv->nsessions);
	TAILQ_FOREACH_SAFE(s, &srv->sessions, link, next) {
		if (s->state == ST_COMMIT)
			continue;	/* its commit runs in this loop pass */
		if (s->state == ST_HANDSHAKE || s->state == ST_CLOSING) {
			server_bury(srv, s);
			continue;
		}
		/* An unfinished message is dropped with its temp file when
		 * the session is freed: nothing half-written stays. */
		sess_reply(s, 421, "4.3.2", "%s Service shutting down", s->cfg->hostname);
		sess_close(s);
	}
	/* Clients that do not read their 421 do not hold the exit up. */
	struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };
	event_base_loopexit(srv->base, &tv);
}

/* SIGTERM/SIGINT: stop accepting, close idle sessions now, let mail
 * transactions run for shutdown_grace, then exit. */
static void
server_stop(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("signal %d: shutting down, %zu sessions", (int)sig, srv->nsessions);
	listener_close_all(srv);
	TAILQ_FOREACH_SAFE(s, &srv->sessions, link, next) {
		if (s->state == ST_HANDSHAKE)
			server_bury(srv, s);
		else if (s->state == ST_CMD || s->state == ST_AUTH)
			sess_shutdown_if_idle(s);
	}
	struct timeval tv = { .tv_sec = srv->gen->cfg->shutdown_grace, .tv_usec = 0 };
	evtimer_add(srv->grace_ev, &tv);
	event_active(srv->reaper_ev, 0, 0);
}

static bool
same_listeners(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0 ||
		    a->listen[i].role != b->listen[i].role)
			return false;
	return true;
}

/* SIGHUP: a new generation for new sessions; the old config stays in
 * force if the new one has any error. */
static void
server_reload(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	const struct config *old = srv->gen->cfg;
	char *err = NULL;
	struct config *cfg = config_load(old->path, &err);
	struct gen *g = cfg ? gen_new(cfg, &err) : NULL;
	if (g == NULL) {
		log_err("reload failed, keeping the running config: %s", err ? err : "?");
		free(err);
		return;
	}
	if (!same_listeners(old, g->cfg))
		log_warn("reload: listen changes need a restart; keeping the old listeners");
	if (strcmp(old->spool, g->cfg->spool) != 0)
		log_warn("reload: spool changes need a restart; keeping %s", old->spool);
	log_set_level(g->cfg->log_level);
	throttle_set_limits(srv->throttle, &g->cfg->throttle);
	gen_unref(&srv->gen);
	srv->gen = g;
	log_info("reloaded %s", g->cfg->path);
}

static int
server_events(struct server *srv)
{
	srv->reaper_ev = event_new(srv->base, -1, 0, server_reap, srv);
	srv->commit_ev = event_new(srv->base, -1, 0, commit_run, srv);
	srv->authq_ev = event_new(srv->base, -1, 0, authq_run, srv);
	srv->grace_ev = evtimer_new(srv->base, server_grace_over, srv);
	srv->sig_term = evsignal_new(srv->base, SIGTERM, server_stop, srv);
	srv->sig_int = evsignal_new(srv->base, SIGINT, server_stop, srv);
	srv->sig_hup = evsignal_new(srv->base, SIGHUP, server_reload, srv);
	if (!srv->reaper_ev || !srv->commit_ev || !srv->authq_ev || !srv->grace_ev ||
	    !srv->sig_term || !srv->sig_int || !srv->sig_hup)
		return -1;
	return 0;
}

/* Loads the fake-salt key kept beside the credential store, making it
 * on the first start (store_fake_key_load); --check only reads it. */
static int
server_fake_key(struct server *srv, const struct config *cfg, bool check, char **err_r)
{
	static_assert(sizeof srv->fake_salt_key == STORE_FAKE_KEY_LEN, "fake_salt_key");
	char *path = store_fake_key_path(cfg->credentials, cfg->dir, err_r);
	if (path == NULL) {
		char *why = *err_r;
		*err_r = str_printf("fake-salt key: %s", why ? why : "out of memory");
		free(why);
		return -1;
	}
	int rc = store_fake_key_load(path, !check, srv->fake_salt_key, err_r);
	free(path);
	return rc < 0 ? -1 : 0;
}

/* Locks the spool for the process's life, then opens it, which cleans
 * tmp/: one server per spool, so a second one never deletes the first
 * one's messages in progress (spool_lock.c).  Returns 0, or -1 with
 * *err_r malloc'd (naming the other server's pid when it holds the lock). */
static int
server_open_spool(struct server *srv, const char *dir, char **err_r)
{
	char *why = NULL;
	srv->spool_lock = spool_lock(dir, &why);
	if (srv->spool_lock < 0) {
		*err_r = why != NULL ? why : strdup("out of memory");
		return -1;
	}
	srv->spool = spool_open(dir, srv->spool_lock, &why);
	if (srv->spool == NULL) {
		(void)!asprintf(err_r, "spool %s: %s", dir, why ? why : "cannot open");
		free(why);
		return -1;
	}
	return 0;
}

struct server *
server_new(struct config *cfg, bool check, char **err_r)
{
	struct server *srv = calloc(1, sizeof *srv);
	*err_r = NULL;
	if (srv == NULL) {
		config_free(&cfg);
		*err_r = strdup("out of memory");
		return NULL;
	}
	srv->spool_lock = -1;
	TAILQ_INIT(&srv->sessions);
	TAILQ_INIT(&srv->dead);
	TAILQ_INIT(&srv->commit_wait);
	TAILQ_INIT(&srv->authq);
	if (RAND_bytes((unsigned char *)&srv->next_id, sizeof srv->next_id) != 1 ||
	    RAND_bytes(srv->auth_tag_key, sizeof srv->auth_tag_key) != 1) {
		config_free(&cfg);
		*err_r = strdup("cannot get random bytes from OpenSSL");
		server_free(&srv);
		return NULL;
	}
	srv->base = event_base_new();
	srv->ips = iptab_new();
	if (srv->base == NULL || srv->ips == NULL || server_events(srv) < 0) {
		config_free(&cfg);
		*err_r = strdup("cannot set up the event loop");
		server_free(&srv);
		return NULL;
	}
	/* Order: settings, then the queue, then the ports last, so that
	 * nothing listens unless everything else is fine.  --check only
	 * looks at the spool: the server it checks for holds it. */
	struct gen *g = gen_new(cfg, err_r);
	srv->gen = g;
	if (g != NULL && (srv->throttle = throttle_new(&g->cfg->throttle)) == NULL) {
		*err_r = strdup("cannot set up the AUTH throttle (out of memory, or no SipHash)");
		g = NULL;
	}
	if (g == NULL || (check && spool_check(g->cfg->spool, err_r) < 0) ||
	    (!check && server_open_spool(srv, g->cfg->spool, err_r) < 0) ||
	    server_fake_key(srv, g->cfg, check, err_r) < 0 ||
	    (!check && listener_open_all(srv, g->cfg, err_r) < 0)) {
		server_free(&srv);
		return NULL;
	}
	return srv;
}

int
server_run(struct server *srv)
{
	/* A client that resets the connection must not kill the server. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warn("cannot ignore SIGPIPE: a client reset may stop the server");
	evsignal_add(srv->sig_term, NULL);
	evsignal_add(srv->sig_int, NULL);
	evsignal_add(srv->sig_hup, NULL);
	for (size_t i = 0; i < srv->nlst; i++)
		log_info("listening on %s (%s)", srv->lst[i].text, config_role_name(srv->lst[i].role));
	if (event_base_dispatch(srv->base) < 0) {
		log_err("event loop failed");
		return 1;
	}
	log_info("stopped: accepted=%" PRIu64 " refused=%" PRIu64 " messages=%" PRIu64
		 " auth_ok=%" PRIu64 " auth_failed=%" PRIu64, srv->count.accepted,
		 srv->count.refused, srv->count.messages, srv->count.auth_ok, srv->count.auth_failed);
	return 0;
}

static void
server_event_free(struct event **evp)
{
	if (*evp != NULL)
		event_free(*evp);
	*evp = NULL;
}

void
server_free(struct server **sp)
{
	struct server *srv = *sp;
	if (srv == NULL)
		return;
	struct session *s;
	/* Twice: a STARTTLS session drops its filter in the first pass. */
	for (int pass = 0; pass < 2 && srv->reaper_ev != NULL; pass++) {
		while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
			server_bury(srv, s);
		server_reap(-1, 0, srv);
	}
	listener_close_all(srv);
	server_event_free(&srv->reaper_ev);
	server_event_free(&srv->commit_ev);
	server_event_free(&srv->authq_ev);
	server_event_free(&srv->grace_ev);
	server_event_free(&srv->sig_term);
	server_event_free(&srv->sig_int);
	server_event_free(&srv->sig_hup);
	spool_free(&srv->spool);
	if (srv->spool_lock >= 0)
		close(srv->spool_lock);		/* the next server may start */
	gen_unref(&srv->gen);
	iptab_free(&srv->ips);
	throttle_free(&srv->throttle);
	if (srv->base)
		event_base_free(srv->base);
	OPENSSL_cleanse(srv->fake_salt_key, sizeof srv->fake_salt_key);
	OPENSSL_cleanse(srv->auth_tag_key, sizeof srv->auth_tag_key);
	free(srv);
	*sp = NULL;
}
