/* runner_impl.h - what the queue runner's files share (runner.h says
 * what the runner does).  Not for other users. */
#ifndef POSTERN_SERVER_RUNNER_IMPL_H
#define POSTERN_SERVER_RUNNER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "deliver/route.h"
#include "server/config.h"
#include "server/spool.h"

struct event;
struct event_base;
struct evconnlistener;
struct transport;
struct transport_rcpt_result;

/* A full rescan of the spool at least this often (inotify is the fast
 * path; this catches what it cannot see, e.g. spool v1 files). */
#define RUNNER_RESCAN_SEC 60
/* Done segments are looked for at most this often (and only when
 * something finished since): a gc reads every segment, as a scan does. */
#define RUNNER_GC_SEC 10

/* One queued message the runner knows. */
struct rmsg {
	struct spool_entry e;		/* owned; e.rcpt[] is the runner's view of the journal */
	bool *busy;			/* per recipient: a delivery in flight */
	char **remote;			/* per recipient: who gave the last reply (for the DSN) */
	unsigned jobs;			/* deliveries in flight */
	bool deleted;			/* `queue delete`d: results are dropped */
	bool seen;			/* in the latest scan */
};

/* A destination (route key) and its deliveries in flight. */
struct rdest {
	char key[ROUTE_KEY_MAX];
	unsigned inflight;
};

struct runner {
	const struct config *cfg;
	struct event_base *base;
	struct spool *sp;
	struct transport *tp;
	struct rmsg **msgs;		/* sorted by id (ids grow with arrival time) */
	size_t nmsgs, capmsgs;
	struct rdest *dests;
	size_t ndests, capdests;
	unsigned inflight;
	struct event *tick;		/* the next due time, rescans, gc */
	struct event *kick_ev;		/* a scheduling pass soon (event_active) */
	struct event *scan_ev;		/* a rescan soon (debounced inotify) */
	struct event *ino_ev;
	int ino_fd;
	struct event *sig_term, *sig_int, *sig_hup;
	struct evconnlistener *ctl;
	struct local_rcpt *map;		/* local_recipients (aliases), NULL: none */
	bool stopping;
	bool scan_due;
	time_t next_rescan, next_gc;
	bool gc_wanted;			/* something finished since the last gc */
	struct timespec last_scan;
	double scan_cost;		/* seconds the last scan took */
};

struct local_rcpt;

/* runner.c */
double runner_clock(void);			/* monotonic seconds */
/* Records the results of one delivery of m (one journal batch, one
 * log line per recipient); route names it in the log lines. */
void runner_record(struct runner *r, struct rmsg *m, const struct transport_rcpt_result *v,
		   size_t n, const char *route, double delay);
/* One delivery to destination key starts / ends (the limits' counts). */
void runner_claim(struct runner *r, const char *key);
void runner_release(struct runner *r, const char *key);
struct rmsg *runner_find(struct runner *r, const char *id);
void runner_kick(struct runner *r);		/* a scheduling pass soon */
void runner_rescan(struct runner *r);		/* read the spool again soon */
/* `postern queue flush`: every deferred recipient is due now.  Returns
 * the number of messages concerned. */
size_t runner_flush(struct runner *r);
/* `postern queue delete ID`: 0, or -1 with *err_r malloc'd. */
int runner_delete(struct runner *r, const char *id, char **err_r);

/* runner_expand.c: when recipient i of m is an alias in
 * local_recipients, starts its deliveries (or records its failure) and
 * returns 1; returns 0 when it is not one (route it as it is). */
int runner_expand_start(struct runner *r, struct rmsg *m, size_t i);

/* runner_bounce.c: when m has recipients in state B and no delivery in
 * flight, queues one DSN for them to the sender (a new message with the
 * null sender, published in the runner's own segment, then those
 * recipients marked F).  Returns 0, or -1 (logged; retried later). */
int runner_bounce(struct runner *r, struct rmsg *m);

/* runner_ctl.c: serves the control socket on r->base. */
int runner_ctl_start(struct runner *r, int fd);
void runner_ctl_stop(struct runner *r);

/* queue_cmd.c: the lines of `postern queue list` for one message (the
 * runner answers `list` with the same lines). */
#include <stdio.h>
void queue_fmt_entry(FILE *f, const struct spool_entry *e);

#endif
