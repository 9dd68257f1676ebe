/* runner.c - the queue runner: the spool read into memory, recipients
 * scheduled per destination, results recorded (runner.h says what and
 * why). */
#include "server/runner.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "deliver/local_rcpt.h"
#include "deliver/transport.h"
#include "server/runner_impl.h"
#include "util/log.h"

/* XXX: gcc 12's analyzer loses pointers stored into the runner's heap
 * arrays (r->msgs, m->remote) and reports them leaked where they are
 * stored; rmsg_free() and runner_teardown() free them.  The warning is
 * off for the three functions that store them, as in conf_keys.c. */
#if !defined(__clang__)
#define ANALYZER_LEAK_OFF _Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wanalyzer-malloc-leak\"")
#define ANALYZER_LEAK_ON _Pragma("GCC diagnostic pop")
#else
#define ANALYZER_LEAK_OFF
#define ANALYZER_LEAK_ON
#endif

/* ---- the messages ---- */

static int
rmsg_cmp(const void *a, const void *b)
{
	const struct rmsg *const *x = a, *const *y = b;
	return strcmp((*x)->e.id, (*y)->e.id);
}

/* Binary search of msgs[0..n), sorted by id. */
static struct rmsg *
find_sorted(struct rmsg *const *msgs, size_t n, const char *id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(msgs[mid]->e.id, id);
		if (c == 0)
			return msgs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct rmsg *
runner_find(struct runner *r, const char *id)
{
	return find_sorted(r->msgs, r->nmsgs, id);
}

static void
rmsg_free(struct rmsg *m)
{
	for (size_t i = 0; m->remote != NULL && i < m->e.env.nrcpt; i++)
		free(m->remote[i]);
	free(m->remote);
	free(m->busy);
	spool_entry_clear(&m->e);
	free(m);
}

/* Takes e over (it is zeroed).  NULL when out of memory. */
static struct rmsg *
rmsg_new(struct spool_entry *e)
{
	struct rmsg *m = calloc(1, sizeof *m);
	size_t n = e->env.nrcpt ? e->env.nrcpt : 1;
	if (m == NULL || (m->busy = calloc(n, sizeof *m->busy)) == NULL ||
	    (m->remote = calloc(n, sizeof *m->remote)) == NULL) {
		if (m != NULL)
			free(m->busy);
		free(m);
		return NULL;
	}
	m->e = *e;
	memset(e, 0, sizeof *e);
	return m;
}

/* True when every recipient is delivered or failed (bounce done). */
static bool
rmsg_done(const struct rmsg *m)
{
	for (size_t i = 0; i < m->e.env.nrcpt; i++)
		if (m->e.rcpt[i].state != SPOOL_DELIVERED && m->e.rcpt[i].state != SPOOL_FAILED)
			return false;
	return true;
}

ANALYZER_LEAK_OFF
/* Drops the messages that are done or gone and have nothing in flight. */
static void
runner_prune(struct runner *r, bool unseen_too)
{
	size_t w = 0;
	for (size_t i = 0; i < r->nmsgs; i++) {
		struct rmsg *m = r->msgs[i];
		bool drop = m->jobs == 0 && (m->deleted || rmsg_done(m) || (unseen_too && !m->seen));
		if (drop)
			rmsg_free(m);
		else
			r->msgs[w++] = m;
	}
	r->nmsgs = w;
}

ANALYZER_LEAK_ON

/* ---- reading the spool ---- */

double
runner_clock(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

ANALYZER_LEAK_OFF
/* Merges a fresh spool_list() into r->msgs: new messages are added;
 * for known ones the runner's own view stays (it wrote the journal). */
static void
runner_scan(struct runner *r)
{
	double t0 = runner_clock();
	struct spool_entry *v = NULL;
	char *err = NULL;
	long n = spool_list(r->sp, &v, &err);
	if (n < 0) {
		log_err("runner: %s", err ? err : "cannot read the spool");
		free(err);
		return;
	}
	for (size_t i = 0; i < r->nmsgs; i++)
		r->msgs[i]->seen = false;
	size_t before = r->nmsgs;
	for (long i = 0; i < n; i++) {
		/* Only the sorted part: this loop appends new messages behind
		 * it (a new id may sort before known ones: ids are made at
		 * DATA, messages join at their final dot), so msgs[] is not
		 * sorted until the qsort below; a search over the whole could
		 * miss a known message in flight and add it a second time,
		 * delivered twice. */
		struct rmsg *m = find_sorted(r->msgs, before, v[i].id);
		if (m != NULL) {
			m->seen = true;
			continue;
		}
		if (v[i].torn || v[i].env.nrcpt == 0 || v[i].env.mail_from == NULL)
			continue;	/* never delivered; queue list shows why */
		if (r->nmsgs == r->capmsgs) {
			size_t ncap = r->capmsgs ? r->capmsgs * 2 : 64;
			struct rmsg **nv = reallocarray(r->msgs, ncap, sizeof(struct rmsg *));
			if (nv == NULL)
				break;
			r->msgs = nv;
			r->capmsgs = ncap;
		}
		if ((m = rmsg_new(&v[i])) == NULL)
			break;
		m->seen = true;
		r->msgs[r->nmsgs++] = m;
	}
	spool_entries_free(v, (size_t)n);
	if (r->nmsgs != before)
		qsort(r->msgs, r->nmsgs, sizeof(struct rmsg *), rmsg_cmp);
	runner_prune(r, true);
	r->scan_cost = runner_clock() - t0;
	log_debug("runner: scan: %ld messages queued, %zu new, %.3f s", n, r->nmsgs - before,
		  r->scan_cost);
}

ANALYZER_LEAK_ON

/* ---- destinations ---- */

static struct rdest *
runner_dest(struct runner *r, const char *key)
{
	for (size_t i = 0; i < r->ndests; i++)
		if (strcmp(r->dests[i].key, key) == 0)
			return &r->dests[i];
	/* idle ones are reused: the table stays as small as the set of
	 * destinations busy at once */
	for (size_t i = 0; i < r->ndests; i++)
		if (r->dests[i].inflight == 0) {
			(void)snprintf(r->dests[i].key, sizeof r->dests[i].key, "%s", key);
			return &r->dests[i];
		}
	if (r->ndests == r->capdests) {
		size_t ncap = r->capdests ? r->capdests * 2 : 16;
		struct rdest *nv = reallocarray(r->dests, ncap, sizeof *nv);
		if (nv == NULL)
			return NULL;
		r->dests = nv;
		r->capdests = ncap;
	}
	struct rdest *d = &r->dests[r->ndests++];
	memset(d, 0, sizeof *d);
	(void)snprintf(d->key, sizeof d->key, "%s", key);
	return d;
}

void
runner_claim(struct runner *r, const char *key)
{
	struct rdest *d = runner_dest(r, key);
	if (d != NULL)
		d->inflight++;
	r->inflight++;
}

void
runner_release(struct runner *r, const char *key)
{
	struct rdest *d = runner_dest(r, key);
	if (d != NULL && d->inflight > 0)
		d->inflight--;
	if (r->inflight > 0)
		r->inflight--;
}

/* ---- results ---- */

/* One delivery in flight. */
struct rjob {
	struct runner *r;
	struct rmsg *m;
	char key[ROUTE_KEY_MAX];
	double started;
};

ANALYZER_LEAK_OFF
/* The journal change for one recipient's result, and its log line. */
static void
runner_result_one(struct runner *r, struct rmsg *m, const struct transport_rcpt_result *res,
		  const char *route, double delay, struct spool_mark *mk)
{
	struct spool_rcpt_state *st = &m->e.rcpt[res->rcpt];
	time_t now = time(NULL);
	const char *result;
	*mk = (struct spool_mark){ .id = m->e.id, .rcpt = res->rcpt, .last_reply = res->reply,
				   .attempts = st->attempts + 1 };
	bool bounce = m->e.env.mail_from[0] != '\0';
	if (res->cls == SMTP_CLASS_OK) {
		mk->state = SPOOL_DELIVERED;
		result = "delivered";
	} else if (res->cls == SMTP_CLASS_TEMP && !retry_expired(&r->cfg->retry, m->e.env.arrival, now)) {
		uint32_t rnd = 0;
		(void)RAND_bytes((unsigned char *)&rnd, sizeof rnd);
		struct retry_state rs = { .arrival = m->e.env.arrival, .attempts = mk->attempts };
		mk->state = SPOOL_DEFERRED;
		mk->next_try = retry_next(&r->cfg->retry, &rs, now, rnd);
		result = "deferred";
	} else {
		/* a bounce's attempts count again from 0 */
		mk->state = bounce ? SPOOL_BOUNCING : SPOOL_FAILED;
		mk->attempts = bounce ? 0 : mk->attempts;
		result = res->cls == SMTP_CLASS_TEMP ? "failed (expired)" : "failed";
	}
	free(m->remote[res->rcpt]);
	m->remote[res->rcpt] = res->remote[0] ? strdup(res->remote) : NULL;
	char rq[LOG_SAFE_MAX], hq[LOG_SAFE_MAX], pq[600];
	log_info("delivery id=%s rcpt=%s route=%s remote=%s reply=%s delay=%.1fs attempts=%u "
		 "result=%s%s",
		 m->e.id, log_quote_str(rq, sizeof rq, m->e.env.rcpts[res->rcpt]), route,
		 log_quote_str(hq, sizeof hq, res->remote[0] ? res->remote : NULL),
		 log_quote_str(pq, sizeof pq, res->reply), delay, st->attempts + 1, result,
		 mk->state == SPOOL_FAILED && !bounce ? " bounce=none(null sender)" : "");
}

/* Records the results of one delivery: one journal batch (one
 * fdatasync), then the runner's view. */
void
runner_record(struct runner *r, struct rmsg *m, const struct transport_rcpt_result *v, size_t n,
	      const char *route, double delay)
{
	struct spool_mark *mk = calloc(n ? n : 1, sizeof *mk);
	if (mk == NULL) {
		log_err("runner: %s: out of memory; its deliveries will be repeated", m->e.id);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].rcpt < m->e.env.nrcpt)
			runner_result_one(r, m, &v[i], route, delay, &mk[k++]);
	char *err = NULL;
	if (!m->deleted && k > 0 && spool_mark(r->sp, mk, k, &err) < 0) {
		/* not recorded: as after a crash, these are tried again */
		log_err("runner: %s: %s", m->e.id, err ? err : "cannot record");
		free(err);
		free(mk);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		struct spool_rcpt_state *st = &m->e.rcpt[mk[i].rcpt];
		st->state = mk[i].state;
		st->attempts = mk[i].attempts;
		st->next_try = mk[i].next_try;
		free(st->last_reply);
		st->last_reply = mk[i].last_reply ? strdup(mk[i].last_reply) : NULL;
		if (st->state == SPOOL_DELIVERED || st->state == SPOOL_FAILED)
			r->gc_wanted = true;
	}
	free(mk);
}
ANALYZER_LEAK_ON

static void
runner_done(void *arg, const struct transport_result *res)
{
	struct rjob *j = arg;
	struct runner *r = j->r;
	struct rmsg *m = j->m;
	for (size_t i = 0; i < res->nrcpts; i++)
		if (res->rcpts[i].rcpt < m->e.env.nrcpt)
			m->busy[res->rcpts[i].rcpt] = false;
	runner_record(r, m, res->rcpts, res->nrcpts, j->key, runner_clock() - j->started);
	m->jobs--;
	runner_release(r, j->key);
	free(j);
	if (m->jobs == 0 && !m->deleted)
		(void)runner_bounce(r, m);
	runner_kick(r);
}

/* ---- scheduling ---- */

static bool
rcpt_due(const struct rmsg *m, size_t i, time_t now, time_t *next)
{
	const struct spool_rcpt_state *st = &m->e.rcpt[i];
	if (m->busy[i])
		return false;
	if (st->state == SPOOL_PENDING)
		return true;
	if (st->state != SPOOL_DEFERRED)
		return false;
	if (st->next_try <= now)
		return true;
	if (*next == 0 || st->next_try < *next)
		*next = st->next_try;
	return false;
}

/* A recipient without a route: its result now, as if delivered to. */
static void
runner_no_route(struct runner *r, struct rmsg *m, size_t i, const struct route_error *re)
{
	struct transport_rcpt_result res = { .rcpt = i,
					     .cls = re->temporary ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM,
					     .stage = SMTP_STAGE_LOCAL };
	(void)snprintf(res.enhanced, sizeof res.enhanced, "%s", re->enhanced);
	(void)snprintf(res.reply, sizeof res.reply, "%s %s", re->enhanced, re->why);
	runner_record(r, m, &res, 1, "none", 0);
}

/* Starts one delivery of m's due recipients routed like idx[0]. */
static void
runner_start(struct runner *r, struct rmsg *m, const struct route *rt, size_t *idx, size_t n,
	     struct rdest *d)
{
	struct rjob *j = calloc(1, sizeof *j);
	if (j == NULL)
		return;
	*j = (struct rjob){ .r = r, .m = m, .started = runner_clock() };
	(void)snprintf(j->key, sizeof j->key, "%s", rt->key);
	if (transport_deliver(r->tp, &m->e, idx, n, rt, runner_done, j) < 0) {
		log_err("runner: %s: the transport refused it", m->e.id);
		free(j);
		return;
	}
	for (size_t i = 0; i < n; i++)
		m->busy[idx[i]] = true;
	m->jobs++;
	(void)d;
	runner_claim(r, rt->key);
}

/* Groups m's due recipients by route and starts what the limits allow. */
static void
runner_schedule_msg(struct runner *r, struct rmsg *m, time_t now, time_t *next)
{
	size_t n = m->e.env.nrcpt;
	size_t *idx = calloc(n, sizeof *idx);
	struct route *rts = calloc(n, sizeof *rts);
	bool *due = calloc(n, sizeof *due);
	if (idx == NULL || rts == NULL || due == NULL)
		n = 0;		/* out of memory: the next pass tries again */
	for (size_t i = 0; i < n; i++) {
		struct route_error re;
		if (!rcpt_due(m, i, now, next))
			continue;
		if (route_of(&r->cfg->route, m->e.env.rcpts[i], &rts[i], &re) < 0)
			runner_no_route(r, m, i, &re);
		else if (!(rts[i].local && runner_expand_start(r, m, i)))	/* THE HOOK: aliases */
			due[i] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (!due[i] || r->inflight >= r->cfg->max_deliveries)
			continue;
		size_t k = 0;
		for (size_t x = i; x < n; x++)
			if (due[x] && strcmp(rts[x].key, rts[i].key) == 0) {
				idx[k++] = x;
				due[x] = false;
			}
		struct rdest *d = runner_dest(r, rts[i].key);
		if (d != NULL && d->inflight < r->cfg->max_deliveries_per_destination)
			runner_start(r, m, &rts[i], idx, k, d);
	}
	free(idx);
	free(rts);
	free(due);
}

/* The tick: at the next due time, or the next rescan / gc. */
static void
runner_arm(struct runner *r, time_t next_due)
{
	time_t now = time(NULL), at = r->next_rescan;
	if (r->gc_wanted && r->next_gc < at)
		at = r->next_gc;
	if (next_due != 0 && next_due < at)
		at = next_due;
	/* what is due now and not started waits for a slot: a finished
	 * delivery kicks the next pass, so no busy loop here */
	struct timeval tv = { .tv_sec = at > now ? at - now : 1, .tv_usec = 0 };
	(void)evtimer_add(r->tick, &tv);
}

/* The earliest next_try of a deferred or bouncing recipient, 0: none. */
static time_t
runner_next_due(const struct runner *r)
{
	time_t next = 0;
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct rmsg *m = r->msgs[i];
		for (size_t k = 0; !m->deleted && k < m->e.env.nrcpt; k++) {
			const struct spool_rcpt_state *st = &m->e.rcpt[k];
			bool waits = st->state == SPOOL_DEFERRED || st->state == SPOOL_BOUNCING;
			if (waits && !m->busy[k] && (next == 0 || st->next_try < next))
				next = st->next_try;
		}
	}
	return next;
}

