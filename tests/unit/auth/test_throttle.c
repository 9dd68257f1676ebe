/* test_throttle.c - the AUTH throttle on an injected clock: each limit
 * (address, subnet, network, user, distinct names), IPv4 and IPv6
 * classes, the growing delay, refusal and its cool-down, both windows
 * expiring, a repeated tag counting once, the known-good exemption,
 * and fixed memory under a churn of 100 000 addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "auth/throttle.h"

#define MIN 60000ull
#define DAY 86400000ull
/* A clock far from 0, at the start of a day window: windows are fixed,
 * so the tests know where their boundaries fall. */
#define T0 (100 * DAY)

/* Every limit out of reach; each test lowers the one it is about. */
static struct throttle_limits
loose(void)
{
	struct throttle_limits l;
	throttle_limits_default(&l);
	l.ip_minute = l.ip_day = l.subnet_minute = l.subnet_day = 1000000;
	l.network_minute = l.network_day = l.user_minute = l.user_day = 1000000;
	l.distinct_users_subnet = 1000000;
	return l;
}

static struct throttle_ip
ip_of(const char *text)
{
	struct throttle_ip ip;
	assert_int_equal(throttle_ip_parse(text, &ip), 0);
	return ip;
}

/* A distinct tag per n, as different passwords would give. */
static const uint8_t *
tag_of(unsigned n, uint8_t buf[THROTTLE_TAG_LEN])
{
	memset(buf, 0xa5, THROTTLE_TAG_LEN);
	memcpy(buf, &n, sizeof n);
	return buf;
}

/* One attempt as the server makes it: check, then (unless refused)
 * record its outcome with tag.  Returns the verdict. */
static enum throttle_verdict
attempt(struct throttle *t, const char *ip, const char *user, const uint8_t *tag, bool ok,
	uint64_t now)
{
	struct throttle_ip a = ip_of(ip);
	unsigned delay;
	enum throttle_verdict v = throttle_check(t, &a, user, now, &delay, NULL);
	if (v != THROTTLE_REFUSE)
		(void)throttle_record(t, &a, user, tag, ok, now);
	return v;
}

/* n failed attempts, each with a new password (no tag). */
static void
fail_n(struct throttle *t, const char *ip, const char *user, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		(void)attempt(t, ip, user, NULL, false, now);
}

/* The verdict an attempt would get now; the attempt is then cancelled
 * (nothing counted), as when the client leaves.  A refusal still
 * starts the cool-down: that is the verdict's own doing. */
static enum throttle_verdict
check(struct throttle *t, const char *ip, const char *user, uint64_t now, unsigned *delay,
      const char **why)
{
	struct throttle_ip a = ip_of(ip);
	unsigned d;
	const char *w;
	enum throttle_verdict v = throttle_check(t, &a, user, now, delay ? delay : &d, why ? why : &w);
	if (v != THROTTLE_REFUSE)
		throttle_cancel(t, &a, user, now);
	return v;
}

static void
test_ip_parse(void **state)
{
	struct throttle_ip ip;
	assert_int_equal(throttle_ip_parse("192.0.2.1", &ip), 0);
	assert_int_equal(ip.len, 4);
	assert_int_equal(ip.b[3], 1);
	assert_int_equal(throttle_ip_parse("::ffff:192.0.2.1", &ip), 0);
	assert_int_equal(ip.len, 4);	/* mapped: counted as the IPv4 address */
	assert_int_equal(ip.b[0], 192);
	assert_int_equal(throttle_ip_parse("2001:db8::1", &ip), 0);
	assert_int_equal(ip.len, 16);
	assert_int_equal(throttle_ip_parse("", &ip), -1);
	assert_int_equal(throttle_ip_parse("192.0.2.1 client=x", &ip), -1);
	assert_int_equal(throttle_ip_parse("localhost", &ip), -1);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr), 1);
	assert_int_equal(throttle_ip_from_sockaddr((struct sockaddr *)&s6, &ip), 0);
	assert_int_equal(ip.len, 16);
	assert_int_equal(ip.b[15], 7);
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000102) };
	assert_int_equal(throttle_ip_from_sockaddr((struct sockaddr *)&s4, &ip), 0);
	assert_int_equal(ip.len, 4);
	assert_int_equal(ip.b[3], 2);
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(throttle_ip_from_sockaddr(&un, &ip), -1);
}

/* Below the limit: allowed; at it: 250 ms doubling up to delay_max,
 * then refused for the cool-down, even after the minute is over. */
