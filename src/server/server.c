/* server.c - the network process: generations of settings, the event
 * loop, signals, the parent's control socket, and freeing closed
 * sessions.  It runs as `user` (parent.c drops the privileges before
 * server_new()), so it opens no file by name: the spool and the sockets
 * come open from the parent, and a new config comes as a new process. */
#include "server/session.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "server/clientmap.h"
#include "server/fdpass.h"
#include "server/sendermap.h"
#include "server/spool.h"
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
	*err_r = NULL;
	g->ssl = tls_ctx_new(cfg, err_r);
	if (*err_r != NULL) {
		gen_unref(&g);
		return NULL;
	}
	if (cfg->sender_login_map != NULL &&
	    (g->senders = sendermap_load(cfg->sender_login_map, err_r)) == NULL) {
		gen_unref(&g);
		return NULL;
	}
	if (cfg->tls_client_map != NULL &&
	    (g->clients = clientmap_load(cfg->tls_client_map, err_r)) == NULL) {
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
	sendermap_free(&g->senders);
	clientmap_free(&g->clients);
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
		if (s->state == ST_STARTTLS || s->state == ST_HANDSHAKE || s->state == ST_CLOSING) {
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
	if (srv->stopping && !srv->handover)
		return;
	bool first = !srv->stopping;
	srv->stopping = true;
	srv->handover = false;		/* now idle sessions are told to go */
	log_info("signal %d: shutting down, %zu sessions", (int)sig, srv->nsessions);
	if (first) {
		listener_close_all(srv);
		struct timeval tv = { .tv_sec = srv->gen->cfg->shutdown_grace, .tv_usec = 0 };
		evtimer_add(srv->grace_ev, &tv);
	}
	TAILQ_FOREACH_SAFE(s, &srv->sessions, link, next) {
		if (s->state == ST_STARTTLS || s->state == ST_HANDSHAKE)
			server_bury(srv, s);
		else if (s->state == ST_CMD || s->state == ST_AUTH)
			sess_shutdown_if_idle(s);
	}
	event_active(srv->reaper_ev, 0, 0);
}

/* SIGUSR1 from the parent: a new network process (a reload) took over
 * the listeners.  Stop accepting; the sessions here go on to their end,
 * within shutdown_grace, as if nothing happened: a client that connected
 * just before the reload is not told 421. */
static void
server_handover(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	if (srv->stopping)
		return;
	srv->stopping = true;
	srv->handover = true;
	log_info("a new network process took over: finishing %zu sessions", srv->nsessions);
	listener_close_all(srv);
	struct timeval tv = { .tv_sec = srv->gen->cfg->shutdown_grace, .tv_usec = 0 };
	evtimer_add(srv->grace_ev, &tv);
	event_active(srv->reaper_ev, 0, 0);
}

/* The parent's control socket: 'A' brings the connection to a new auth
 * process; EOF means the parent is gone, and so are we. */
static void
server_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	char tag = 0;
	int afd = -1;
	int n = fdpass_recv(fd, &tag, &afd);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		log_err("the parent process went away: stopping");
		event_del(srv->ctl_ev);
		server_stop(SIGTERM, 0, srv);
		return;
	}
	if (tag == 'A' && afd >= 0) {
		log_info("new auth process connection");
		(void)authc_attach(srv, afd);
		return;
	}
	log_err("unexpected control message '%c' from the parent", tag);
	if (afd >= 0)
		close(afd);
}

static int
server_events(struct server *srv)
{
	srv->reaper_ev = event_new(srv->base, -1, 0, server_reap, srv);
	srv->commit_ev = event_new(srv->base, -1, 0, commit_run, srv);
	srv->write_ev = event_new(srv->base, -1, 0, server_write_run, srv);
	srv->grace_ev = evtimer_new(srv->base, server_grace_over, srv);
	srv->sig_term = evsignal_new(srv->base, SIGTERM, server_stop, srv);
	srv->sig_int = evsignal_new(srv->base, SIGINT, server_stop, srv);
	srv->sig_usr1 = evsignal_new(srv->base, SIGUSR1, server_handover, srv);
	if (!srv->reaper_ev || !srv->commit_ev || !srv->write_ev || !srv->grace_ev || !srv->sig_term || !srv->sig_int ||
	    !srv->sig_usr1)
		return -1;
	if (srv->ctl_fd >= 0 &&
	    (evutil_make_socket_nonblocking(srv->ctl_fd) < 0 ||
	     (srv->ctl_ev = event_new(srv->base, srv->ctl_fd, EV_READ | EV_PERSIST, server_ctl, srv)) == NULL ||
	     event_add(srv->ctl_ev, NULL) < 0))
		return -1;
	return 0;
}

