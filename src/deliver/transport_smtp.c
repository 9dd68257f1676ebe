/* transport_smtp.c - SMTP and LMTP deliveries: which host to try next,
 * the connections (one smtp_client session each), and reusing an idle
 * connection for the next message to the same destination
 * (transport.h). */
#include "deliver/transport_impl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "deliver/dns_mx.h"
#include "server/spool.h"
#include "server/spool_reader.h"
#include "util/log.h"

/* At most this many addresses are tried per attempt (Postfix's
 * smtp_mx_address_limit is 5): a long list of dead hosts costs one
 * connect timeout each. */
#define TR_MAX_ADDRS 10

static void conn_send(struct tr_conn *k);

/* ---- connections ---- */

static void
conn_unlink(struct tr_conn *k)
{
	struct transport *t = k->t;
	for (struct tr_conn **pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			t->nconns--;
			break;
		}
}

static void
conn_free(struct tr_conn *k)
{
	if (k->idle_ev)
		event_free(k->idle_ev);
	spool_reader_close(&k->rd);
	smtp_client_free(&k->c);
	free(k);
}

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tr_conn *k = arg;
	(void)fd;
	(void)what;
	if (k->job == NULL && !k->closing) {
		k->closing = true;
		smtp_client_quit(k->c);	/* closed() follows and frees k */
	}
}

static void
conn_idle(struct tr_conn *k)
{
	const struct timeval tv = { TRANSPORT_IDLE_SEC, 0 };
	k->job = NULL;
	spool_reader_close(&k->rd);
	(void)evtimer_add(k->idle_ev, &tv);
}

/* j's failure on this host, kept for the final reply when every host
 * fails ("a[1.2.3.4]:25: Connection refused; b[...]: 421 ...") */
static void
note_tried(struct tr_job *j, const char *what)
{
	size_t len = strlen(j->tried);
	if (len + 3 >= sizeof j->tried)
		return;
	/* cut to what fits: the last hosts' words matter less than the first */
	int room = (int)(sizeof j->tried - len - 3);
	(void)snprintf(j->tried + len, sizeof j->tried - len, "%s%.*s", len ? "; " : "", room, what);
}

static void
tls_up_cb(void *arg, const struct smtp_tls_info *info)
{
	struct tr_conn *k = arg;
	if (k->job != NULL)
		(void)snprintf(k->job->tls, sizeof k->job->tls, "%s %s", info->version, info->cipher);
}

static void
ready_cb(void *arg, struct smtp_client *c)
{
	struct tr_conn *k = arg;
	const char *mech = smtp_client_auth_mech(c);
	k->ready = true;
	if (k->job == NULL)
		return;
	if (mech != NULL)
		(void)snprintf(k->job->mech, sizeof k->job->mech, "%s", mech);
	conn_send(k);
}

/* One recipient's outcome from the session's result. */
static void
take_rcpt(struct tr_job *j, size_t i, const struct smtp_send_result *r, const char *remote)
{
	const struct smtp_rcpt_result *rr = &r->rcpts[i];
	struct transport_rcpt_result *o = &j->res[i];
	if (rr->delivered)
		tr_result_set(o, SMTP_CLASS_OK, SMTP_STAGE_DATA, rr->data_code ? rr->data_code : r->code,
			      rr->data_code ? rr->data_text : r->text, remote);
	else if (rr->code >= 400)
		tr_result_set(o, rr->cls, SMTP_STAGE_RCPT, rr->code, rr->text, remote);
	else if (rr->data_code != 0)
		tr_result_set(o, rr->cls, SMTP_STAGE_DATA, rr->data_code, rr->data_text, remote);
	else
		tr_result_set(o, r->cls != SMTP_CLASS_OK ? r->cls : SMTP_CLASS_TEMP, r->stage, r->code,
			      r->text, remote);
	j->fin[i] = true;
}

static void
sent_cb(void *arg, struct smtp_client *c, const struct smtp_send_result *r)
{
	struct tr_conn *k = arg;
	struct tr_job *j = k->job;
	(void)c;
	k->sending = false;
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n && i < r->nrcpts; i++)
		take_rcpt(j, i, r, k->remote);
	j->conn = NULL;
	conn_idle(k);
	tr_job_finish(j);
}

/* A failure before MAIL FROM: another host (or the same in the clear)
 * may do.  After it, the replies stand. */
