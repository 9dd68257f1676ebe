/* transport.c - delivering one spool message to one destination: the
 * public calls, the jobs and their results (contract in transport.h). */
#include "deliver/transport_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "deliver/dns_mx.h"
#include "deliver/dns_resolver.h"
#include "server/spool.h"
#include "util/str.h"

/* ---- results ---- */

void
tr_enhanced(const char *reply, char *enh, size_t size)
{
	/* "550 5.1.1 text" or "550-5.1.1": class.subject.detail, RFC 3463 */
	const char *p = reply;
	enh[0] = '\0';
	if (strlen(p) < 5 || !isdigit((unsigned char)p[0]) || (p[3] != ' ' && p[3] != '-'))
		return;
	p += 4;
	size_t n = strspn(p, "0123456789.");
	if (n < 5 || n >= size || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return;
	memcpy(enh, p, n);
	enh[n] = '\0';
}

void
tr_result_set(struct transport_rcpt_result *r, enum smtp_class cls, enum smtp_stage stage, int code,
	      const char *reply, const char *remote)
{
	r->cls = cls;
	r->stage = stage;
	r->code = code;
	if (reply != NULL) {
		(void)snprintf(r->reply, sizeof r->reply, "%s", reply);
		/* printable ASCII only: it goes into logs, the journal, DSNs */
		for (char *p = r->reply; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		tr_enhanced(r->reply, r->enhanced, sizeof r->enhanced);
	}
	if (remote != NULL)
		(void)snprintf(r->remote, sizeof r->remote, "%s", remote);
}

void
tr_job_fail_all(struct tr_job *j, enum smtp_class cls, enum smtp_stage stage, int code,
		const char *reply, const char *remote)
{
	for (size_t i = 0; i < j->n; i++) {
		if (j->fin[i])
			continue;
		tr_result_set(&j->res[i], cls, stage, code, reply, remote);
		j->fin[i] = true;
	}
	tr_job_finish(j);
}

void
tr_job_finish(struct tr_job *j)
{
	if (j->finished)
		return;
	j->finished = true;
	event_active(j->done_ev, 0, 0);
}

static void
job_unlink(struct tr_job *j)
{
	struct transport *t = j->t;
	for (struct tr_job **pp = &t->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	t->inflight--;
}

static void
job_free(struct tr_job *j)
{
	if (j->done_ev)
		event_free(j->done_ev);
	dns_mx_result_free(&j->mx);
	free(j->res);
	free(j->fin);
	free(j->rcpts);
	free(j);
}

/* From the loop, after the results are final: the caller's callback. */
static void
job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tr_job *j = arg;
	(void)fd;
	(void)what;
	job_unlink(j);
	struct transport_result r = {
		.id = j->e->id,
		.route = &j->route,
		.rcpts = j->res,
		.nrcpts = j->n,
		.tls = j->tls[0] ? j->tls : NULL,
		.auth_mech = j->mech[0] ? j->mech : NULL,
		.reused = j->reused,
	};
	j->done(j->arg, &r);
	job_free(j);
}

/* ---- the public calls ---- */

static int
relay_credentials(struct transport *t, char **err_r)
{
	const struct route_conf *rc = t->rc;
	if (rc->relay_credentials == NULL)
		return 0;
	if (rc->relay_oauth)
		return tr_oauth_new(t, rc->relay_credentials, err_r);
	return route_read_credentials(rc->relay_credentials, &t->relay_user, &t->relay_pass, err_r);
}

/* libevent's resolver for a relay host named in brackets (no MX): the
 * servers of dns_resolver, else the system's. */
static int
relay_evdns(struct transport *t, char **err_r)
{
	const struct route_conf *rc = t->rc;
	if (rc->relay_host == NULL || rc->relay_mx)
		return 0;
	t->evdns = evdns_base_new(t->base, rc->dns_servers ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (t->evdns == NULL) {
		*err_r = strdup("cannot start the DNS resolver for relay_host");
		return -1;
	}
	if (rc->dns_servers != NULL) {
		/* c-ares's CSV: "IP:PORT,[IP6]:PORT" is what evdns takes too */
		for (const char *s = rc->dns_servers; *s != '\0';) {
			char one[80];
			size_t n = strcspn(s, ",");
			if (n > 0 && n < sizeof one) {
				memcpy(one, s, n);
				one[n] = '\0';
				(void)evdns_base_nameserver_ip_add(t->evdns, one);
			}
			s += n + (s[n] == ',');
		}
	}
	return 0;
}

struct transport *
transport_new(struct event_base *base, const struct route_conf *rc, struct spool *sp, char **err_r)
{
	*err_r = NULL;
	struct transport *t = calloc(1, sizeof *t);
	if (t == NULL) {
		*err_r = strdup("out of memory");
		return NULL;
	}
	t->base = base;
	t->rc = rc;
	t->sp = sp;
	t->md_pipe[0] = t->md_pipe[1] = -1;
	t->dns = dns_resolver_new(base, rc->dns_servers, 0, 0, err_r);
	if (t->dns == NULL || relay_evdns(t, err_r) < 0 || relay_credentials(t, err_r) < 0 ||
	    tr_maildir_init(t, err_r) < 0) {
		transport_free(&t);
		return NULL;
	}
	return t;
}

static struct tr_job *
job_new(struct transport *t, const struct spool_entry *e, const size_t *rcpts, size_t n)
{
	struct tr_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	j->t = t;
	j->e = e;
	j->n = n;
	j->res = calloc(n, sizeof *j->res);
	j->fin = calloc(n, sizeof *j->fin);
	j->rcpts = calloc(n, sizeof *j->rcpts);
	j->done_ev = event_new(t->base, -1, 0, job_done_cb, j);
	if (j->res == NULL || j->fin == NULL || j->rcpts == NULL || j->done_ev == NULL) {
		job_free(j);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		j->res[i].rcpt = rcpts[i];
		j->rcpts[i] = e->env.rcpts[rcpts[i]];
		/* until something better is known */
		tr_result_set(&j->res[i], SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0,
			      "not attempted", "");
	}
	return j;
}

int
transport_deliver(struct transport *t, const struct spool_entry *e, const size_t *rcpts, size_t n,
		  const struct route *route, transport_done_fn *done, void *arg)
{
	if (n == 0 || e == NULL || e->torn || route == NULL || done == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (rcpts[i] >= e->env.nrcpt)
			return -1;
	struct tr_job *j = job_new(t, e, rcpts, n);
	if (j == NULL)
		return -1;
	j->route = *route;
	j->done = done;
	j->arg = arg;
	j->next = t->jobs;
	t->jobs = j;
	t->inflight++;
	if (route->kind == ROUTE_MAILDIR)
		tr_maildir_start(j);
	else
		tr_smtp_start(j);
	return 0;
}

size_t
transport_inflight(const struct transport *t)
{
	return t->inflight;
}

size_t
transport_connections(const struct transport *t)
{
	return t->nconns;
}

void
transport_close_idle(struct transport *t)
{
	tr_conn_close_idle(t);
}

void
transport_free(struct transport **tp)
{
	struct transport *t = *tp;
	if (t == NULL)
		return;
	tr_maildir_stop(t);
	tr_conn_free_all(t);
	while (t->jobs != NULL) {
		struct tr_job *j = t->jobs;
		t->jobs = j->next;
		job_free(j);
	}
	dns_resolver_free(&t->dns);
	if (t->evdns)
		evdns_base_free(t->evdns, 0);
	tr_oauth_free(t);
	str_wipe_free(&t->relay_user);
	str_wipe_free(&t->relay_pass);
	free(t);
	*tp = NULL;
}
