/* test_retry.c - the back-off doubles from retry_first up to retry_max,
 * jitter stays inside [3/4 d, d], no try lands past the expiry, expiry
 * and the one delay warning come at the configured ages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deliver/retry.h"

static const time_t T0 = 1700000000;

static void
test_defaults(void **state)
{
	struct retry_policy p;
	retry_policy_default(&p);
	assert_int_equal(p.first, 300);
	assert_int_equal(p.max, 3600);
	assert_int_equal(p.lifetime, 5 * 86400);
	assert_int_equal(p.warn_after, 4 * 3600);
}

/* rnd = 0: no jitter, the exact doubling and its cap. */
static void
test_doubling_and_cap(void **state)
{
	struct retry_policy p = { 300, 3600, 5 * 86400, 0 };
	static const long want[] = { 300, 300, 600, 1200, 2400, 3600, 3600, 3600 };
	for (unsigned a = 0; a < sizeof want / sizeof *want; a++)
		assert_int_equal(retry_next(&p, a, T0, T0, 0) - T0, want[a]);
	/* a huge attempt count neither overflows nor exceeds the cap */
	assert_int_equal(retry_next(&p, 4000000000u, T0, T0, 0) - T0, 3600);
}

static void
test_jitter_bounds(void **state)
{
	struct retry_policy p = { 300, 3600, 5 * 86400, 0 };
	long lo = 1L << 30, hi = 0;
	for (uint32_t r = 0; r < 5000; r++) {
		long d = (long)(retry_next(&p, 3, T0, T0, r * 2654435761u) - T0);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_int_equal(hi, 1200);
	assert_int_equal(lo, 900);	/* 3/4 of 1200: the whole range is used */
	long d = (long)(retry_next(&p, 9, T0, T0, UINT32_MAX) - T0);
	assert_in_range(d, 2700, 3600);
}

static void
test_never_past_expiry(void **state)
{
	struct retry_policy p = { 300, 3600, 86400, 0 };
	time_t now = T0 + 86400 - 100;
	assert_int_equal(retry_next(&p, 20, T0, now, 0), T0 + 86400);
	/* already past it: the next look is a second away, not in the past */
	assert_int_equal(retry_next(&p, 20, T0, T0 + 90000, 0), T0 + 90001);
	/* a tiny first delay still moves time forward */
	struct retry_policy q = { 1, 1, 86400, 0 };
	assert_int_equal(retry_next(&q, 1, T0, T0, 7), T0 + 1);
}

static void
test_expiry_and_warning(void **state)
{
	struct retry_policy p;
	retry_policy_default(&p);
	assert_false(retry_expired(&p, T0, T0 + 5 * 86400 - 1));
	assert_true(retry_expired(&p, T0, T0 + 5 * 86400));
	assert_false(retry_warn_due(&p, T0, T0 + 4 * 3600 - 1, false));
	assert_true(retry_warn_due(&p, T0, T0 + 4 * 3600, false));
	assert_false(retry_warn_due(&p, T0, T0 + 4 * 3600, true));	/* once */
	assert_false(retry_warn_due(&p, T0, T0 + 5 * 86400, false));	/* bounce instead */
	p.warn_after = 0;
	assert_false(retry_warn_due(&p, T0, T0 + 86400, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_doubling_and_cap),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_never_past_expiry),
		cmocka_unit_test(test_expiry_and_warning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
