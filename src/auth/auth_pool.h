/* auth_pool.h - the auth process's workers for expensive credential
 * checks (crypt_r: yescrypt costs milliseconds by design), so that the
 * auth process's event loop never waits for one (doc/architecture.md).
 *
 * Bounded and fair:
 * - at most AUTH_POOL_QUEUE_MAX jobs queued or running in all;
 * - at most per_net of them from one client network (IPv4 /24, IPv6
 *   /64); the next ones from that network wait in its own FIFO (at most
 *   AUTH_POOL_NET_WAIT), and are admitted one by one as its jobs end;
 * - past either bound auth_pool_submit() refuses (the caller answers
 *   454), so a spray fills a bounded queue and cannot starve others.
 * Cheap answers never come here: they are given on the loop at once.
 */
#ifndef POSTERN_AUTH_POOL_H
#define POSTERN_AUTH_POOL_H

#include <stddef.h>

struct event_base;
struct store_job;
struct auth_pool;

/* 256 jobs of ~11 ms on 2 CPUs is about 1.4 s of work: a client behind
 * a full queue still gets its answer well within any client timeout. */
#define AUTH_POOL_QUEUE_MAX 256
/* Requests of one network waiting for their turn, beyond per_net. */
#define AUTH_POOL_NET_WAIT 8
#define AUTH_POOL_WORKERS_MAX 64

/* Called on the loop's thread when a job has run; ctx as submitted. */
typedef void auth_pool_done_fn(void *ctx, struct store_job *job);

/* workers threads (0: one per online CPU), per_net as above (>= 1).
 * NULL when threads or the wake-up pipe cannot be made. */
struct auth_pool *auth_pool_new(struct event_base *base, unsigned workers, unsigned per_net,
				auth_pool_done_fn *done);
/* Stops and joins the workers; jobs not handed back yet go to done()
 * as they are (maybe unrun): the owner must be ready for that, i.e. free
 * them.  NULL-safe; sets *pp = NULL. */
void auth_pool_free(struct auth_pool **pp);

/* Takes job (also when refused: then it is freed) for client address ip
 * (numeric).  Returns 0 (done(ctx, job) follows, on the loop), or -1
 * when the bounds are reached. */
int auth_pool_submit(struct auth_pool *p, const char *ip, struct store_job *job, void *ctx);

/* Jobs of other kinds (the RCPT-time LMTP callout, lmtp_callout.h)
 * share the workers and the same per-network bounds: run(job) on a
 * worker thread, then done(ctx, job) on the loop's thread -- also for a
 * job that never ran (auth_pool_free), which done must tell apart
 * itself if it cares.  Returns 0, or -1 past the bounds: then job stays
 * the caller's and done is not called. */
typedef void auth_pool_run_fn(void *job);
typedef void auth_pool_job_done_fn(void *ctx, void *job);
int auth_pool_submit_job(struct auth_pool *p, const char *ip, auth_pool_run_fn *run,
			 auth_pool_job_done_fn *done, void *job, void *ctx);

/* Tests and logs: jobs admitted (queued or running), waiting. */
void auth_pool_counts(const struct auth_pool *p, size_t *admitted_r, size_t *waiting_r);

#endif
