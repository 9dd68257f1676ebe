/* auth_req.c - one SASL exchange in the auth process: the mechanism's
 * steps, the store's answers (at once, or from a worker), and the
 * answer to the network process (CONTINUE, OK or FAIL).
 *
 * Never logged or sent in an error: the client's messages, passwords,
 * derived keys.  Reasons are the mechanisms' static strings.
 */
#include "auth/authd_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/auth_pool.h"
#include "sasl/sasl.h"
#include <event2/event.h>
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"

static struct auth_req_list *
req_bucket(struct auth_conn *c, uint32_t id)
{
	return &c->reqs[id % AUTH_REQ_BUCKETS];
}

static struct auth_req *
req_find(struct auth_conn *c, uint32_t id)
{
	struct auth_req *r;
	LIST_FOREACH(r, req_bucket(c, id), link)
		if (r->id == id)
			return r;
	return NULL;
}

/* Ends the request: off its connection and freed, unless a job of it
 * is still with the workers (then auth_req_job_done frees it). */
static void
req_end(struct auth_req *r)
{
	if (r->c != NULL) {
		LIST_REMOVE(r, link);
		r->c = NULL;
	}
	if (r->in_pool)
		return;
	auth_throttle_cancel(r);	/* before the SASL session (it has the user) */
	if (r->delay_ev != NULL)
		event_free(r->delay_ev);
	if (r->held_job != NULL)
		store_job_free(&r->held_job);
	OPENSSL_cleanse(&r->held, sizeof r->held);
	sasl_sess_free(&r->sasl);
	OPENSSL_cleanse(r, sizeof *r);
	free(r);
}

static void
req_fail(struct auth_req *r, enum auth_fail_kind kind, const char *why)
{
	const char *user = r->sasl ? sasl_sess_authcid(r->sasl) : NULL;
	size_t ulen = user ? strlen(user) : 0;
	if (ulen > AUTH_PROTO_USER_MAX)
		ulen = AUTH_PROTO_USER_MAX;
	uint32_t delay = 0;
	if (kind == AUTH_FAIL_INVALID) {
		auth_throttle_record(r, false);
		delay = auth_fail_delay();
	}
	uint8_t k = (uint8_t)kind, d[4] = { (uint8_t)(delay >> 24), (uint8_t)(delay >> 16),
					    (uint8_t)(delay >> 8), (uint8_t)delay };
	size_t wlen = why ? strlen(why) : 0;
	struct auth_field f[4] = {
		{ &k, 1 },
		{ (const uint8_t *)user, ulen },
		{ d, 4 },
		{ (const uint8_t *)why, wlen > AUTH_PROTO_WHY_MAX ? AUTH_PROTO_WHY_MAX : wlen },
	};
	if (r->c != NULL)
		(void)authd_send(r->c, AUTH_MSG_FAIL, r->id, f, 4);
	req_end(r);
}

static void
req_ok(struct auth_req *r)
{
	const char *user = sasl_sess_authcid(r->sasl);
	const char *authz = sasl_sess_authzid(r->sasl);
	/* The credentials were right, whatever follows: the pair of this
	 * address and user is known good from now on. */
	auth_throttle_record(r, true);
	/* We do not let one user act for another: an authorization
	 * identity other than the user's own is a failure. */
	if (authz != NULL && authz[0] != '\0' && strcmp(authz, user) != 0) {
		req_fail(r, AUTH_FAIL_INVALID, "authorization identity differs from the user");
		return;
	}
	struct auth_field f = { (const uint8_t *)user, strlen(user) };
	if (f.n > AUTH_PROTO_USER_MAX) {
		req_fail(r, AUTH_FAIL_TEMP, "user name too long for the protocol");
		return;
	}
	if (r->c != NULL)
		(void)authd_send(r->c, AUTH_MSG_OK, r->id, &f, 1);
	req_end(r);
}

/* Acts on a sasl_step() result other than SASL_NEED_CRED. */
static void
req_answer(struct auth_req *r, enum sasl_rc rc, const struct buf *out, const char *why)
{
	switch (rc) {
	case SASL_MORE: {
		struct auth_field f = { out->p, out->len };
		if (r->c == NULL || !authd_send(r->c, AUTH_MSG_CONTINUE, r->id, &f, 1))
			req_end(r);
		return;
	}
	case SASL_DONE:
		req_ok(r);
		return;
	case SASL_FAIL:
		req_fail(r, AUTH_FAIL_INVALID, why);
		return;
	case SASL_BADSYNTAX:
		req_fail(r, AUTH_FAIL_SYNTAX, why);
		return;
	case SASL_TEMPFAIL:
	case SASL_NEED_CRED:
		req_fail(r, AUTH_FAIL_TEMP, why ? why : "credential store");
		return;
	}
}

