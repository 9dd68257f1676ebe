/* runner_expand.c - local alias expansion before routing (issue 14
 * item 3: `local_recipients = file:PATH`, deliver/local_rcpt.h).
 *
 * THE HOOK: runner_schedule_msg() (runner.c) asks runner_expand_start()
 * for every due recipient whose domain is local.  An address the map
 * leaves alone is routed as it is; one it expands is delivered to every
 * final address (each routed on its own: a local Maildir, a remote
 * forward), and the queued recipient's state is the sum of theirs:
 * delivered when every final address took it, deferred when any failed
 * temporarily (the next attempt goes to all of them again: the ones
 * that took it get a second copy -- the journal has one state per
 * queued recipient, not per final address), else failed with the first
 * permanent reply.  An alias loop or a chain too deep is a permanent
 * failure 5.4.6 (RFC 3463 "routing loop detected").
 *
 * The deliveries of one expansion count against max_deliveries and the
 * per-destination limits like any other once started, but start
 * together (an expansion is not split across scheduling passes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/local_rcpt.h"
#include "deliver/transport.h"
#include "server/runner_impl.h"
#include "util/log.h"

/* One expanded recipient in flight. */
struct xjob {
	struct runner *r;
	struct rmsg *m;
	size_t idx;			/* the queued recipient */
	struct spool_entry e;		/* m->e with the final addresses as recipients */
	char **list;
	size_t n, pending;
	struct transport_rcpt_result res;	/* the sum so far */
	bool temp, perm;
	double started;
};

/* One of its deliveries (one route key). */
struct xsub {
	struct xjob *x;
	char key[ROUTE_KEY_MAX];
};

static void
xjob_finish(struct xjob *x)
{
	struct runner *r = x->r;
	struct rmsg *m = x->m;
	x->res.rcpt = x->idx;
	x->res.cls = x->temp ? SMTP_CLASS_TEMP : x->perm ? SMTP_CLASS_PERM : SMTP_CLASS_OK;
	m->busy[x->idx] = false;
	runner_record(r, m, &x->res, 1, "alias", runner_clock() - x->started);
	m->jobs--;
	local_rcpt_list_free(&x->list, x->n);
	free(x);
	if (m->jobs == 0 && !m->deleted)
		(void)runner_bounce(r, m);
	runner_kick(r);
}

/* Folds one final address's result into the sum: the first temporary
 * failure's reply wins, else the first permanent one's, else the last
 * success's. */
static void
xjob_add(struct xjob *x, const struct transport_rcpt_result *v)
{
	const char *addr = v->rcpt < x->n ? x->list[v->rcpt] : "?";
	bool take = v->cls == SMTP_CLASS_TEMP ? !x->temp : !x->temp && !x->perm;
	if (take) {
		/* cut, not a failure: the reply goes to the journal and the DSN */
		int k = snprintf(x->res.reply, sizeof x->res.reply, "%.400s", v->reply);
		if (k > 0 && (size_t)k < sizeof x->res.reply)
			(void)snprintf(x->res.reply + k, sizeof x->res.reply - (size_t)k, " (to %.100s)", addr);
		(void)snprintf(x->res.remote, sizeof x->res.remote, "%s", v->remote);
		(void)snprintf(x->res.enhanced, sizeof x->res.enhanced, "%s", v->enhanced);
		x->res.code = v->code;
		x->res.stage = v->stage;
	}
	x->temp |= v->cls == SMTP_CLASS_TEMP;
	x->perm |= v->cls == SMTP_CLASS_PERM;
	char aq[LOG_SAFE_MAX], rq[600];
	log_info("delivery id=%s alias_of=%zu to=%s remote=%s reply=%s result=%s", x->m->e.id, x->idx,
		 log_quote_str(aq, sizeof aq, addr), v->remote[0] ? v->remote : "-",
		 log_quote_str(rq, sizeof rq, v->reply),
		 v->cls == SMTP_CLASS_OK ? "delivered" : v->cls == SMTP_CLASS_TEMP ? "deferred" : "failed");
}

