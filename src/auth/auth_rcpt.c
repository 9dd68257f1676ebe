/* auth_rcpt.c - local recipients checked at RCPT, in the auth process
 * (issue 14 item 3): the network process asks RCPT_CHECK for each
 * recipient in local_domains and answers the client from RCPT_ANSWER.
 *
 * A recipient is known when (cheapest first, all on the loop but the
 * last):
 *   1. local_recipients lists it (deliver/local_rcpt.h: its own entry, a
 *      bare local part, or its domain's catch-all);
 *   2. it is a user of the credential store: its local part or the
 *      whole address, as written or folded to lower case (store_has_user);
 *   3. with local_delivery = lmtp:..., the LMTP server accepts it at RCPT
 *      (lmtp_callout.h), asked on a worker thread of auth_pool.h under
 *      the client network's bounds, its answer cached for
 *      AUTH_RCPT_CACHE_TTL seconds.
 * Else it is unknown.  A local part that could never be delivered
 * (local_rcpt_canon: a route character, not a dot-atom) is unknown at
 * once, before the LMTP server sees it.  "Cannot tell now" (LMTP down,
 * the workers' bounds) is AUTH_RCPT_TEMP: the client tries again later,
 * nothing is accepted blindly.
 */
#include "auth/authd_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_pool.h"
#include "auth/lmtp_callout.h"
#include "deliver/local_rcpt.h"
#include "store/store.h"
#include "util/log.h"
#include "util/str.h"

/* An LMTP server's answer is reused this long: a client that sends the
 * same recipient in several transactions (or a retry after 4xx) does
 * not cost a callout each time, and a user added to the LMTP server is
 * accepted within a minute.  Negative answers are kept as long: a spray
 * of one unknown address costs one callout a minute. */
#define AUTH_RCPT_CACHE_TTL 60
/* Direct-mapped: 1024 recent recipients (~270 KiB) cover the working
 * set of a small site; a collision only costs a callout. */
#define AUTH_RCPT_CACHE_SLOTS 1024

struct rcpt_slot {
	char canon[SMTP_PATH_MAX + 1];
	enum auth_rcpt_verdict verdict;
	time_t expires;		/* CLOCK_MONOTONIC seconds; 0: empty */
};

struct auth_rcpt {
	struct local_rcpt *map;		/* NULL: no local_recipients */
	bool has_lmtp;
	struct lmtp_target lmtp;
	char helo[256];
	struct rcpt_slot cache[AUTH_RCPT_CACHE_SLOTS];
};

/* A callout with the workers. */
struct auth_rcpt_job {
	struct authd *d;
	struct auth_conn *c;		/* NULL once the connection is gone */
	uint32_t id;
	uint64_t sid;
	char canon[SMTP_PATH_MAX + 1];
	struct lmtp_callout co;
	LIST_ENTRY(auth_rcpt_job) link;	/* c->rcpt_jobs */
};

struct auth_rcpt *
auth_rcpt_new(const struct config *cfg, char **err_r)
{
	*err_r = NULL;
	struct auth_rcpt *r = calloc(1, sizeof *r);
	if (r == NULL) {
		*err_r = str_dup("out of memory");
		return NULL;
	}
	if (cfg->local_recipients != NULL &&
	    (r->map = local_rcpt_load(cfg->local_recipients, cfg->dir, err_r)) == NULL) {
		auth_rcpt_free(&r);
		return NULL;
	}
	const char *why = NULL;
	int rc = lmtp_target_parse(cfg->local_delivery, cfg->dir, &r->lmtp, &why);
	if (rc < 0) {
		*err_r = str_printf("local_delivery %s: %s", cfg->local_delivery, why);
		auth_rcpt_free(&r);
		return NULL;
	}
	r->has_lmtp = rc == 1;
	(void)snprintf(r->helo, sizeof r->helo, "%s", cfg->hostname);
	return r;
}

