/* auth_pool.c - worker threads for expensive credential checks, with a
 * bounded, per-network fair queue (auth_pool.h).
 *
 * Threads see only the todo and done lists (under mu) and the jobs
 * themselves, which hold copies of all they need (store.h): the store,
 * the SASL sessions and the per-network table stay on the loop's
 * thread.  A worker that finishes a job puts it on done and writes a
 * byte into a pipe; the loop drains the pipe and hands each job back.
 */
#include "auth/auth_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "store/store.h"

struct pool_net;

struct pool_item {
	void *job;
	auth_pool_run_fn *run;		/* NULL: a store job (store_job_run, p->done_fn) */
	auth_pool_job_done_fn *done;
	void *ctx;
	struct pool_net *net;
	TAILQ_ENTRY(pool_item) link;
};
TAILQ_HEAD(pool_items, pool_item);

/* One client network: IPv4 /24 or IPv6 /64 (key[0] is the family). */
struct pool_net {
	uint8_t key[9];
	unsigned admitted;		/* its jobs queued or running */
	size_t nwait;
	struct pool_items wait;		/* its requests beyond per_net */
	LIST_ENTRY(pool_net) link;
};

#define POOL_NET_BUCKETS 64

struct auth_pool {
	struct event_base *base;
	struct event *wake_ev;
	int wake[2];
	pthread_t threads[AUTH_POOL_WORKERS_MAX];
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_items todo;		/* under mu: admitted, not started */
	struct pool_items done;		/* under mu: run, for the loop */
	bool stop;			/* under mu */
	/* the loop's thread only: */
	size_t admitted, waiting;
	unsigned per_net;
	LIST_HEAD(, pool_net) nets[POOL_NET_BUCKETS];
	auth_pool_done_fn *done_fn;
	/* Every item lives here: admitted + waiting never exceed the
	 * queue bound, so no item is ever allocated. */
	struct pool_items spare;
	struct pool_item items[AUTH_POOL_QUEUE_MAX];
};

static void
pool_net_key(const char *ip, uint8_t key[9])
{
	memset(key, 0, 9);
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		key[0] = 4;
		memcpy(key + 1, a, 3);		/* /24 */
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		key[0] = 6;
		memcpy(key + 1, a, 8);		/* /64 */
	}
}

static size_t
pool_net_bucket(const uint8_t key[9])
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (size_t i = 0; i < 9; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % POOL_NET_BUCKETS;
}

/* The entry of ip's network, made when missing; NULL when out of memory. */
static struct pool_net *
pool_net_get(struct auth_pool *p, const char *ip)
{
	uint8_t key[9];
	pool_net_key(ip, key);
	size_t b = pool_net_bucket(key);
	struct pool_net *n;
	LIST_FOREACH(n, &p->nets[b], link)
		if (memcmp(n->key, key, sizeof key) == 0)
			return n;
	n = calloc(1, sizeof *n);
	if (n == NULL)
		return NULL;
	memcpy(n->key, key, sizeof key);
	TAILQ_INIT(&n->wait);
	LIST_INSERT_HEAD(&p->nets[b], n, link);
	return n;
}

static void
pool_net_maybe_free(struct pool_net *n)
{
	if (n->admitted > 0 || n->nwait > 0)
		return;
	LIST_REMOVE(n, link);
	free(n);
}

/* Hands item to the workers. */
static void
pool_admit(struct auth_pool *p, struct pool_item *it)
{
	it->net->admitted++;
	p->admitted++;
	pthread_mutex_lock(&p->mu);
	TAILQ_INSERT_TAIL(&p->todo, it, link);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Puts item in its network's FIFO, behind the jobs of that network. */
static void
pool_wait(struct auth_pool *p, struct pool_item *it)
{
	struct pool_net *n = it->net;
	TAILQ_INSERT_TAIL(&n->wait, it, link);
	n->nwait++;
	p->waiting++;
}

static void *
pool_worker(void *arg)
{
	struct auth_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && TAILQ_EMPTY(&p->todo))
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		struct pool_item *it = TAILQ_FIRST(&p->todo);
		TAILQ_REMOVE(&p->todo, it, link);
		pthread_mutex_unlock(&p->mu);
		if (it->run != NULL)
			it->run(it->job);
		else
			store_job_run(it->job);
		pthread_mutex_lock(&p->mu);
		TAILQ_INSERT_TAIL(&p->done, it, link);
		/* A full pipe already wakes the loop: EAGAIN is fine. */
		(void)!write(p->wake[1], "", 1);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Hands a job back to its owner (run or not). */
static void
pool_item_done(struct auth_pool *p, struct pool_item *it)
{
	if (it->run != NULL)
		it->done(it->ctx, it->job);
	else
		p->done_fn(it->ctx, it->job);
}

/* On the loop: hands finished jobs back, admits the waiting. */
static void
pool_wake(evutil_socket_t fd, short what, void *arg)
{
	struct auth_pool *p = arg;
	char sink[256];
	while (read(fd, sink, sizeof sink) > 0)
		continue;
	struct pool_items done = TAILQ_HEAD_INITIALIZER(done);
	pthread_mutex_lock(&p->mu);
	TAILQ_CONCAT(&done, &p->done, link);
	pthread_mutex_unlock(&p->mu);
	struct pool_item *it;
	while ((it = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, it, link);
		struct pool_net *n = it->net;
		n->admitted--;
		p->admitted--;
		struct pool_item *next = TAILQ_FIRST(&n->wait);
		if (next != NULL) {
			TAILQ_REMOVE(&n->wait, next, link);
			n->nwait--;
			p->waiting--;
			pool_admit(p, next);
		}
		pool_net_maybe_free(n);
		pool_item_done(p, it);
		TAILQ_INSERT_TAIL(&p->spare, it, link);
	}
}

static unsigned
pool_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1u : n > AUTH_POOL_WORKERS_MAX ? AUTH_POOL_WORKERS_MAX : (unsigned)n;
}

