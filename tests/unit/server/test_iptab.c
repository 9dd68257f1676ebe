/* test_iptab.c - per-address state: connection counts with their
 * limit, and removal keeping every entry reachable.  (AUTH failures:
 * tests/unit/auth/test_throttle.c.) */
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
	assert_int_equal(iptab_count(t), 0);
	iptab_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_churn_keeps_entries_reachable),
		cmocka_unit_test(test_odd_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