void
auth_rcpt_free(struct auth_rcpt **rp)
{
	if (*rp == NULL)
		return;
	local_rcpt_free(&(*rp)->map);
	free(*rp);
	*rp = NULL;
}

int
authd_check_rcpt(const struct config *cfg, char **err_r)
{
	struct auth_rcpt *r = auth_rcpt_new(cfg, err_r);
	if (r == NULL)
		return -1;
	auth_rcpt_free(&r);
	return 0;
}

static time_t
mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct rcpt_slot *
cache_slot(struct auth_rcpt *r, const char *canon)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (const char *p = canon; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return &r->cache[h % AUTH_RCPT_CACHE_SLOTS];
}

/* A cached LMTP answer for canon, or 0. */
static enum auth_rcpt_verdict
cache_get(struct auth_rcpt *r, const char *canon)
{
	struct rcpt_slot *s = cache_slot(r, canon);
	if (s->expires > mono_now() && strcmp(s->canon, canon) == 0)
		return s->verdict;
	return 0;
}

static void
cache_put(struct auth_rcpt *r, const char *canon, enum auth_rcpt_verdict v)
{
	if (v == AUTH_RCPT_TEMP)
		return;	/* "down" is asked again: it may be back */
	struct rcpt_slot *s = cache_slot(r, canon);
	(void)snprintf(s->canon, sizeof s->canon, "%s", canon);
	s->verdict = v;
	s->expires = mono_now() + AUTH_RCPT_CACHE_TTL;
}

static void
rcpt_answer(struct auth_conn *c, uint32_t id, enum auth_rcpt_verdict v, const char *why)
{
	uint8_t vb = (uint8_t)v;
	size_t wlen = strlen(why);
	struct auth_field f[2] = {
		{ &vb, 1 },
		{ (const uint8_t *)why, wlen > AUTH_PROTO_WHY_MAX ? AUTH_PROTO_WHY_MAX : wlen },
	};
	(void)authd_send(c, AUTH_MSG_RCPT_ANSWER, id, f, 2);
}

/* Is one of the names of addr a user of the store?  Names: the local
 * part and the whole address, each as written and in canonical form
 * (lower case, unquoted).  A quoted local part is tried only canonical. */
static bool
rcpt_store_user(struct store *st, const char *addr, const char *canon)
{
	char names[4][SMTP_PATH_MAX + 1];
	const char *at = strrchr(addr, '@'), *cat = strrchr(canon, '@');
	size_t n = 0;
	(void)snprintf(names[n++], sizeof names[0], "%.*s", (int)(cat - canon), canon);
	(void)snprintf(names[n++], sizeof names[0], "%s", canon);
	if (at != NULL && addr[0] != '"') {
		(void)snprintf(names[n++], sizeof names[0], "%.*s", (int)(at - addr), addr);
		(void)snprintf(names[n++], sizeof names[0], "%s", addr);
	}
	for (size_t i = 0; i < n; i++)
		if (store_has_user(st, names[i]) == STORE_USER_YES)
			return true;
	return false;
}

static void
rcpt_job_run(void *arg)
{
	struct auth_rcpt_job *j = arg;
	lmtp_callout_run(&j->co);
}

static void
rcpt_job_done(void *ctx, void *arg)
{
	struct auth_rcpt_job *j = arg;
	if (j->c != NULL) {
		LIST_REMOVE(j, link);
		/* Never run (the pool is going away): say nothing for sure. */
		if (j->co.why[0] == '\0') {
			j->co.verdict = AUTH_RCPT_TEMP;
			(void)snprintf(j->co.why, sizeof j->co.why, "auth process stopping");
		}
		if (j->d->rcpt != NULL)
			cache_put(j->d->rcpt, j->canon, j->co.verdict);
		log_debug("auth: session=%016" PRIx64 " rcpt=%s lmtp verdict=%d why=\"%s\"", j->sid,
			  j->canon, (int)j->co.verdict, j->co.why);
		rcpt_answer(j->c, j->id, j->co.verdict, j->co.why);
	}
	free(j);
}

