/* server.h - one `postern serve` process: listeners, sessions, and the
 * settings they run under.  Internal to src/server.
 *
 * No globals: everything hangs off struct server, and each session gets
 * the generation (config + TLS context + credential store) that was
 * current when it connected.  SIGHUP builds a new generation; the old
 * one lives on until its last session ends.
 */
#ifndef POSTERN_SERVER_SERVER_H
#define POSTERN_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#include "server/config.h"
#include "auth/throttle.h"
#include "server/iptab.h"

struct event;
struct event_base;
struct evconnlistener;
struct session;
struct spool;
struct store;
struct sendermap;
struct iptab;

/* The reloadable part: what SIGHUP replaces for new sessions. */
struct gen {
	struct config *cfg;
	SSL_CTX *ssl;		/* NULL when no certificate is configured */
	struct store *store;
	struct sendermap *senders;	/* sender_login_map; NULL: the default rule */
	unsigned refs;		/* the server's pointer + one per session */
};

struct listener {
	struct server *srv;
	struct evconnlistener *evl;
	enum listen_role role;
	char text[72];		/* "ADDR:PORT" (config.c allows 64 bytes) */
};

TAILQ_HEAD(session_list, session);

/* glibc's sys/queue.h lacks the _SAFE variant (BSD has it). */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST(head); (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif

struct server {
	struct event_base *base;
	struct gen *gen;		/* current; new sessions take a reference */
	struct spool *spool;		/* not reloadable: one queue per process */
	int spool_lock;			/* spool_lock() fd, held while we run; -1 */
	struct listener *lst;
	size_t nlst;
	struct session_list sessions;	/* every live session */
	struct session_list dead;	/* closed, freed by the reaper */
	struct session_list commit_wait;	/* DATA done, waiting for group commit */
	struct session_list authq;	/* waiting for the credential store */
	struct event *reaper_ev, *commit_ev, *authq_ev, *grace_ev;
	struct event *sig_term, *sig_int, *sig_hup;
	struct iptab *ips;		/* connections per client address */
	/* SCRAM salts made up for unknown users derive from this: read
	 * from the key file beside the store (store_fake_key_load), so that
	 * asking twice for one unknown user gives the same salt, as for a
	 * real one, across SIGHUP and restarts (sasl.h). */
	uint8_t fake_salt_key[32];
	/* AUTH failures per address, subnet and user (auth/throttle.h);
	 * kept across SIGHUP, which only changes its limits. */
	struct throttle *throttle;
	/* Keys the attempt tags (auth_throttle.c); random per process. */
	uint8_t auth_tag_key[32];
	uint64_t next_id;
	size_t nsessions;
	bool stopping;
	struct {
		uint64_t accepted, refused, messages, auth_ok, auth_failed;
	} count;
};

/* Builds the server from cfg (taken over): TLS context, store, spool,
 * and every listener bound.  With check, no port is bound and the spool
 * is not touched: `serve --check` must also pass for the config of a
 * server that runs (and holds the ports and the spool); a port taken by
 * someone else shows at start.  Without check, the spool is locked for
 * the server's life (a second server on it fails here, naming the first
 * one's pid).
 * Returns NULL with *err_r malloc'd: one line naming what failed. */
struct server *server_new(struct config *cfg, bool check, char **err_r);
/* Runs until SIGTERM/SIGINT and the grace period are over.  Returns the
 * process exit code. */
int server_run(struct server *srv);
void server_free(struct server **sp);

/* A new generation from cfg (taken over, freed on failure). */
struct gen *gen_new(struct config *cfg, char **err_r);
struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen **gp);

/* Schedules s for freeing at the reaper's next run (STYLE.md 17). */
void server_bury(struct server *srv, struct session *s);
/* Queues s for the next group commit (STYLE.md 20). */
void server_commit_enqueue(struct server *srv, struct session *s);

/* tls.c */
SSL_CTX *tls_ctx_new(const struct config *cfg, char **err_r);

/* listener.c */
int listener_open_all(struct server *srv, const struct config *cfg, char **err_r);
void listener_close_all(struct server *srv);

/* commit.c: the group commit pass, run from commit_ev. */
void commit_run(int fd, short what, void *arg);
/* authq.c: credential lookups, run from authq_ev. */
void authq_run(int fd, short what, void *arg);

#endif