static void
runner_schedule(struct runner *r)
{
	time_t now = time(NULL), next = 0;
	for (size_t i = 0; i < r->nmsgs && !r->stopping; i++) {
		struct rmsg *m = r->msgs[i];
		if (m->deleted)
			continue;
		if (m->jobs == 0)
			(void)runner_bounce(r, m);	/* B left by a crash or a failed try */
		if (r->inflight < r->cfg->max_deliveries)
			runner_schedule_msg(r, m, now, &next);
		else
			(void)rcpt_due(m, 0, now, &next);
	}
	runner_prune(r, false);
	(void)next;
	runner_arm(r, runner_next_due(r));
}

static void
runner_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	runner_schedule(arg);
}

void
runner_kick(struct runner *r)
{
	event_active(r->kick_ev, EV_TIMEOUT, 0);
}

/* ---- wake-ups ---- */

static void
runner_scan_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct runner *r = arg;
	r->scan_due = false;
	runner_scan(r);
	r->next_rescan = time(NULL) + RUNNER_RESCAN_SEC;
	runner_schedule(r);
}

/* A rescan soon: at once when the last one was long ago, else after
 * ten times what the last one cost (so that under heavy load scanning
 * never takes more than a tenth of the runner's time). */
void
runner_rescan(struct runner *r)
{
	if (r->scan_due)
		return;
	r->scan_due = true;
	double gap = r->scan_cost * 10;
	if (gap < 0.02)
		gap = 0.02;
	if (gap > 5)
		gap = 5;
	struct timeval tv = { .tv_sec = (time_t)gap, .tv_usec = (suseconds_t)((gap - (double)(time_t)gap) * 1e6) };
	(void)evtimer_add(r->scan_ev, &tv);
}

