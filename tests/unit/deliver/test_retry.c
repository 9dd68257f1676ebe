/* test_retry.c - the back-off doubles from retry_first up to retry_max,
 * jitter stays inside [3/4 d, d], no try lands past the expiry, expiry
 * and the one delay warning come at the configured ages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
		assert_int_equal(retry_next(&p, &(struct retry_state){ T0, a }, T0, 0) - T0, want[a]);
	/* a huge attempt count neither overflows nor exceeds the cap */
	assert_int_equal(retry_next(&p, &(struct retry_state){ T0, 4000000000u }, T0, 0) - T0, 3600);
}

static void
test_jitter_bounds(void **state)
{
	struct retry_policy p = { 300, 3600, 5 * 86400, 0 };
	long lo = 1L << 30, hi = 0;
	for (uint32_t r = 0; r < 5000; r++) {
		long d = (long)(retry_next(&p, &(struct retry_state){ T0, 3 }, T0, r * 2654435761u) - T0);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_int_equal(hi, 1200);
	assert_int_equal(lo, 900);	/* 3/4 of 1200: the whole range is used */
	long d = (long)(retry_next(&p, &(struct retry_state){ T0, 9 }, T0, UINT32_MAX) - T0);
	assert_in_range(d, 2700, 3600);
}

static void
test_never_past_expiry(void **state)
{
	struct retry_policy p = { 300, 3600, 86400, 0 };
	time_t now = T0 + 86400 - 100;
	assert_int_equal(retry_next(&p, &(struct retry_state){ T0, 20 }, now, 0), T0 + 86400);
	/* already past it: the next look is a second away, not in the past */
	assert_int_equal(retry_next(&p, &(struct retry_state){ T0, 20 }, T0 + 90000, 0), T0 + 90001);
	/* a tiny first delay still moves time forward */
	struct retry_policy q = { 1, 1, 86400, 0 };
	assert_int_equal(retry_next(&q, &(struct retry_state){ T0, 1 }, T0, 7), T0 + 1);
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

static void
set_ok(struct retry_policy *p, const char *k, const char *v, unsigned *field, unsigned want)
{
	char *err = NULL;
	assert_int_equal(retry_policy_set(p, k, v, &err), 1);
	assert_null(err);
	assert_int_equal(*field, want);
}

static void
set_bad(struct retry_policy *p, const char *k, const char *v)
{
	char *err = NULL;
	assert_int_equal(retry_policy_set(p, k, v, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, k));
	free(err);
}

static void
test_config_keys(void **state)
{
	struct retry_policy p;
	char *err = NULL;
	retry_policy_default(&p);
	set_ok(&p, "retry_first", "90", &p.first, 90);
	set_ok(&p, "retry_first", "2m", &p.first, 120);
	set_ok(&p, "retry_max", "2h", &p.max, 7200);
	set_ok(&p, "max_queue_lifetime", "3d", &p.lifetime, 3 * 86400);
	set_ok(&p, "delay_warning_time", "0", &p.warn_after, 0);	/* no warning */
	set_ok(&p, "delay_warning_time", "30s", &p.warn_after, 30);
	set_ok(&p, "max_queue_lifetime", "365d", &p.lifetime, 365 * 86400);
	set_bad(&p, "retry_first", "0");
	set_bad(&p, "retry_max", "");
	set_bad(&p, "retry_max", "1w");
	set_bad(&p, "retry_max", "-5m");
	set_bad(&p, "retry_max", "5 m");
	set_bad(&p, "max_queue_lifetime", "366d");
	set_bad(&p, "max_queue_lifetime", "99999999999999999999");
	assert_int_equal(retry_policy_set(&p, "spool", "x", &err), 0);	/* not ours */
	assert_null(err);
	assert_null(retry_policy_check(&p));
	p.first = 7201;
	err = retry_policy_check(&p);
	assert_string_equal(err, "retry_first (7201s) is longer than retry_max (7200s)");
	free(err);
	p.first = 60;
	p.lifetime = 3600;
	err = retry_policy_check(&p);
	assert_non_null(err);
	free(err);
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
		cmocka_unit_test(test_config_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