struct auth_pool *
auth_pool_new(struct event_base *base, unsigned workers, unsigned per_net, auth_pool_done_fn *done)
{
	struct auth_pool *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->base = base;
	p->per_net = per_net ? per_net : 1;
	p->done_fn = done;
	TAILQ_INIT(&p->todo);
	TAILQ_INIT(&p->done);
	TAILQ_INIT(&p->spare);
	for (size_t i = 0; i < AUTH_POOL_QUEUE_MAX; i++)
		TAILQ_INSERT_TAIL(&p->spare, &p->items[i], link);
	for (size_t i = 0; i < POOL_NET_BUCKETS; i++)
		LIST_INIT(&p->nets[i]);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->wake[0] = p->wake[1] = -1;
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) < 0 ||
	    (p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, pool_wake, p)) == NULL ||
	    event_add(p->wake_ev, NULL) < 0) {
		auth_pool_free(&p);
		return NULL;
	}
	unsigned n = workers ? workers : pool_cpus();
	if (n > AUTH_POOL_WORKERS_MAX)
		n = AUTH_POOL_WORKERS_MAX;
	for (; p->nthreads < n; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p) != 0)
			break;
	if (p->nthreads == 0) {
		auth_pool_free(&p);
		return NULL;
	}
	return p;
}

/* At the end: every job still here goes back to its owner unrun, so
 * that the owner can free what waits for it. */
static void
pool_items_return(struct auth_pool *p, struct pool_items *l)
{
	struct pool_item *it;
	while ((it = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, it, link);
		pool_item_done(p, it);
	}
}

void
auth_pool_free(struct auth_pool **pp)
{
	struct auth_pool *p = *pp;
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pool_items_return(p, &p->todo);
	pool_items_return(p, &p->done);
	for (size_t b = 0; b < POOL_NET_BUCKETS; b++) {
		struct pool_net *n;
		while ((n = LIST_FIRST(&p->nets[b])) != NULL) {
			LIST_REMOVE(n, link);
			pool_items_return(p, &n->wait);
			free(n);
		}
	}
	if (p->wake_ev != NULL)
		event_free(p->wake_ev);
	for (int i = 0; i < 2; i++)
		if (p->wake[i] >= 0)
			close(p->wake[i]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	*pp = NULL;
}

/* Admits or queues a job for ip's network; -1 past the bounds (the
 * job stays the caller's). */
static int
pool_submit(struct auth_pool *p, const char *ip, struct pool_item proto)
{
	struct pool_net *n = pool_net_get(p, ip);
	struct pool_item *it = TAILQ_FIRST(&p->spare);
	if (n == NULL || it == NULL || (n->admitted >= p->per_net && n->nwait >= AUTH_POOL_NET_WAIT)) {
		if (n != NULL)
			pool_net_maybe_free(n);
		return -1;
	}
	TAILQ_REMOVE(&p->spare, it, link);
	it->job = proto.job;
	it->run = proto.run;
	it->done = proto.done;
	it->ctx = proto.ctx;
	it->net = n;
	if (n->admitted < p->per_net)
		pool_admit(p, it);
	else
		pool_wait(p, it);
	return 0;
}

int
auth_pool_submit(struct auth_pool *p, const char *ip, struct store_job *job, void *ctx)
{
	if (pool_submit(p, ip, (struct pool_item){ .job = job, .ctx = ctx }) < 0) {
		store_job_free(&job);
		return -1;
	}
	return 0;
}

int
auth_pool_submit_job(struct auth_pool *p, const char *ip, auth_pool_run_fn *run,
		     auth_pool_job_done_fn *done, void *job, void *ctx)
{
	return pool_submit(p, ip, (struct pool_item){ .job = job, .run = run, .done = done, .ctx = ctx });
}

void
auth_pool_counts(const struct auth_pool *p, size_t *admitted_r, size_t *waiting_r)
{
	*admitted_r = p->admitted;
	*waiting_r = p->waiting;
}