static void
runner_ino_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof buf) > 0)
		;
	runner_rescan(arg);
}

/* Watches SPOOL/seg through the spool's folder descriptor
 * (/proc/self/fd: the path may not be reachable by `user`). */
static void
runner_watch(struct runner *r)
{
	char path[64];
	r->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->ino_fd < 0)
		return;
	int segfd = spool_seg_dirfd(r->sp);
	(void)snprintf(path, sizeof path, "/proc/self/fd/%d", segfd);
	if (segfd < 0 || inotify_add_watch(r->ino_fd, path, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		log_warn("runner: cannot watch the spool (%s): rescanning every %d s",
			 strerror(errno), RUNNER_RESCAN_SEC);
		close(r->ino_fd);
		r->ino_fd = -1;
		return;
	}
	r->ino_ev = event_new(r->base, r->ino_fd, EV_READ | EV_PERSIST, runner_ino_cb, r);
	if (r->ino_ev != NULL)
		(void)event_add(r->ino_ev, NULL);
}

static bool
gc_any(void *arg, uint64_t seq)
{
	(void)arg, (void)seq;
	return true;	/* the flocks decide (spool_gc_live) */
}

static void
runner_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct runner *r = arg;
	time_t now = time(NULL);
	/* on the loop, so no journal write of ours runs meanwhile (the
	 * compaction keeps what it loaded); deliveries in flight are
	 * unaffected: their messages are not done, their segments stay */
	if (r->gc_wanted && now >= r->next_gc) {
		char *err = NULL;
		if (spool_gc_live(r->sp, gc_any, NULL, &err) < 0) {
			log_err("runner: gc: %s", err ? err : "?");
			free(err);
		}
		r->gc_wanted = false;
		r->next_gc = now + RUNNER_GC_SEC;
	}
	if (now >= r->next_rescan)
		runner_rescan(r);
	runner_schedule(r);
}

