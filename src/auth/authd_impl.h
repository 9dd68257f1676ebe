/* authd_impl.h - the auth process's parts, shared by authd.c (process,
 * connections) and auth_req.c (one SASL exchange).  Internal. */
#ifndef POSTERN_AUTH_AUTHD_IMPL_H
#define POSTERN_AUTH_AUTHD_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "auth/authd.h"
#include "auth/throttle.h"
#include "ipc/auth_proto.h"
#include "sasl/sasl.h"
#include "server/config.h"

struct auth_pool;
struct bufferevent;
struct event;
struct iptab;
struct sasl_sess;
struct sasl_mech;
struct store;
struct store_job;

#define AUTH_REQ_BUCKETS 64

struct auth_req {
	struct authd *d;
	struct auth_conn *c;		/* NULL once its connection is gone */
	uint32_t id;
	uint64_t sid;			/* the network process's session id, for logs */
	struct sasl_sess *sasl;
	char ip[AUTH_PROTO_IP_MAX + 1];
	bool tls;
	bool in_pool;			/* a job of it is with the workers */
	/* The throttle (auth_throttle.c): asked once per exchange, before
	 * its credential check; counted until recorded or cancelled. */
	bool gated, counted, has_tag;
	struct throttle_ip tip;
	uint8_t tag[THROTTLE_TAG_LEN];	/* this attempt's tag, wiped after */
	struct event *delay_ev;		/* the throttle's delay, made on first use */
	bool holding;			/* the store's answer waits out that delay: */
	struct store_job *held_job;	/* the check to run, or NULL and */
	struct sasl_cred_answer held;	/* the answer given at once (wiped after) */
	LIST_ENTRY(auth_req) link;	/* c->reqs[id % AUTH_REQ_BUCKETS] */
};
LIST_HEAD(auth_req_list, auth_req);

struct auth_rcpt_job;
LIST_HEAD(auth_rcpt_jobs, auth_rcpt_job);

struct auth_conn {
	struct authd *d;
	struct bufferevent *bev;
	struct auth_req_list reqs[AUTH_REQ_BUCKETS];
	struct auth_rcpt_jobs rcpt_jobs;	/* LMTP callouts with the workers */
	TAILQ_ENTRY(auth_conn) link;
	struct auth_proto_dec dec;	/* last: 16 KiB */
};
TAILQ_HEAD(auth_conn_list, auth_conn);

struct authd {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	struct auth_pool *pool;
	/* AUTH failures per address, subnet and user (auth/throttle.h);
	 * kept across SIGHUP, which only changes its limits. */
	struct throttle *throttle;
	uint8_t tag_key[32];		/* keys the attempt tags; random per process */
	uint8_t fake_salt_key[AUTHD_SALT_KEY_LEN];
	const struct sasl_mech *mechs[CONFIG_MECH_MAX];	/* offered: listed and completable */
	size_t nmechs;
	struct auth_conn_list conns;
	bool broken;
	/* Local recipients at RCPT (auth_rcpt.c): the map, the LMTP server
	 * to ask, and its recent answers. */
	struct auth_rcpt *rcpt;
};

/* authd.c: sends one message on c; false when it could not be encoded
 * (a bug, logged).  The encoding buffer is wiped after. */
bool authd_send(struct auth_conn *c, enum auth_msg_type type, uint32_t id,
		const struct auth_field *f, size_t nfields);

/* auth_req.c: the three requests of the network process.  -1 is a
 * protocol violation (the connection is dropped, the process exits). */
int auth_req_start(struct auth_conn *c, const struct auth_msg *m);
int auth_req_cont(struct auth_conn *c, const struct auth_msg *m);
void auth_req_cancel(struct auth_conn *c, const struct auth_msg *m);
/* The connection goes away: frees its requests (those with a job in
 * the pool are freed when the job comes back). */
void auth_req_orphan_all(struct auth_conn *c);
/* auth_pool_done_fn */
void auth_req_job_done(void *ctx, struct store_job *job);

/* auth_rcpt.c: is a local recipient known (RCPT_CHECK)?  Answers at
 * once from the local_recipients map and the store, or asks the LMTP
 * server on a worker and answers when it is back.
 * auth_rcpt_new: from cfg (the map read, local_delivery's lmtp form);
 * NULL with *err_r malloc'd ("PATH:LINE: why").  A reload makes a new
 * one and frees the old (its cache goes with it).  -1 from check is a
 * protocol violation. */
struct auth_rcpt *auth_rcpt_new(const struct config *cfg, char **err_r);
void auth_rcpt_free(struct auth_rcpt **rp);
int auth_rcpt_check(struct auth_conn *c, const struct auth_msg *m);
/* The connection goes away: its callouts answer nobody. */
void auth_rcpt_orphan_all(struct auth_conn *c);

/* auth_throttle.c: before the credential check of r's request: may it
 * go ahead now, after *delay_ms_r, or not at all?  Logs a throttled
 * attempt.  Then exactly one of record (the outcome) or cancel (nothing
 * was checked after all); cancel is a no-op when nothing is pending. */
enum throttle_verdict auth_throttle_check(struct auth_req *r, unsigned *delay_ms_r);
void auth_throttle_record(struct auth_req *r, bool success);
void auth_throttle_cancel(struct auth_req *r);
/* The delay before a 535: flat, with jitter (ms). */
uint32_t auth_fail_delay(void);

#endif