/* Closes what server_new() was given and could not take over. */
static void
server_fds_close(const struct server_fds *fds)
{
	for (size_t i = 0; i < fds->nlisten; i++)
		close(fds->listen[i]);
	if (fds->auth >= 0)
		close(fds->auth);
	if (fds->ctl >= 0)
		close(fds->ctl);
}

struct server *
server_new(struct gen *g, struct spool *spool, const struct server_fds *fds, char **err_r)
{
	struct server *srv = calloc(1, sizeof *srv);
	*err_r = NULL;
	if (srv == NULL) {
		gen_unref(&g);
		spool_free(&spool);
		server_fds_close(fds);
		*err_r = strdup("out of memory");
		return NULL;
	}
	srv->spool_lock = -1;
	TAILQ_INIT(&srv->sessions);
	TAILQ_INIT(&srv->dead);
	TAILQ_INIT(&srv->commit_wait);
	TAILQ_INIT(&srv->write_list);
	srv->gen = g;
	srv->spool = spool;
	srv->ctl_fd = fds->ctl;
	if (RAND_bytes((unsigned char *)&srv->next_id, sizeof srv->next_id) != 1) {
		*err_r = strdup("cannot get random bytes from OpenSSL");
		for (size_t i = 0; i < fds->nlisten; i++)
			close(fds->listen[i]);
		close(fds->auth);
		server_free(&srv);
		return NULL;
	}
	srv->base = event_base_new();
	srv->ips = iptab_new();
	if (srv->base == NULL || srv->ips == NULL || server_events(srv) < 0 ||
	    commit_init(srv) < 0) {
		*err_r = strdup("cannot set up the event loop");
		for (size_t i = 0; i < fds->nlisten; i++)
			close(fds->listen[i]);
		close(fds->auth);
		server_free(&srv);
		return NULL;
	}
	if (authc_attach(srv, fds->auth) < 0) {
		*err_r = strdup("cannot set up the auth process connection");
		for (size_t i = 0; i < fds->nlisten; i++)
			close(fds->listen[i]);
		server_free(&srv);
		return NULL;
	}
	if (fds->nlisten > 0 && listener_adopt_all(srv, g->cfg, fds->listen, err_r) < 0) {
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
	/* SIGHUP belongs to the parent (it starts a new network process). */
	if (signal(SIGHUP, SIG_IGN) == SIG_ERR)
		log_warn("cannot ignore SIGHUP");
	evsignal_add(srv->sig_term, NULL);
	evsignal_add(srv->sig_int, NULL);
	evsignal_add(srv->sig_usr1, NULL);
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
	if (srv->reaper_ev != NULL) {
		while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
			server_bury(srv, s);
		server_reap(-1, 0, srv);
	}
	listener_close_all(srv);
	authc_free(srv);
	commit_free(srv);
	server_event_free(&srv->reaper_ev);
	server_event_free(&srv->commit_ev);
	server_event_free(&srv->write_ev);
	server_event_free(&srv->grace_ev);
	server_event_free(&srv->ctl_ev);
	server_event_free(&srv->sig_term);
	server_event_free(&srv->sig_int);
	server_event_free(&srv->sig_usr1);
	if (srv->ctl_fd >= 0)
		close(srv->ctl_fd);
	spool_free(&srv->spool);
	gen_unref(&srv->gen);
	iptab_free(&srv->ips);
	if (srv->base)
		event_base_free(srv->base);
	free(srv);
	*sp = NULL;
}