size_t
runner_flush(struct runner *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nmsgs; i++) {
		bool any = false;
		for (size_t k = 0; k < r->msgs[i]->e.env.nrcpt; k++) {
			struct spool_rcpt_state *st = &r->msgs[i]->e.rcpt[k];
			if (st->state == SPOOL_DEFERRED || st->state == SPOOL_BOUNCING) {
				st->next_try = 0;
				any = true;
			}
		}
		n += any;
	}
	runner_rescan(r);
	return n;
}

int
runner_delete(struct runner *r, const char *id, char **err_r)
{
	if (spool_delete(r->sp, id, err_r) < 0)
		return -1;
	struct rmsg *m = runner_find(r, id);
	if (m != NULL)
		m->deleted = true;	/* in-flight results are dropped */
	log_info("runner: deleted %s (control socket)", id);
	runner_kick(r);
	return 0;
}

/* ---- start and stop ---- */

static void
runner_sig_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct runner *r = arg;
	if (sig == SIGHUP)
		return;		/* the parent restarts us with the new config */
	if (!r->stopping)
		log_info("runner: signal %d: stopping after %u deliver%s in flight", (int)sig,
			 r->inflight, r->inflight == 1 ? "y" : "ies");
	r->stopping = true;
	runner_ctl_stop(r);
	struct timeval grace = { .tv_sec = r->cfg->shutdown_grace, .tv_usec = 0 };
	(void)event_base_loopexit(r->base, r->inflight == 0 ? NULL : &grace);
}

