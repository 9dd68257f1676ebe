/* test_iptab.c - per-address state: connection counts with their
 * limit, AUTH failures that survive reconnects and expire, the bound on
 * failure-only entries, and removal keeping every entry reachable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/iptab.h"

static void
test_connections(void **state)
{
	struct iptab *t = iptab_new();
	assert_non_null(t);
	assert_true(iptab_acquire(t, "192.0.2.1", 2));
	assert_true(iptab_acquire(t, "192.0.2.1", 2));
	assert_false(iptab_acquire(t, "192.0.2.1", 2));	/* third: refused, not counted */
	assert_true(iptab_acquire(t, "2001:db8::1", 2));
	assert_int_equal(iptab_count(t), 2);
	iptab_release(t, "192.0.2.1");
	assert_true(iptab_acquire(t, "192.0.2.1", 2));
	iptab_release(t, "192.0.2.1");
	iptab_release(t, "192.0.2.1");
	iptab_release(t, "2001:db8::1");
	assert_int_equal(iptab_count(t), 0);	/* nothing kept without a reason */
	iptab_release(t, "192.0.2.1");		/* unknown: harmless */
	assert_false(iptab_acquire(t, "192.0.2.1", 0));
	assert_int_equal(iptab_count(t), 0);
	iptab_free(&t);
	assert_null(t);
	iptab_free(&t);
}

static void
test_failures_survive_reconnect_and_expire(void **state)
{
	struct iptab *t = iptab_new();
	const char *ip = "198.51.100.9";
	uint64_t now = 1000;
	for (unsigned i = 1; i <= 3; i++) {
		assert_true(iptab_acquire(t, ip, 5));
		assert_int_equal(iptab_fail(t, ip, now + i), i);
		iptab_release(t, ip);	/* the client reconnects */
	}
	assert_int_equal(iptab_count(t), 1);
	assert_int_equal(iptab_failures(t, ip, now + 3), 3);
	assert_int_equal(iptab_failures(t, "198.51.100.10", now), 0);
	/* remembered until IPTAB_FAIL_TTL after the last failure */
	assert_int_equal(iptab_failures(t, ip, now + 3 + IPTAB_FAIL_TTL - 1), 3);
	assert_int_equal(iptab_failures(t, ip, now + 3 + IPTAB_FAIL_TTL), 0);
	assert_int_equal(iptab_count(t), 0);
	/* a failure after expiry starts again at one */
	assert_int_equal(iptab_fail(t, ip, now + 5000), 1);
	/* an open connection keeps its entry when the failures expire */
	assert_true(iptab_acquire(t, ip, 5));
	assert_int_equal(iptab_failures(t, ip, now + 5000 + IPTAB_FAIL_TTL), 0);
	assert_int_equal(iptab_count(t), 1);
	assert_false(iptab_acquire(t, ip, 1));
	iptab_release(t, ip);
	assert_int_equal(iptab_count(t), 0);
	iptab_free(&t);
}

static void
test_bounded(void **state)
{
	struct iptab *t = iptab_new();
	char ip[IPTAB_IP_MAX];
	/* one more failing address than the table remembers */
	for (unsigned i = 0; i <= IPTAB_FAIL_MAX; i++) {
		(void)snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		assert_int_equal(iptab_fail(t, ip, 100 + i), 1);
	}
	assert_int_equal(iptab_count(t), IPTAB_FAIL_MAX);
	/* the oldest (10.0.0.0, whose memory ends first) was forgotten */
	assert_int_equal(iptab_failures(t, "10.0.0.0", 200), 0);
	assert_int_equal(iptab_failures(t, "10.0.0.1", 200), 1);
	(void)snprintf(ip, sizeof ip, "10.0.%u.%u", IPTAB_FAIL_MAX >> 8, IPTAB_FAIL_MAX & 255);
	assert_int_equal(iptab_failures(t, ip, 200), 1);
	/* connections are never refused for lack of failure room */
	assert_true(iptab_acquire(t, "192.0.2.200", 1));
	assert_int_equal(iptab_count(t), IPTAB_FAIL_MAX + 1);
	iptab_free(&t);
}

static void
test_churn_keeps_entries_reachable(void **state)
{
	/* Many inserts and removals in a small id space: backward-shift
	 * deletion must never lose an entry behind a hole. */
	struct iptab *t = iptab_new();
	unsigned held[512] = { 0 };
	uint32_t x = 12345;
	char ip[IPTAB_IP_MAX];
	for (unsigned step = 0; step < 200000; step++) {
		x = x * 1103515245u + 12345u;
		unsigned k = (x >> 8) % 512;
		(void)snprintf(ip, sizeof ip, "172.16.%u.%u", k >> 8, k & 255);
		if ((x >> 20) & 1) {
			assert_int_equal(iptab_acquire(t, ip, 1000), true);
			held[k]++;
		} else if (held[k] > 0) {
			iptab_release(t, ip);
			held[k]--;
		}
	}
	size_t live = 0;
	for (unsigned k = 0; k < 512; k++) {
		live += held[k] > 0;
		(void)snprintf(ip, sizeof ip, "172.16.%u.%u", k >> 8, k & 255);
		/* exactly held[k] more fit under a limit of held[k] + 1 */
		assert_true(iptab_acquire(t, ip, held[k] + 1));
		assert_false(iptab_acquire(t, ip, held[k] + 1));
		iptab_release(t, ip);
	}
	assert_int_equal(iptab_count(t), live);
	iptab_free(&t);
}

static void
test_odd_keys(void **state)
{
	struct iptab *t = iptab_new();
	char longip[IPTAB_IP_MAX + 10];
	memset(longip, '1', sizeof longip - 1);
	longip[sizeof longip - 1] = '\0';
	/* not countable per address: only the global limit applies */
	assert_true(iptab_acquire(t, "", 3));
	assert_true(iptab_acquire(t, longip, 3));
	assert_int_equal(iptab_fail(t, "", 1), 1);
	assert_int_equal(iptab_failures(t, longip, 1), 0);
	assert_int_equal(iptab_count(t), 0);
	iptab_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_failures_survive_reconnect_and_expire),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_churn_keeps_entries_reachable),
		cmocka_unit_test(test_odd_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