static void
test_address_delay_grows_then_refuses(void **state)
{
	struct throttle_limits l = loose();
	l.ip_minute = 10;
	l.delay_max_ms = 4000;
	l.cooldown_ms = 15 * MIN;
	struct throttle *t = throttle_new(&l);
	assert_non_null(t);
	unsigned delay;
	const char *why;
	fail_n(t, "192.0.2.1", "alice", 9, T0);
	assert_int_equal(check(t, "192.0.2.1", "alice", T0, &delay, &why), THROTTLE_ALLOW);
	assert_int_equal(delay, 0);
	assert_null(why);
	const unsigned want[] = { 250, 500, 1000, 2000, 4000 };
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		fail_n(t, "192.0.2.1", "alice", 1, T0 + i);
		assert_int_equal(check(t, "192.0.2.1", "alice", T0 + i, &delay, &why), THROTTLE_DELAY);
		assert_int_equal(delay, want[i]);
		assert_string_equal(why, "ip");
	}
	fail_n(t, "192.0.2.1", "alice", 1, T0 + 10);
	assert_int_equal(check(t, "192.0.2.1", "alice", T0 + 10, &delay, &why), THROTTLE_REFUSE);
	assert_string_equal(why, "ip");
	/* another user from the same address: the address is what is over */
	assert_int_equal(check(t, "192.0.2.1", "bob", T0 + 11, NULL, NULL), THROTTLE_REFUSE);
	/* a neighbour is not touched */
	assert_int_equal(check(t, "192.0.2.2", "alice", T0 + 11, NULL, NULL), THROTTLE_ALLOW);
	/* the minute is over, the cool-down is not */
	assert_int_equal(check(t, "192.0.2.1", "alice", T0 + 2 * MIN, NULL, NULL), THROTTLE_REFUSE);
	assert_int_equal(check(t, "192.0.2.1", "alice", T0 + 10 + 15 * MIN - 1, NULL, NULL),
			 THROTTLE_REFUSE);
	assert_int_equal(check(t, "192.0.2.1", "alice", T0 + 10 + 15 * MIN, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
	assert_null(t);
	throttle_free(&t);
}

static void
test_minute_window_expires(void **state)
{
	struct throttle_limits l = loose();
	l.ip_minute = 3;
	struct throttle *t = throttle_new(&l);
	fail_n(t, "198.51.100.7", "u", 3, T0 + 10);
	assert_int_equal(check(t, "198.51.100.7", "u", T0 + MIN - 1, NULL, NULL), THROTTLE_DELAY);
	assert_int_equal(check(t, "198.51.100.7", "u", T0 + MIN, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

/* Under the minute limit each minute, over the day's: delayed until
 * the day window ends. */
static void
test_day_window(void **state)
{
	struct throttle_limits l = loose();
	l.ip_minute = 10;
	l.ip_day = 50;
	struct throttle *t = throttle_new(&l);
	const char *why;
	for (unsigned m = 0; m < 10; m++) {
		fail_n(t, "203.0.113.5", "u", 5, T0 + m * MIN);
		assert_int_equal(check(t, "203.0.113.5", "u", T0 + m * MIN, NULL, NULL),
				 m < 9 ? THROTTLE_ALLOW : THROTTLE_DELAY);
	}
	assert_int_equal(check(t, "203.0.113.5", "u", T0 + 3 * 60 * MIN, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "ip");
	assert_int_equal(check(t, "203.0.113.5", "u", T0 + DAY, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

/* 64 addresses of one /26 and 100 of one /21 share their counters;
 * the next /26 and the next /21 do not. */
static void
test_subnet_and_network_v4(void **state)
{
	struct throttle_limits l = loose();
	l.subnet_minute = 30;
	l.network_minute = 90;
	struct throttle *t = throttle_new(&l);
	char ip[32];
	const char *why;
	for (unsigned i = 0; i < 30; i++) {
		(void)snprintf(ip, sizeof ip, "10.1.0.%u", i);	/* 10.1.0.0/26 */
		fail_n(t, ip, "u", 1, T0);
	}
	assert_int_equal(check(t, "10.1.0.63", "u", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "subnet");
	assert_int_equal(check(t, "10.1.0.64", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	for (unsigned i = 0; i < 60; i++) {
		(void)snprintf(ip, sizeof ip, "10.1.%u.%u", 1 + i / 20, 64 * (i % 3) + i % 20);
		fail_n(t, ip, "u", 1, T0);
	}
	/* 90 failures in 10.1.0.0/21, spread so that no other /26 is over */
	assert_int_equal(check(t, "10.1.7.200", "u", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "network");
	assert_int_equal(check(t, "10.1.8.1", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

static void
test_classes_v6(void **state)
{
	struct throttle_limits l = loose();
	l.ip_minute = 2;
	l.subnet_minute = 4;
	l.network_minute = 6;
	struct throttle *t = throttle_new(&l);
	const char *why;
	/* one /64: addresses inside it count as one */
	fail_n(t, "2001:db8:1:1::1", "u", 1, T0);
	fail_n(t, "2001:db8:1:1:ffff::2", "u", 1, T0);
	assert_int_equal(check(t, "2001:db8:1:1::99", "u", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "ip");
	assert_int_equal(check(t, "2001:db8:1:2::1", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	/* the /48 */
	fail_n(t, "2001:db8:1:2::1", "u", 1, T0);
	fail_n(t, "2001:db8:1:3::1", "u", 1, T0);
	assert_int_equal(check(t, "2001:db8:1:4::1", "u", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "subnet");
	/* the /32 */
	fail_n(t, "2001:db8:2::1", "u", 1, T0);
	fail_n(t, "2001:db8:3::1", "u", 1, T0);
	assert_int_equal(check(t, "2001:db8:4::1", "u", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "network");
	assert_int_equal(check(t, "2001:db9::1", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	/* IPv4 never shares a counter with IPv6 */
	assert_int_equal(check(t, "32.1.13.184", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

/* A user name attacked from everywhere; case does not split it. */
static void
test_user_limit(void **state)
{
	struct throttle_limits l = loose();
	l.user_minute = 10;
	struct throttle *t = throttle_new(&l);
	char ip[32];
	const char *why;
	for (unsigned i = 0; i < 10; i++) {
		(void)snprintf(ip, sizeof ip, "%u.0.0.1", 20 + i);
		fail_n(t, ip, i % 2 ? "Alice" : "alice", 1, T0);
	}
	assert_int_equal(check(t, "100.0.0.1", "ALICE", T0, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "user");
	assert_int_equal(check(t, "100.0.0.1", "bob", T0, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

/* Mailu's rule: many names from one subnet, each failing once. */
static void
test_distinct_users(void **state)
{
	struct throttle_limits l = loose();
	l.distinct_users_subnet = 5;
	struct throttle *t = throttle_new(&l);
	char user[16];
	const char *why;
	/* one name many times is one distinct name */
	fail_n(t, "192.0.2.10", "same", 20, T0);
	assert_int_equal(check(t, "192.0.2.11", "x", T0, NULL, NULL), THROTTLE_ALLOW);
	for (unsigned i = 0; i < 4; i++) {
		(void)snprintf(user, sizeof user, "user%u", i);
		fail_n(t, i % 2 ? "192.0.2.12" : "192.0.2.13", user, 1, T0 + i * MIN);
	}
	assert_int_equal(check(t, "192.0.2.14", "x", T0 + 5 * MIN, NULL, &why), THROTTLE_DELAY);
	assert_string_equal(why, "distinct-users");
	/* the next /26 is clean, and tomorrow is a new day */
	assert_int_equal(check(t, "192.0.2.64", "x", T0 + 5 * MIN, NULL, NULL), THROTTLE_ALLOW);
	assert_int_equal(check(t, "192.0.2.14", "x", T0 + DAY, NULL, NULL), THROTTLE_ALLOW);
	/* a name that failed yesterday counts again today */
	fail_n(t, "192.0.2.10", "same", 1, T0 + DAY);
	throttle_free(&t);
}

/* A stale saved password retried all day counts once; another
 * password, or the same from elsewhere, counts. */
static void
test_repeated_tag_counts_once(void **state)
{
	struct throttle_limits l = loose();
	l.ip_day = 3;
	struct throttle *t = throttle_new(&l);
	struct throttle_ip a = ip_of("192.0.2.50");
	uint8_t buf[THROTTLE_TAG_LEN];
	struct throttle_stats st;
	unsigned delay;
	assert_int_equal(throttle_check(t, &a, "carol", T0, &delay, NULL), THROTTLE_ALLOW);
	assert_true(throttle_record(t, &a, "carol", tag_of(1, buf), false, T0));
	for (unsigned i = 1; i <= 100; i++) {
		assert_int_equal(throttle_check(t, &a, "carol", T0 + i * 1000, &delay, NULL),
				 THROTTLE_ALLOW);
		assert_false(throttle_record(t, &a, "carol", tag_of(1, buf), false, T0 + i * 1000));
	}
	throttle_stats(t, &st);
	assert_int_equal(st.repeats, 100);
	assert_int_equal(check(t, "192.0.2.50", "carol", T0 + 200000, NULL, NULL), THROTTLE_ALLOW);
	/* the same password from another address, other passwords from this one */
	assert_int_equal(attempt(t, "192.0.2.51", "carol", tag_of(1, buf), false, T0 + 200000),
			 THROTTLE_ALLOW);
	assert_int_equal(attempt(t, "192.0.2.50", "carol", tag_of(2, buf), false, T0 + 200000),
			 THROTTLE_ALLOW);
	assert_int_equal(attempt(t, "192.0.2.50", "carol", tag_of(3, buf), false, T0 + 200000),
			 THROTTLE_ALLOW);
	assert_int_equal(check(t, "192.0.2.50", "carol", T0 + 200000, NULL, NULL), THROTTLE_DELAY);
	/* no tag (SCRAM): every failure counts */
	fail_n(t, "192.0.2.51", "carol", 2, T0 + 200000);
	assert_int_equal(check(t, "192.0.2.51", "carol", T0 + 200000, NULL, NULL), THROTTLE_DELAY);
	/* a day after it was last tried, the tag counts again */
	struct throttle_ip c = ip_of("192.0.2.52");
	assert_int_equal(attempt(t, "192.0.2.52", "carol", tag_of(1, buf), false, T0), THROTTLE_ALLOW);
	assert_int_equal(throttle_check(t, &c, "carol", T0 + 2 * DAY, &delay, NULL), THROTTLE_ALLOW);
	assert_true(throttle_record(t, &c, "carol", tag_of(1, buf), false, T0 + 2 * DAY));
	throttle_free(&t);
}

/* Counts start at the check: a hundred attempts in flight at once
 * (none recorded yet) meet the limit as a hundred failures would.  A
 * success or a cancelled attempt takes its count back. */
static void
test_in_flight_attempts_count(void **state)
{
	struct throttle_limits l = loose();
	l.subnet_minute = 30;
	l.delay_max_ms = 4000;
	struct throttle *t = throttle_new(&l);
	struct throttle_ip ip;
	char text[32];
	unsigned delay, n[3] = { 0, 0, 0 };
	for (unsigned i = 0; i < 100; i++) {
		(void)snprintf(text, sizeof text, "127.0.1.%u", i % 50);
		assert_int_equal(throttle_ip_parse(text, &ip), 0);
		n[throttle_check(t, &ip, "alice", T0, &delay, NULL)]++;
	}
	/* 30 free, 5 delayed (250 ms .. 4 s), then refused */
	assert_int_equal(n[THROTTLE_ALLOW], 30);
	assert_int_equal(n[THROTTLE_DELAY], 5);
	assert_int_equal(n[THROTTLE_REFUSE], 65);
	/* takebacks: successes and cancels do not stay counted */
	struct throttle *u = throttle_new(&l);
	struct throttle_ip a = ip_of("10.9.0.1");
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(throttle_check(u, &a, "alice", T0, &delay, NULL), THROTTLE_ALLOW);
		if (i % 2)
			assert_true(throttle_record(u, &a, "alice", NULL, true, T0));
		else
			throttle_cancel(u, &a, "alice", T0);
	}
	/* the successful pair is known good; a neighbour is not throttled */
	assert_int_equal(check(u, "10.9.0.2", "bob", T0, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&u);
	throttle_free(&t);
}

/* The owner who logged in from 127.0.0.2 keeps logging in while a
 * spray from the same /21 fills every shared counter; the exemption is
 * for that user and that address only, held to the address's own
 * limits, and lasts trusted_days. */
static void
test_known_good_pair_exempt(void **state)
{
	struct throttle_limits l;
	throttle_limits_default(&l);
	l.trusted_days = 2;
	struct throttle *t = throttle_new(&l);
	struct throttle_ip home = ip_of("127.0.0.2");
	char ip[32];
	assert_true(throttle_record(t, &home, "alice", NULL, true, T0));
	for (unsigned i = 0; i < 500; i++) {
		(void)snprintf(ip, sizeof ip, "127.0.1.%u", 10 + i % 100);
		fail_n(t, ip, i % 3 ? "alice" : "bob", 1, T0 + i);
	}
	unsigned delay;
	assert_int_equal(check(t, "127.0.0.2", "alice", T0 + 1000, &delay, NULL), THROTTLE_ALLOW);
	assert_int_equal(delay, 0);
	/* a stranger, or the same address for another user, is throttled */
	assert_int_not_equal(check(t, "127.0.0.3", "alice", T0 + 1000, NULL, NULL), THROTTLE_ALLOW);
	assert_int_not_equal(check(t, "127.0.0.2", "bob", T0 + 1000, NULL, NULL), THROTTLE_ALLOW);
	/* the cool-down the spray started does not reach the owner either */
	assert_int_equal(check(t, "127.0.0.2", "ALICE", T0 + 2000, NULL, NULL), THROTTLE_ALLOW);
	/* own failures still count for the owner's address */
	fail_n(t, "127.0.0.2", "alice", 10, T0 + 3000);
	assert_int_equal(check(t, "127.0.0.2", "alice", T0 + 3000, NULL, NULL), THROTTLE_DELAY);
	/* trust ends trusted_days after the last success */
	struct throttle_ip other = ip_of("127.0.0.4");
	assert_true(throttle_record(t, &other, "alice", NULL, true, T0 + DAY));
	assert_int_equal(check(t, "127.0.0.4", "alice", T0 + 3 * DAY - 1, NULL, NULL), THROTTLE_ALLOW);
	fail_n(t, "127.0.1.10", "alice", 60, T0 + 3 * DAY + 1);
	assert_int_not_equal(check(t, "127.0.0.4", "alice", T0 + 3 * DAY + 1, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

/* New limits apply at once; counts survive a reload. */
static void
test_set_limits_keeps_counts(void **state)
{
	struct throttle_limits l = loose();
	struct throttle *t = throttle_new(&l);
	fail_n(t, "192.0.2.9", "u", 5, T0);
	assert_int_equal(check(t, "192.0.2.9", "u", T0, NULL, NULL), THROTTLE_ALLOW);
	l.ip_minute = 5;
	throttle_set_limits(t, &l);
	assert_int_equal(check(t, "192.0.2.9", "u", T0, NULL, NULL), THROTTLE_DELAY);
	throttle_free(&t);
}

/* 100 000 addresses from all over, each failing once for another user:
 * memory does not move, old entries are replaced, and a subnet under
 * steady attack (many names: distinct-users trips), its entry in use
 * all along, stays refused; the owner's known-good pair is not pushed
 * out (failures never touch that table). */
static void
test_churn_bounded(void **state)
{
	struct throttle_limits l;
	throttle_limits_default(&l);
	struct throttle *t = throttle_new(&l);
	struct throttle_stats before, after;
	throttle_stats(t, &before);
	assert_true(before.memory > 0);
	assert_true(before.memory < 3u * 1024 * 1024);
	struct throttle_ip home = ip_of("192.0.2.2");
	assert_true(throttle_record(t, &home, "alice", NULL, true, T0));
	char ip[32];
	uint64_t now = T0 + 1;
	for (unsigned i = 0; i < 100000; i++, now++) {
		(void)snprintf(ip, sizeof ip, "%u.%u.%u.%u", 11 + (i * 7919u) % 200, (i >> 8) & 255,
			       i & 255, (i * 31u) & 255);
		char user[32];
		(void)snprintf(user, sizeof user, "user%u", i);
		fail_n(t, ip, user, 1, now);
		if (i % 100 == 0) {	/* the steady attacker, one /26 */
			(void)snprintf(ip, sizeof ip, "198.51.100.%u", i / 100 % 60);
			(void)snprintf(user, sizeof user, "victim%u", i);
			fail_n(t, ip, user, 1, now);
		}
	}
	throttle_stats(t, &after);
	assert_int_equal(after.memory, before.memory);
	assert_true(after.evictions > 50000);
	const char *why;
	assert_int_equal(check(t, "198.51.100.61", "x", now, NULL, &why), THROTTLE_REFUSE);
	assert_string_equal(why, "subnet");
	assert_int_equal(check(t, "192.0.2.2", "alice", now, NULL, NULL), THROTTLE_ALLOW);
	throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_parse),
		cmocka_unit_test(test_address_delay_grows_then_refuses),
		cmocka_unit_test(test_minute_window_expires),
		cmocka_unit_test(test_day_window),
		cmocka_unit_test(test_subnet_and_network_v4),
		cmocka_unit_test(test_classes_v6),
		cmocka_unit_test(test_user_limit),
		cmocka_unit_test(test_distinct_users),
		cmocka_unit_test(test_repeated_tag_counts_once),
		cmocka_unit_test(test_in_flight_attempts_count),
		cmocka_unit_test(test_known_good_pair_exempt),
		cmocka_unit_test(test_set_limits_keeps_counts),
		cmocka_unit_test(test_churn_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
