/* test_dns_mx.c - the pure parts of the MX module: the dns_resolver
 * value, host name checks, and the RFC 5321 5.1 order (by preference,
 * equal preferences shuffled).  The lookups themselves are tested
 * against a real dnsmasq in tests/interop/test_dns_mx.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/dns_mx.h"

static void
check_parse(const char *in, const char *want)
{
	char *csv = NULL, *err = NULL;
	int rc = dns_resolver_parse(in, &csv, &err);
	if (want == NULL) {
		assert_int_equal(rc, -1);
		assert_non_null(err);
		assert_null(csv);
	} else {
		assert_int_equal(rc, 0);
		assert_null(err);
		assert_string_equal(csv, want);
	}
	free(csv);
	free(err);
}

static void
test_resolver_parse(void **state)
{
	check_parse("127.0.0.1:5353", "127.0.0.1:5353");
	check_parse("127.0.0.1", "127.0.0.1:53");
	check_parse("[::1]:5353", "[::1]:5353");
	check_parse("::1", "[::1]:53");
	check_parse("[2001:db8::1]", "[2001:db8::1]:53");
	check_parse("192.0.2.1:53, 192.0.2.2:5353 [::1]:54", "192.0.2.1:53,192.0.2.2:5353,[::1]:54");
	check_parse("", NULL);
	check_parse("  ,", NULL);
	check_parse("localhost:53", NULL);	/* a name would need a resolver */
	check_parse("127.0.0.1:0", NULL);
	check_parse("127.0.0.1:65536", NULL);
	check_parse("127.0.0.1:", NULL);
	check_parse("127.0.0.1:53x", NULL);
	check_parse("[::1]x", NULL);
	check_parse("[::1", NULL);
	check_parse("1.2.3.4.5", NULL);
	check_parse("2001:db8::1::2", NULL);
	char *err = NULL, *csv = NULL;
	assert_int_equal(dns_resolver_parse("192.0.2.1:99999", &csv, &err), -1);
	assert_string_equal(err, "'192.0.2.1:99999' is not IP, IP:PORT or [IPV6]:PORT");
	free(err);
}

static void
test_name_ok(void **state)
{
	assert_true(dns_mx_name_ok("example.test"));
	assert_true(dns_mx_name_ok("example.test."));
	assert_true(dns_mx_name_ok("localhost"));
	assert_true(dns_mx_name_ok("xn--bcher-kva.example"));
	assert_false(dns_mx_name_ok(""));
	assert_false(dns_mx_name_ok("."));
	assert_false(dns_mx_name_ok("a..b"));
	assert_false(dns_mx_name_ok(".a"));
	assert_false(dns_mx_name_ok("a b"));
	assert_false(dns_mx_name_ok("a/b"));
	assert_false(dns_mx_name_ok("[192.0.2.1]"));	/* a literal is not looked up */
	assert_false(dns_mx_name_ok("b\xc3\xbc" "cher.example"));
	char label[70];
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_false(dns_mx_name_ok(label));	/* 64-byte label */
	label[63] = '\0';
	assert_true(dns_mx_name_ok(label));
	char name[300];
	memset(name, 'a', sizeof name);
	for (size_t i = 50; i < sizeof name; i += 51)
		name[i] = '.';
	name[254] = '\0';
	assert_false(dns_mx_name_ok(name));	/* 254 bytes */
	name[253] = '\0';
	assert_true(dns_mx_name_ok(name));
}

static void
fill(struct dns_mx_target *v)
{
	static const char *const hosts[] = { "c20", "a10", "d30", "b20", "e20" };
	static const unsigned prefs[] = { 20, 10, 30, 20, 20 };
	for (size_t i = 0; i < 5; i++)
		v[i] = (struct dns_mx_target){ .host = (char *)hosts[i], .pref = prefs[i] };
}

/* By preference always; the three of preference 20 in every order over
 * enough seeds (each of the 6 orders is missed by 200 seeds with
 * probability (5/6)^200, about 1e-16). */
static void
test_sort_and_shuffle(void **state)
{
	struct dns_mx_target v[5];
	unsigned seen = 0;
	for (uint64_t seed = 0; seed < 200; seed++) {
		fill(v);
		dns_mx_sort(v, 5, seed);
		assert_string_equal(v[0].host, "a10");
		assert_string_equal(v[4].host, "d30");
		for (size_t i = 1; i < 4; i++)
			assert_int_equal(v[i].pref, 20);
		/* the order of b, c, e: first two letters as a number */
		unsigned code = (unsigned)(strchr("bce", v[1].host[0]) - "bce") * 3 +
				(unsigned)(strchr("bce", v[2].host[0]) - "bce");
		seen |= 1u << code;
	}
	assert_int_equal(__builtin_popcount(seen), 6);
	/* the same seed gives the same order: the randomness is the seed's */
	struct dns_mx_target w[5];
	fill(v);
	fill(w);
	dns_mx_sort(v, 5, 42);
	dns_mx_sort(w, 5, 42);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(v[i].host, w[i].host);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolver_parse),
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_sort_and_shuffle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