static int
runner_setup(struct runner *r, int ctl_fd)
{
	char *err = NULL;
	r->base = event_base_new();
	if (r->base == NULL)
		return -1;
	r->tp = transport_new(r->base, &r->cfg->route, r->sp, &err);
	if (r->tp == NULL) {
		log_err("runner: %s", err ? err : "cannot start the transport");
		free(err);
		return -1;
	}
	r->tick = evtimer_new(r->base, runner_tick_cb, r);
	r->kick_ev = event_new(r->base, -1, 0, runner_kick_cb, r);
	r->scan_ev = evtimer_new(r->base, runner_scan_cb, r);
	r->sig_term = evsignal_new(r->base, SIGTERM, runner_sig_cb, r);
	r->sig_int = evsignal_new(r->base, SIGINT, runner_sig_cb, r);
	r->sig_hup = evsignal_new(r->base, SIGHUP, runner_sig_cb, r);
	if (r->tick == NULL || r->kick_ev == NULL || r->scan_ev == NULL || r->sig_term == NULL ||
	    r->sig_int == NULL || r->sig_hup == NULL || event_add(r->sig_term, NULL) < 0 ||
	    event_add(r->sig_int, NULL) < 0 || event_add(r->sig_hup, NULL) < 0)
		return -1;
	runner_watch(r);
	if (ctl_fd >= 0 && runner_ctl_start(r, ctl_fd) < 0)
		return -1;
	r->next_gc = time(NULL);
	r->gc_wanted = true;
	return 0;
}

