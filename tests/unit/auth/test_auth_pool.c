/* test_auth_pool.c - the auth process's worker pool (src/auth/auth_pool.c):
 * jobs run off the loop and come back on it; one client network (IPv4
 * /24, IPv6 /64) has at most per_net jobs admitted and a few waiting,
 * and is refused beyond that while another network is still served;
 * freeing the pool hands unfinished jobs back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>

#include "auth/auth_pool.h"
#include "store/store_impl.h"

/* A job that blocks its worker until the test opens the gate. */
struct test_job {
	struct store_job base;
	int ran;
};

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void
tj_run(struct store_job *j)
{
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	((struct test_job *)(void *)j)->ran = 1;
}

static void
tj_free(struct store_job *j)
{
	free(j);
}

static const struct store_ops tj_ops = { .scheme = "test", .run = tj_run, .job_free = tj_free };

static size_t done_count, done_ran;

static void
on_done(void *ctx, struct store_job *job)
{
	done_count++;
	done_ran += (size_t)((struct test_job *)(void *)job)->ran;
	free(job);
}

static struct store_job *
new_job(void)
{
	struct test_job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	j->base.ops = &tj_ops;
	return &j->base;
}

static void
open_gate(int open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void
test_fair_per_network(void **state)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	open_gate(0);
	done_count = done_ran = 0;
	struct auth_pool *p = auth_pool_new(base, 2, 2, on_done);
	assert_non_null(p);
	/* one /24: 2 admitted + AUTH_POOL_NET_WAIT waiting, then refused */
	const char *spray[] = { "198.51.100.1", "198.51.100.77", "198.51.100.254" };
	for (size_t i = 0; i < 2 + AUTH_POOL_NET_WAIT; i++)
		assert_int_equal(auth_pool_submit(p, spray[i % 3], new_job(), NULL), 0);
	assert_int_equal(auth_pool_submit(p, "198.51.100.9", new_job(), NULL), -1);
	size_t admitted, waiting;
	auth_pool_counts(p, &admitted, &waiting);
	assert_int_equal(admitted, 2);
	assert_int_equal(waiting, AUTH_POOL_NET_WAIT);
	/* another /24 and another /64 are still admitted at once */
	assert_int_equal(auth_pool_submit(p, "198.51.101.1", new_job(), NULL), 0);
	assert_int_equal(auth_pool_submit(p, "2001:db8:0:1::1", new_job(), NULL), 0);
	assert_int_equal(auth_pool_submit(p, "2001:db8:0:1:ffff::2", new_job(), NULL), 0);
	assert_int_equal(auth_pool_submit(p, "2001:db8:0:1:ffff::3", new_job(), NULL), 0);
	auth_pool_counts(p, &admitted, &waiting);
	assert_int_equal(admitted, 5);
	assert_int_equal(waiting, AUTH_POOL_NET_WAIT + 1);
	/* let them run: every job comes back on the loop, all ran */
	open_gate(1);
	size_t want = 2 + AUTH_POOL_NET_WAIT + 4;
	for (int round = 0; round < 2000 && done_count < want; round++)
		(void)event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(done_count, want);
	assert_int_equal(done_ran, want);
	auth_pool_counts(p, &admitted, &waiting);
	assert_int_equal(admitted + waiting, 0);
	auth_pool_free(&p);
	assert_null(p);
	event_base_free(base);
}

static void
test_free_hands_back_unfinished(void **state)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	open_gate(0);
	done_count = done_ran = 0;
	struct auth_pool *p = auth_pool_new(base, 1, 1, on_done);
	assert_non_null(p);
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_pool_submit(p, "192.0.2.1", new_job(), NULL), 0);
	/* the worker is blocked in the first job: free must not hang on it */
	open_gate(1);
	auth_pool_free(&p);
	assert_int_equal(done_count, 4);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fair_per_network),
		cmocka_unit_test(test_free_hands_back_unfinished),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