static void
closed_busy(struct tr_conn *k, const struct smtp_client_error *err)
{
	struct tr_job *j = k->job;
	const char *why = k->rd_err[0] ? k->rd_err : err ? err->msg : "connection closed";
	enum smtp_class cls = err ? err->cls : SMTP_CLASS_TEMP;
	enum smtp_stage stage = k->rd_err[0] ? SMTP_STAGE_LOCAL : err ? err->stage : SMTP_STAGE_QUIT;
	int code = err ? err->code : 0;
	bool in_mail = k->sending;
	/* A reused connection that the server had dropped meanwhile (no
	 * reply), or that it closes with 421 at MAIL (a messages-per-
	 * connection limit): the message goes on a new connection, once. */
	bool dead_reuse = j->reused && !j->retried_reuse && stage == SMTP_STAGE_MAIL &&
			  (code == 0 || code == 421);
	j->conn = NULL;
	if (dead_reuse) {
		j->retried_reuse = true;
		j->reused = false;
		tr_smtp_next(j);
		return;
	}
	if (!in_mail && stage == SMTP_STAGE_AUTH && j->t->oauth != NULL && !j->oauth_retried) {
		/* the relay refused the token (revoked or expired early):
		 * refresh it and try the same host once more */
		j->oauth_retried = true;
		tr_oauth_refused(j->t);
		j->single_tried = false;
		if (j->addr > 0)
			j->addr--;
		tr_smtp_next(j);
		return;
	}
	if (in_mail || (cls == SMTP_CLASS_PERM && stage == SMTP_STAGE_AUTH)) {
		/* the replies decide; refused credentials are the same on
		 * every host of the relay.  But a refused AUTH (535) is a
		 * fault of our relay_credentials, not of the mail: it stays
		 * queued (temporary) until the admin fixes them, instead of
		 * bouncing everything, as Postfix's default
		 * smtp_sasl_auth_soft_bounce = yes does. */
		if (stage == SMTP_STAGE_AUTH)
			cls = SMTP_CLASS_TEMP;
		tr_job_fail_all(j, cls, stage, code, why, k->remote);
		return;
	}
	note_tried(j, why);
	/* The runner logs the attempt's outcome, from the last host only;
	 * a host passed over (down, 421, TLS failure) gets its own line. */
	char hq[LOG_SAFE_MAX], wq[LOG_SAFE_MAX];
	log_info("delivery id=%s route=%s remote=%s failed before MAIL: %s", j->e->id, j->route.key,
		 log_quote_str(hq, sizeof hq, k->remote), log_quote_str(wq, sizeof wq, why));
	if (err && err->kind == SMTP_FAIL_TLS && !j->clear_retry && j->route.kind == ROUTE_MX) {
		/* opportunistic TLS whose handshake failed: Postfix's "may"
		 * retries the same host without TLS */
		j->clear_retry = true;
		if (j->addr > 0)
			j->addr--;
	} else {
		j->clear_retry = false;
	}
	/* remember the last class for when every host fails */
	for (size_t i = 0; i < j->n; i++)
		tr_result_set(&j->res[i], cls, stage, code, j->tried, k->remote);
	tr_smtp_next(j);
}

static void
closed_cb(void *arg, struct smtp_client *c, const struct smtp_client_error *err)
{
	struct tr_conn *k = arg;
	(void)c;
	conn_unlink(k);
	if (k->job != NULL && !k->job->finished)
		closed_busy(k, err);
	conn_free(k);
}

static struct tr_conn *
conn_new(struct tr_job *j, const struct smtp_client_opts *o, const char *remote)
{
	static const struct smtp_client_cbs cbs = {
		.tls_up = tls_up_cb,
		.ready = ready_cb,
		.sent = sent_cb,
		.closed = closed_cb,
	};
	struct transport *t = j->t;
	struct tr_conn *k = calloc(1, sizeof *k);
	if (k == NULL)
		return NULL;
	k->t = t;
	k->job = j;
	(void)snprintf(k->key, sizeof k->key, "%s", j->route.key);
	(void)snprintf(k->remote, sizeof k->remote, "%s", remote);
	k->idle_ev = evtimer_new(t->base, idle_cb, k);
	k->c = k->idle_ev ? smtp_client_new(t->base, o, &cbs, k) : NULL;
	if (k->c == NULL) {
		conn_free(k);
		return NULL;
	}
	if (t->evdns != NULL && o->connect_addr == NULL && o->unix_path == NULL)
		smtp_client_set_dns(k->c, t->evdns);
	k->next = t->conns;
	t->conns = k;
	t->nconns++;
	j->conn = k;
	return k;
}

/* ---- the message ---- */

int
tr_body_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r)
{
	struct tr_conn *k = arg;
	char *err = NULL;
	ssize_t n = spool_reader_read(k->rd, buf, cap, &err);
	*n_r = 0;
	if (n < 0) {
		(void)snprintf(k->rd_err, sizeof k->rd_err, "%s", err ? err : "read error");
		free(err);
		return -1;
	}
	*n_r = (size_t)n;
	return 0;
}