/* What one RCPT_CHECK asks about, decoded. */
struct rcpt_q {
	uint32_t id;
	uint64_t sid;
	char addr[SMTP_PATH_MAX + 1];	/* as RCPT TO gave it */
	char canon[SMTP_PATH_MAX + 1];	/* local_rcpt_canon() */
	char ip[AUTH_PROTO_IP_MAX + 1];
};

/* Asks the LMTP server on a worker; the answer follows from rcpt_job_done. */
static void
rcpt_callout(struct auth_conn *c, const struct rcpt_q *q)
{
	struct auth_rcpt *r = c->d->rcpt;
	struct auth_rcpt_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		rcpt_answer(c, q->id, AUTH_RCPT_TEMP, "out of memory");
		return;
	}
	*j = (struct auth_rcpt_job){ .d = c->d, .c = c, .id = q->id, .sid = q->sid };
	memcpy(j->canon, q->canon, sizeof j->canon);
	j->co.target = r->lmtp;
	(void)snprintf(j->co.helo, sizeof j->co.helo, "%s", r->helo);
	memcpy(j->co.rcpt, q->addr, sizeof j->co.rcpt);
	j->co.timeout_ms = LMTP_CALLOUT_TIMEOUT_MS;
	if (auth_pool_submit_job(c->d->pool, q->ip, rcpt_job_run, rcpt_job_done, j, NULL) < 0) {
		free(j);
		rcpt_answer(c, q->id, AUTH_RCPT_TEMP, "too many checks in flight for this network");
		return;
	}
	LIST_INSERT_HEAD(&c->rcpt_jobs, j, link);
}

int
auth_rcpt_check(struct auth_conn *c, const struct auth_msg *m)
{
	struct rcpt_q q = { .id = m->id };
	if (memchr(m->f[0].p, '\0', m->f[0].n) != NULL ||
	    (m->f[1].n > 0 && memchr(m->f[1].p, '\0', m->f[1].n) != NULL)) {
		log_err("auth: RCPT_CHECK %" PRIu32 " holds a NUL byte", m->id);
		return -1;
	}
	memcpy(q.addr, m->f[0].p, m->f[0].n);
	if (m->f[1].n > 0)
		memcpy(q.ip, m->f[1].p, m->f[1].n);
	for (size_t i = 0; i < 8; i++)
		q.sid = q.sid << 8 | m->f[2].p[i];
	struct auth_rcpt *r = c->d->rcpt;
	enum auth_rcpt_verdict v;
	if (local_rcpt_canon(q.addr, q.canon, sizeof q.canon) < 0)
		rcpt_answer(c, q.id, AUTH_RCPT_UNKNOWN, "not a deliverable local part");
	else if (local_rcpt_lookup(r->map, q.addr) != LOCAL_RCPT_NONE)
		rcpt_answer(c, q.id, AUTH_RCPT_KNOWN, "listed in local_recipients");
	else if (rcpt_store_user(c->d->store, q.addr, q.canon))
		rcpt_answer(c, q.id, AUTH_RCPT_KNOWN, "user of the credential store");
	else if (!r->has_lmtp)
		rcpt_answer(c, q.id, AUTH_RCPT_UNKNOWN, "neither a user nor in local_recipients");
	else if ((v = cache_get(r, q.canon)) != 0)
		rcpt_answer(c, q.id, v, v == AUTH_RCPT_KNOWN ? "lmtp accepted it (cached)"
							     : "lmtp refused it (cached)");
	else
		rcpt_callout(c, &q);
	return 0;
}

void
auth_rcpt_orphan_all(struct auth_conn *c)
{
	struct auth_rcpt_job *j;
	while ((j = LIST_FIRST(&c->rcpt_jobs)) != NULL) {
		LIST_REMOVE(j, link);
		j->c = NULL;	/* rcpt_job_done frees it */
	}
}
