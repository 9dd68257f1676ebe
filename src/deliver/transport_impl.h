/* transport_impl.h - what the transport's files share (not for others).
 *
 *   transport.c		the public calls, jobs, their results
 *   transport_smtp.c		SMTP/LMTP: targets, connections, reuse
 *   transport_maildir.c	the Maildir worker thread
 *   transport_oauth.c		relay_credentials = oauth:FILE (the bridge)
 */
#ifndef POSTERN_DELIVER_TRANSPORT_IMPL_H
#define POSTERN_DELIVER_TRANSPORT_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "deliver/transport.h"

struct dns_mx_result;
struct event;
struct evdns_base;
struct smtp_client;
struct tr_conn;
struct tr_oauth;

/* One transport_deliver() call. */
struct tr_job {
	struct transport *t;
	struct tr_job *next;		/* t->jobs */
	const struct spool_entry *e;	/* borrowed until done */
	struct route route;
	size_t n;
	struct transport_rcpt_result *res;	/* n, in the caller's order */
	bool *fin;			/* n: res[i] is final */
	const char **rcpts;		/* n: e->env.rcpts[idx[i]] */
	transport_done_fn *done;
	void *arg;
	struct event *done_ev;		/* finishes the job from the loop */
	bool finished;			/* results final, done_ev activated */
	/* SMTP/LMTP */
	struct dns_mx_result *mx;	/* the targets, when looked up */
	size_t target, addr;		/* next to try */
	size_t ntargets;		/* of mx: those preferred to ourselves */
	bool single_tried;		/* the one target of a non-MX route */
	bool retried_reuse;		/* a dead reused connection was replaced */
	bool clear_retry;		/* opportunistic TLS failed: same host in clear */
	bool oauth_retried;		/* the relay refused the token: refreshed once */
	size_t attempts;		/* addresses tried */
	struct smtp_msg msg;		/* borrowed by the session until sent() */
	struct tr_conn *conn;		/* the connection carrying it */
	char tls[128], mech[32];
	bool reused;
	char tried[512];		/* failures of the hosts tried so far */
};

/* One SMTP/LMTP connection, busy with a job or idle. */
struct tr_conn {
	struct transport *t;
	struct tr_conn *next;		/* t->conns */
	struct smtp_client *c;
	char key[ROUTE_KEY_MAX];
	char remote[300];		/* "host[ip]:port", "lmtp unix:/path" */
	struct tr_job *job;		/* NULL: idle (or not ready yet) */
	struct event *idle_ev;		/* QUIT after TRANSPORT_IDLE_SEC idle */
	struct spool_reader *rd;	/* the content of the message in flight */
	char rd_err[300];		/* why the content could not be read */
	bool ready;			/* greeting, EHLO, TLS, AUTH done */
	bool sending;			/* smtp_client_send() issued, no sent() yet */
	bool closing;			/* QUIT sent or aborted */
};

struct transport {
	struct event_base *base;
	const struct route_conf *rc;
	struct spool *sp;
	struct dns_resolver *dns;
	struct evdns_base *evdns;	/* a relay named without MX lookup */
	char *relay_user, *relay_pass;	/* relay_credentials; wiped on free */
	struct tr_oauth *oauth;		/* relay_credentials = oauth:FILE */
	struct tr_job *jobs;
	size_t inflight;
	struct tr_conn *conns;
	size_t nconns;
	/* Maildir worker */
	pthread_t md_thread;
	bool md_started, md_stop;
	pthread_mutex_t md_mu;
	pthread_cond_t md_cv;
	struct tr_job **md_queue;	/* jobs waiting for the worker, FIFO */
	size_t md_n, md_cap;
	int md_pipe[2];			/* worker -> loop: finished job pointers */
	struct event *md_ev;
};

/* transport.c */
/* Sets one result (reply may be NULL: keeps the old text). */
void tr_result_set(struct transport_rcpt_result *r, enum smtp_class cls, enum smtp_stage stage,
		   int code, const char *reply, const char *remote);
/* Sets every result not yet final (cls still unset) of j, and finishes j. */
void tr_job_fail_all(struct tr_job *j, enum smtp_class cls, enum smtp_stage stage, int code,
		     const char *reply, const char *remote);
/* The results are final: calls done from the loop (deferred). */
void tr_job_finish(struct tr_job *j);
/* "5.1.1" from "550 5.1.1 text" into enh (size >= 16), or "". */
void tr_enhanced(const char *reply, char *enh, size_t size);

/* transport_smtp.c */
void tr_smtp_start(struct tr_job *j);
/* The next host to try (again after a token refresh). */
void tr_smtp_next(struct tr_job *j);
void tr_conn_free_all(struct transport *t);
void tr_conn_close_idle(struct transport *t);
/* The message body source over a spool reader. */
int tr_body_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r);

/* transport_maildir.c */
int tr_maildir_init(struct transport *t, char **err_r);
void tr_maildir_start(struct tr_job *j);
void tr_maildir_stop(struct transport *t);

/* transport_oauth.c */
int tr_oauth_new(struct transport *t, const char *path, char **err_r);
void tr_oauth_free(struct transport *t);
/* True when j must wait for a token refresh (tr_smtp_next(j) follows,
 * or j fails); false when the token is good to use now. */
bool tr_oauth_wait(struct tr_job *j);
/* The relay refused the token: the next tr_oauth_wait() refreshes. */
void tr_oauth_refused(struct transport *t);
/* The relay session's AUTH options with the token (no-op without oauth). */
void tr_oauth_opts(const struct transport *t, struct smtp_client_opts *o);

#endif