static void
runner_teardown(struct runner *r)
{
	runner_ctl_stop(r);
	if (r->tp != NULL) {
		transport_close_idle(r->tp);
		transport_free(&r->tp);
	}
	struct event *evs[] = { r->tick, r->kick_ev, r->scan_ev, r->ino_ev, r->sig_term, r->sig_int,
				r->sig_hup };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (r->ino_fd >= 0)
		close(r->ino_fd);
	for (size_t i = 0; i < r->nmsgs; i++)
		rmsg_free(r->msgs[i]);
	free(r->msgs);
	free(r->dests);
	local_rcpt_free(&r->map);
	if (r->base != NULL)
		event_base_free(r->base);
}

/* Ends the loop once nothing is in flight after SIGTERM. */
static void
runner_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct runner *r = arg;
	if (r->stopping && r->inflight == 0)
		(void)event_base_loopbreak(r->base);
}

int
runner_main(const struct config *cfg, struct spool *sp, struct local_rcpt *map, int ctl_fd)
{
	struct runner r = { .cfg = cfg, .sp = sp, .map = map, .ino_fd = -1 };
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || runner_setup(&r, ctl_fd) < 0) {
		log_err("runner: cannot start");
		runner_teardown(&r);
		return 1;
	}
	struct event *drain = event_new(r.base, -1, EV_PERSIST, runner_drain_cb, &r);
	struct timeval sec = { 1, 0 };
	if (drain != NULL)
		(void)event_add(drain, &sec);
	log_info("queue runner started: at most %u deliveries, %u per destination",
		 cfg->max_deliveries, cfg->max_deliveries_per_destination);
	runner_scan(&r);
	r.next_rescan = time(NULL) + RUNNER_RESCAN_SEC;
	runner_schedule(&r);
	(void)event_base_dispatch(r.base);
	if (r.inflight > 0)
		log_warn("runner: %u deliveries abandoned at shutdown; they are tried again at the next start",
			 r.inflight);
	if (drain != NULL)
		event_free(drain);
	runner_teardown(&r);
	log_info("queue runner stopped");
	return 0;
}