/* RFC 4954 section 5: the submitter's identity as it came (cmd_mail.c
 * keeps AUTH= only from an authenticated client), else the login, else
 * "" for AUTH=<>. */
static const char *
auth_param(const struct spool_envelope *env)
{
	if (env->auth_param != NULL)
		return strcmp(env->auth_param, "<>") == 0 ? "" : env->auth_param;
	return env->auth_user != NULL ? env->auth_user : "";
}

static void
conn_send(struct tr_conn *k)
{
	struct tr_job *j = k->job;
	const struct spool_envelope *env = &j->e->env;
	char *err = NULL;
	k->rd_err[0] = '\0';
	k->rd = spool_reader_open(j->t->sp, j->e, &err);
	if (k->rd == NULL) {
		j->conn = NULL;
		conn_idle(k);
		tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0, err ? err : "out of memory",
				"");
		free(err);
		return;
	}
	/* the session borrows msg until sent(): it lives in the job */
	struct smtp_msg m = {
		.from = env->mail_from,
		.rcpts = j->rcpts,
		.nrcpts = j->n,
		.body = { tr_body_read, k },
		.size = j->e->size,
		.eightbit = env->body != NULL && strcmp(env->body, "8BITMIME") == 0,
		.strict_8bit = true,
		.auth = auth_param(env),
	};
	j->msg = m;
	k->sending = true;
	if (smtp_client_send(k->c, &j->msg) < 0) {
		k->sending = false;
		j->conn = NULL;
		conn_idle(k);
		tr_job_fail_all(j, SMTP_CLASS_PERM, SMTP_STAGE_MAIL, 0,
				"the envelope cannot be sent (an address or parameter is malformed)",
				k->remote);
	}
}

/* ---- where to connect ---- */

static void
base_opts(const struct tr_job *j, struct smtp_client_opts *o)
{
	const struct transport *t = j->t;
	const struct route_conf *rc = t->rc;
	memset(o, 0, sizeof *o);
	o->helo_name = rc->helo_name;
	o->protocol = SMTP_PROTO_SMTP;
	o->tls = SMTP_TLS_OPPORTUNISTIC;
	o->auth = SMTP_AUTH_OFF;
	if (j->route.kind != ROUTE_RELAY)
		return;
	o->port = rc->relay_port;
	o->tls = rc->relay_tls == ROUTE_TLS_NONE		? SMTP_TLS_NONE
		 : rc->relay_tls == ROUTE_TLS_OPPORTUNISTIC ? SMTP_TLS_OPPORTUNISTIC
		 : rc->relay_port == 465			? SMTP_TLS_IMPLICIT
							: SMTP_TLS_STARTTLS;
	o->tls_trust_file = rc->relay_tls_trust_file;
	if (t->relay_user != NULL) {
		o->auth = SMTP_AUTH_AUTO;
		o->user = t->relay_user;
		/* without TLS only mechanisms that keep the password
		 * (SCRAM, CRAM-MD5): smtp_client_pick_mechs() skips PLAIN and
		 * LOGIN on a clear connection */
		o->password = t->relay_pass;
	}
	tr_oauth_opts(t, o);
}

static bool
numeric(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void
connect_to(struct tr_job *j, struct smtp_client_opts *o, const char *remote)
{
	if (j->clear_retry)
		o->tls = SMTP_TLS_NONE;
	struct tr_conn *k = conn_new(j, o, remote);
	if (k == NULL) {
		tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0, "out of memory", "");
		return;
	}
	smtp_client_start(k->c);	/* failures come through closed_cb */
}

/* The one host of an LMTP route or of a relay in brackets. */
static void
single_target(struct tr_job *j)
{
	const struct route_conf *rc = j->t->rc;
	struct smtp_client_opts o;
	char remote[300];
	base_opts(j, &o);
	if (j->route.kind == ROUTE_LMTP) {
		o.protocol = SMTP_PROTO_LMTP;
		o.tls = SMTP_TLS_NONE;
		o.unix_path = rc->lmtp_unix;
		o.host = rc->lmtp_unix ? "localhost" : rc->lmtp_host;
		o.port = rc->lmtp_port;
		if (rc->lmtp_host != NULL && numeric(rc->lmtp_host))
			o.connect_addr = rc->lmtp_host;
		if (rc->lmtp_unix)
			(void)snprintf(remote, sizeof remote, "lmtp unix:%s", rc->lmtp_unix);
		else
			(void)snprintf(remote, sizeof remote, "lmtp %s:%u", rc->lmtp_host, rc->lmtp_port);
	} else {
		o.host = rc->relay_host;
		if (numeric(rc->relay_host))
			o.connect_addr = rc->relay_host;
		(void)snprintf(remote, sizeof remote, "[%s]:%u", rc->relay_host, rc->relay_port);
	}
	connect_to(j, &o, remote);
}

