/* server.h - the network process of `postern serve`: listeners,
 * sessions, and the settings they run under; and the parent that starts
 * and supervises it (parent.c, doc/architecture.md).  Internal to
 * src/server.
 *
 * No globals: everything hangs off struct server, and each session gets
 * the generation (config + TLS context) that was current when it
 * connected.  The credential store is not here: it lives in the auth
 * process, reached through authc.c.  A SIGHUP makes the parent start a
 * new network process with a new generation while this one drains.
 */
#ifndef POSTERN_SERVER_SERVER_H
#define POSTERN_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "server/config.h"
#include "auth/throttle.h"
#include "server/iptab.h"
#include "server/spool.h"

struct event;
struct event_base;
struct evconnlistener;
struct authc;
struct session;
struct spool;
struct sendermap;
struct clientmap;
struct iptab;

/* The reloadable part: what SIGHUP replaces for new sessions. */
struct gen {
	struct config *cfg;
	SSL_CTX *ssl;		/* NULL when no certificate is configured */
	struct sendermap *senders;	/* sender_login_map; NULL: the default rule */
	struct clientmap *clients;	/* tls_client_map; NULL: no EXTERNAL */
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
	struct session_list flush_next;	/* written, waiting for the next flush */
	struct session_list flushing;	/* written, in the flush running */
	struct spool_flush fl_next;	/* the segments flush_next needs flushed */
	struct flusher *flusher;	/* commit.c: the flush thread */
	struct session_list write_list;	/* sess_out.c: output to write this pass */
	struct event *write_ev;
	struct authc *auth;		/* the auth process (authc.c) */
	int ctl_fd;			/* from the parent: new auth connections; -1: none */
	struct event *reaper_ev, *commit_ev, *grace_ev, *ctl_ev;
	struct event *sig_term, *sig_int, *sig_usr1;
	struct iptab *ips;		/* connections per client address */
	uint64_t next_id;
	size_t nsessions;
	bool stopping;
	bool handover;			/* stopping after a reload: no 421 for idle sessions */
	struct {
		uint64_t accepted, refused, messages, auth_ok, auth_failed;
	} count;
};

/* What the parent hands to a network process: all taken over. */
struct server_fds {
	const int *listen;	/* bound and listening, one per cfg->listen */
	size_t nlisten;		/* 0: no listener (unit tests) */
	int auth;		/* socketpair end to the auth process */
	int ctl;		/* socketpair end to the parent, -1 for none */
};
/* Builds the network process's server from g (its reference taken
 * over), the open spool and the fds.  The listeners accept once the
 * auth process said HELLO.  Returns NULL with *err_r malloc'd. */
struct server *server_new(struct gen *g, struct spool *spool, const struct server_fds *fds,
			  char **err_r);
/* Runs until SIGTERM/SIGINT and the grace period are over.  Returns the
 * process exit code. */
int server_run(struct server *srv);
void server_free(struct server **sp);

/* A new generation from cfg (taken over, freed on failure): loads the
 * TLS certificate and key (the parent does, as root). */
struct gen *gen_new(struct config *cfg, char **err_r);
struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen **gp);

/* Schedules s for freeing at the reaper's next run (STYLE.md 17). */
void server_bury(struct server *srv, struct session *s);
/* Queues s for the next group commit (STYLE.md 20). */
void server_commit_enqueue(struct server *srv, struct session *s);

/* tls.c */
SSL_CTX *tls_ctx_new(const struct config *cfg, char **err_r);
/* The last OpenSSL error's reason as text (static); clears the queue. */
const char *tls_reason(void);
/* tls_certs.c: every tls_certificate/tls_key pair of cfg into ctx, one
 * per key type.  Returns 0, or -1 with *err_r malloc'd "FILE:LINE:
 * tls_key PATH: does not match tls_certificate PATH (line N)" and the
 * like (unreadable file, not PEM, a second certificate of a type). */
int tls_certs_load(SSL_CTX *ctx, const struct config *cfg, char **err_r);
/* After a handshake, before anything reads SSL_get_certificate (the
 * tls-server-end-point binding): a resumed session gets the certificate
 * of the handshake that made it back as current; a new one records its
 * certificate's key type for its resumptions. */
void tls_certs_handshake_done(SSL *ssl);

/* listener.c */
/* The parent: binds and listens on every cfg->listen (all or none).
 * Returns a malloc'd array of cfg->nlisten fds, or NULL with *err_r. */
int *listener_bind_all(const struct config *cfg, char **err_r);
/* The network process: wraps the fds (taken over) in listeners that
 * do not accept yet.  0, or -1 with *err_r. */
int listener_adopt_all(struct server *srv, const struct config *cfg, const int *fds,
		       char **err_r);
/* Starts accepting; logs "listening on ADDR (ROLE)" for each. */
void listener_enable_all(struct server *srv);
void listener_close_all(struct server *srv);

/* parent.c: `postern serve` itself.  check: everything up to binding
 * (config, TLS, store, spool, user), then "PATH: ok"; no process is
 * started.  Returns the exit code. */
int parent_run(struct config *cfg, bool check);
/* privdrop.c: the uid/gid of cfg->user.  0, or -1 with *err_r naming
 * the user and the config line. */
int privdrop_lookup(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, char **err_r);
/* setgroups(0), setgid, setuid; then checks that root cannot come back.
 * 0, or -1 with *err_r. */
int privdrop_to(uid_t uid, gid_t gid, char **err_r);

/* commit.c: the group commit pass, run from commit_ev. */
void commit_run(int fd, short what, void *arg);
/* The flush thread and its wake-up; -1 when it cannot be started. */
int commit_init(struct server *srv);
/* Joins the thread (a flush in flight ends first).  NULL-safe. */
void commit_free(struct server *srv);
/* sess_out.c: writes the output of the sessions on srv->write_list. */
void server_write_run(int fd, short what, void *arg);

#endif