static void
xsub_done(void *arg, const struct transport_result *res)
{
	struct xsub *s = arg;
	struct xjob *x = s->x;
	for (size_t i = 0; i < res->nrcpts; i++)
		xjob_add(x, &res->rcpts[i]);
	runner_release(x->r, s->key);
	free(s);
	if (--x->pending == 0)
		xjob_finish(x);
}

/* A final address that has no route: a result at once. */
static void
xjob_no_route(struct xjob *x, size_t i, const struct route_error *re)
{
	struct transport_rcpt_result v = { .rcpt = i, .stage = SMTP_STAGE_LOCAL,
					   .cls = re->temporary ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM };
	(void)snprintf(v.reply, sizeof v.reply, "%s %s", re->enhanced, re->why);
	xjob_add(x, &v);
}

/* Starts one delivery per route key of x's final addresses. */
static void
xjob_start(struct runner *r, struct xjob *x)
{
	struct route *rts = calloc(x->n, sizeof *rts);
	size_t *idx = calloc(x->n, sizeof *idx);
	bool *left = calloc(x->n, sizeof *left);
	x->pending = 1;		/* held until every delivery is started */
	for (size_t i = 0; rts != NULL && idx != NULL && left != NULL && i < x->n; i++) {
		struct route_error re;
		if (route_of(&r->cfg->route, x->list[i], &rts[i], &re) < 0)
			xjob_no_route(x, i, &re);
		else
			left[i] = true;
	}
	for (size_t i = 0; rts != NULL && idx != NULL && left != NULL && i < x->n; i++) {
		if (!left[i])
			continue;
		size_t k = 0;
		for (size_t j = i; j < x->n; j++)
			if (left[j] && strcmp(rts[j].key, rts[i].key) == 0) {
				idx[k++] = j;
				left[j] = false;
			}
		struct xsub *s = calloc(1, sizeof *s);
		if (s != NULL) {
			s->x = x;
			(void)snprintf(s->key, sizeof s->key, "%s", rts[i].key);
		}
		if (s == NULL || transport_deliver(r->tp, &x->e, idx, k, &rts[i], xsub_done, s) < 0) {
			free(s);
			x->temp = true;
			(void)snprintf(x->res.reply, sizeof x->res.reply, "4.3.0 cannot start a delivery");
			continue;
		}
		runner_claim(r, rts[i].key);
		x->pending++;
	}
	free(rts);
	free(idx);
	free(left);
	if (--x->pending == 0)
		xjob_finish(x);
}

int
runner_expand_start(struct runner *r, struct rmsg *m, size_t i)
{
	if (r->map == NULL)
		return 0;
	const char *rcpt = m->e.env.rcpts[i];
	char **list = NULL, *err = NULL;
	size_t n = 0;
	if (local_rcpt_expand(r->map, rcpt, &list, &n, &err) < 0) {
		bool oom = err != NULL && strcmp(err, "out of memory") == 0;
		struct transport_rcpt_result v = { .rcpt = i, .stage = SMTP_STAGE_LOCAL,
						   .cls = oom ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM };
		(void)snprintf(v.reply, sizeof v.reply, "%s %s", oom ? "4.3.0" : "5.4.6",
			       err ? err : "alias expansion failed");
		free(err);
		runner_record(r, m, &v, 1, "alias", 0);
		return 1;
	}
	if (n == 1 && strcasecmp(list[0], rcpt) == 0) {
		local_rcpt_list_free(&list, n);
		return 0;	/* not an alias: routed as it is */
	}
	struct xjob *x = calloc(1, sizeof *x);
	if (x == NULL) {
		local_rcpt_list_free(&list, n);
		return 1;	/* tried again at the next pass */
	}
	*x = (struct xjob){ .r = r, .m = m, .idx = i, .e = m->e, .list = list, .n = n,
			    .started = runner_clock() };
	x->e.env.rcpts = (const char *const *)list;
	x->e.env.nrcpt = n;
	x->e.rcpt = NULL;
	m->busy[i] = true;
	m->jobs++;
	xjob_start(r, x);
	return 1;
}