static void
mx_target(struct tr_job *j, const struct dns_mx_target *tg, const struct dns_mx_addr *a)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	char remote[300];
	struct smtp_client_opts o;
	const void *p = a->sa.ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
	(void)inet_ntop(a->sa.ss_family, p, ip, sizeof ip);
	base_opts(j, &o);
	if (j->route.kind == ROUTE_MX)
		o.port = 25;
	o.host = tg->host;
	o.connect_addr = ip;
	(void)snprintf(remote, sizeof remote, "%s[%s]:%u", tg->host, ip, o.port);
	connect_to(j, &o, remote);
}

/* Every host failed before MAIL: the results hold the last failure's
 * class and the list of what each host said. */
static void
out_of_targets(struct tr_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		j->fin[i] = true;
	tr_job_finish(j);
}

/* RFC 5321 section 5.1: when this host is one of the MX hosts, only
 * those with a lower preference value may be tried (the others would
 * send it back).  Recognised by name: hostname (the HELO name). */
static size_t
preferred_to_self(const struct dns_mx_result *res, const char *me)
{
	size_t n = strlen(me != NULL ? me : "");
	for (size_t i = 0; n > 0 && i < res->ntargets; i++) {
		const char *h = res->targets[i].host;
		size_t hl = strlen(h) - (h[0] && h[strlen(h) - 1] == '.');
		if (hl != n || strncasecmp(h, me, n) != 0)
			continue;
		size_t k = 0;
		while (k < res->ntargets && res->targets[k].pref < res->targets[i].pref)
			k++;
		return k;
	}
	return res->ntargets;
}

static void
mx_cb(void *arg, struct dns_mx_result *res)
{
	struct tr_job *j = arg;
	j->mx = res;
	j->ntargets = res->status == DNS_MX_OK ? preferred_to_self(res, j->t->rc->helo_name) : 0;
	if (res->status == DNS_MX_OK && j->ntargets == 0) {
		char why[400];
		(void)snprintf(why, sizeof why, "554 5.4.6 mail for %s loops back to myself (%s is "
			       "its most preferred MX host)", j->route.domain, j->t->rc->helo_name);
		tr_job_fail_all(j, SMTP_CLASS_PERM, SMTP_STAGE_CONNECT, 0, why, "");
		return;
	}
	if (res->status != DNS_MX_OK) {
		char why[400];
		(void)snprintf(why, sizeof why, "%s %s: %s",
			       res->status == DNS_MX_TEMPFAIL ? "451" : "550", res->enhanced,
			       res->why ? res->why : "DNS lookup failed");
		tr_job_fail_all(j, res->status == DNS_MX_TEMPFAIL ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM,
				SMTP_STAGE_CONNECT, 0, why, "");
		return;
	}
	tr_smtp_next(j);
}

void
tr_smtp_next(struct tr_job *j)
{
	if (tr_oauth_wait(j))
		return;
	if (!j->route.mx) {
		if (j->single_tried)
			out_of_targets(j);
		else {
			j->single_tried = true;
			single_target(j);
		}
		return;
	}
	if (j->mx == NULL) {
		if (dns_mx_lookup(j->t->dns, j->route.domain, mx_cb, j) < 0)
			tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0, "out of memory", "");
		return;
	}
	while (j->target < j->ntargets && j->attempts < TR_MAX_ADDRS) {
		const struct dns_mx_target *tg = &j->mx->targets[j->target];
		if (j->addr < tg->naddrs) {
			j->attempts++;
			mx_target(j, tg, &tg->addrs[j->addr++]);
			return;
		}
		j->target++;
		j->addr = 0;
	}
	out_of_targets(j);
}

void
tr_smtp_start(struct tr_job *j)
{
	struct transport *t = j->t;
	for (struct tr_conn *k = t->conns; k; k = k->next) {
		if (k->job != NULL || !k->ready || k->closing || strcmp(k->key, j->route.key) != 0)
			continue;
		(void)event_del(k->idle_ev);
		k->job = j;
		j->conn = k;
		j->reused = true;
		conn_send(k);
		return;
	}
	tr_smtp_next(j);
}

void
tr_conn_close_idle(struct transport *t)
{
	for (struct tr_conn *k = t->conns; k; k = k->next)
		if (k->job == NULL && k->ready && !k->closing)
			event_active(k->idle_ev, 0, 0);
}

void
tr_conn_free_all(struct transport *t)
{
	while (t->conns != NULL) {
		struct tr_conn *k = t->conns;
		t->conns = k->next;
		t->nconns--;
		conn_free(k);
	}
}