static void req_creds(struct auth_req *r, enum sasl_rc rc, struct buf *out, const char *why);

/* The throttle's delay is over: check the credentials now. */
static void
req_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_req *r = arg;
	struct buf out;
	buf_init(&out, SASL_MSG_MAX);
	req_creds(r, SASL_NEED_CRED, &out, NULL);
	buf_wipe_free(&out);
}

/* Before the first credential check of the exchange, the store is
 * asked (once) and the throttle decides on its answer in hand (in *a,
 * *jp): check now (true), later (r keeps the answer; a timer calls
 * req_delay_done), or never (the request ends with AUTH_FAIL_THROTTLED).
 * False: r waits or is gone.
 * A password the store knows to be right without a check (its login
 * cache: only passwords that were right enter it) is no guess: it skips
 * the throttle, so that a user's many parallel logins, or the owner's
 * during a spray, never wait behind counts.  Wrong or unknown ones,
 * and everything that needs a check, do not skip it. */
static bool
req_gate(struct auth_req *r, struct sasl_cred_answer *a, struct store_job **jp)
{
	r->gated = true;
	if (*jp == NULL && a->status == SASL_CRED_OK &&
	    sasl_cred_request(r->sasl)->kind == SASL_CRED_PASSWORD)
		return true;
	unsigned ms = 0;
	switch (auth_throttle_check(r, &ms)) {
	case THROTTLE_ALLOW:
		return true;
	case THROTTLE_DELAY: {
		if (r->delay_ev == NULL)
			r->delay_ev = evtimer_new(r->d->base, req_delay_done, r);
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000L };
		if (r->delay_ev == NULL || evtimer_add(r->delay_ev, &tv) < 0)
			return true;	/* no timer: check now rather than hang */
		r->held_job = *jp;	/* the answer waits with r */
		r->held = *a;
		r->holding = true;
		*jp = NULL;
		OPENSSL_cleanse(a, sizeof *a);
		return false;
	}
	case THROTTLE_REFUSE:
		break;
	}
	if (*jp != NULL)
		store_job_free(jp);
	OPENSSL_cleanse(a, sizeof *a);
	req_fail(r, AUTH_FAIL_THROTTLED, "refused by the throttle");
	return false;
}

/* Answers the mechanism's credential requests (rc == SASL_NEED_CRED)
 * as often as it asks, then acts on its result; a check that needs
 * crypt_r goes to the workers and the exchange goes on in
 * auth_req_job_done(). */
static void
req_creds(struct auth_req *r, enum sasl_rc rc, struct buf *out, const char *why)
{
	while (rc == SASL_NEED_CRED) {
		struct sasl_cred_answer a;
		struct store_job *j;
		if (r->holding) {	/* after the throttle's delay */
			j = r->held_job;
			a = r->held;
			r->held_job = NULL;
			r->holding = false;
			OPENSSL_cleanse(&r->held, sizeof r->held);
		} else {
			const struct sasl_cred_request *q = sasl_cred_request(r->sasl);
			j = store_answer_begin(authd_store_for(r->d, q->kind), q, &a);
			if (!r->gated && !req_gate(r, &a, &j))
				return;
		}
		if (j != NULL) {
			if (auth_pool_submit(r->d->pool, r->ip, j, r) < 0) {
				req_fail(r, AUTH_FAIL_BUSY, "too many checks in flight for this network");
				return;
			}
			r->in_pool = true;
			return;
		}
		sasl_cred_supply(r->sasl, &a);
		OPENSSL_cleanse(&a, sizeof a);
		rc = sasl_step(r->sasl, NULL, 0, out, &why);
	}
	req_answer(r, rc, out, why);
}

/* Feeds one client message (in == NULL: none, or resume after the
 * store answered) and answers. */
static void
req_step(struct auth_req *r, const uint8_t *in, size_t n)
{
	struct buf out;
	const char *why = NULL;
	buf_init(&out, SASL_MSG_MAX);
	enum sasl_rc rc = sasl_step(r->sasl, in, n, &out, &why);
	req_creds(r, rc, &out, why);
	buf_wipe_free(&out);
}

void
auth_req_job_done(void *ctx, struct store_job *job)
{
	struct auth_req *r = ctx;
	r->in_pool = false;
	if (r->c == NULL) {	/* cancelled, or its connection went away */
		store_job_free(&job);
		req_end(r);
		return;
	}
	struct sasl_cred_answer a;
	store_job_end(authd_store_for(r->d, sasl_cred_request(r->sasl)->kind), &job, &a);
	sasl_cred_supply(r->sasl, &a);
	OPENSSL_cleanse(&a, sizeof a);
	req_step(r, NULL, 0);
}

static bool
req_mech_offered(const struct authd *d, const struct sasl_mech *m)
{
	for (size_t i = 0; m != NULL && i < d->nmechs; i++)
		if (d->mechs[i] == m)
			return true;
	return false;
}

/* AUTH_START fields 5 and 6 (auth_proto.c checked their sizes, and
 * that they come only with TLS): the channel's binding data, or NULL
 * without TLS. */
static const struct sasl_cb *
req_start_cb(const struct auth_msg *m, struct sasl_cb *cb)
{
	memset(cb, 0, sizeof *cb);
	if ((m->f[2].p[0] & AUTH_START_TLS) == 0)
		return NULL;
	const struct auth_field *x = &m->f[AUTH_START_F_CB_EXPORTER];
	const struct auth_field *e = &m->f[AUTH_START_F_CB_END_POINT];
	if (x->n == sizeof cb->exporter) {
		memcpy(cb->exporter, x->p, x->n);
		cb->has_exporter = true;
	}
	if (e->n > 0 && e->n <= sizeof cb->end_point) {
		memcpy(cb->end_point, e->p, e->n);
		cb->end_point_len = e->n;
	}
	return cb;
}

/* AUTH_START field 7: the user the client's certificate maps to, as a
 * string in buf; NULL when there is none (or it holds a NUL). */
static const char *
req_start_external(const struct auth_msg *m, char buf[AUTH_PROTO_USER_MAX + 1])
{
	const struct auth_field *f = &m->f[AUTH_START_F_EXTERNAL];
	if (f->n == 0 || memchr(f->p, '\0', f->n) != NULL)
		return NULL;
	memcpy(buf, f->p, f->n);
	buf[f->n] = '\0';
	return buf;
}

int
auth_req_start(struct auth_conn *c, const struct auth_msg *m)
{
	if (req_find(c, m->id) != NULL) {
		log_err("auth: request id %" PRIu32 " started twice", m->id);
		return -1;
	}
	struct auth_req *r = calloc(1, sizeof *r);
	if (r == NULL)
		return 0;	/* nothing to answer with: the session times out */
	r->d = c->d;
	r->c = c;
	r->id = m->id;
	LIST_INSERT_HEAD(req_bucket(c, m->id), r, link);
	memcpy(r->ip, m->f[1].p, m->f[1].n);
	r->tls = (m->f[2].p[0] & AUTH_START_TLS) != 0;
	for (size_t i = 0; i < 8; i++)
		r->sid = r->sid << 8 | m->f[3].p[i];
	const struct sasl_mech *mech = sasl_mech_find((const char *)m->f[0].p, m->f[0].n);
	if (!req_mech_offered(c->d, mech)) {
		req_fail(r, AUTH_FAIL_TEMP, "mechanism not offered by the auth process");
		return 0;
	}
	struct sasl_cb cb;
	char ext[AUTH_PROTO_USER_MAX + 1];
	struct sasl_server_params p = {
		.hostname = c->d->cfg->hostname,
		.fake_salt_key = c->d->fake_salt_key,
		.fake_salt_key_len = sizeof c->d->fake_salt_key,
		.cb = req_start_cb(m, &cb),
		.plus_offered = (m->f[2].p[0] & AUTH_START_PLUS) != 0,
		.external_user = req_start_external(m, ext),
	};
	r->sasl = sasl_server_new(mech, &p);
	if (r->sasl == NULL) {
		req_fail(r, AUTH_FAIL_TEMP, "out of memory");
		return 0;
	}
	bool ir = (m->f[2].p[0] & AUTH_START_IR) != 0;
	/* "in == NULL" is no message, an empty one is "" (sasl.h). */
	req_step(r, ir ? (m->f[4].p ? m->f[4].p : (const uint8_t *)"") : NULL, m->f[4].n);
	return 0;
}

int
auth_req_cont(struct auth_conn *c, const struct auth_msg *m)
{
	struct auth_req *r = req_find(c, m->id);
	if (r == NULL || r->in_pool) {
		log_err("auth: response for request %" PRIu32 ", which waits for none", m->id);
		return -1;
	}
	req_step(r, m->f[0].p ? m->f[0].p : (const uint8_t *)"", m->f[0].n);
	return 0;
}

void
auth_req_cancel(struct auth_conn *c, const struct auth_msg *m)
{
	/* Our answer may have crossed the cancel: an unknown id is fine. */
	struct auth_req *r = req_find(c, m->id);
	if (r != NULL)
		req_end(r);
}

void
auth_req_orphan_all(struct auth_conn *c)
{
	for (size_t b = 0; b < AUTH_REQ_BUCKETS; b++) {
		struct auth_req *r;
		while ((r = LIST_FIRST(&c->reqs[b])) != NULL)
			req_end(r);
	}
}
