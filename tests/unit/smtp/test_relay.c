/* test_relay.c - the open-relay battery as a policy table: each RCPT TO
 * argument through smtp_path_parse() and smtp_addr_local(), the two
 * functions policy_rcpt() uses for an unauthenticated session.  The
 * same table runs against the real server in
 * tests/interop/test_relay_battery.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/addr.h"

enum want { LOCAL, RELAY, SYNTAX };

struct relay_case {
	const char *arg;	/* after "RCPT TO:" */
	enum want want;
};

static const char local_domains[] = "example.test, other.test";

static const struct relay_case cases[] = {
	{ "<user@example.test>", LOCAL },
	{ "<user@EXAMPLE.TEST>", LOCAL },
	{ "<User@Other.Test>", LOCAL },
	{ "<\"john smith\"@example.test>", LOCAL },
	{ "<postmaster>", LOCAL },
	{ "<@elsewhere.test:user@example.test>", LOCAL },	/* route ignored */
	{ "<user@elsewhere.test>", RELAY },
	{ "<user%elsewhere.test@example.test>", RELAY },
	{ "<USER%ELSEWHERE.TEST@EXAMPLE.TEST>", RELAY },
	{ "<elsewhere.test!user@example.test>", RELAY },
	{ "<user!elsewhere.test@other.test>", RELAY },
	{ "<@example.test:user@elsewhere.test>", RELAY },
	{ "<@example.test,@other.test:user@elsewhere.test>", RELAY },
	{ "<\"user@elsewhere.test\"@example.test>", RELAY },
	{ "<\"user%elsewhere.test\"@example.test>", RELAY },
	{ "<\"a!b\"@example.test>", RELAY },
	{ "<user@[127.0.0.1]>", RELAY },
	{ "<user@[IPv6:::1]>", RELAY },
	{ "<user@example.test.evil.test>", RELAY },
	{ "<user@evilexample.test>", RELAY },
	{ "<user@sub.example.test>", RELAY },
	{ "<user@example.tes>", RELAY },
	{ "<user@example>", RELAY },
	{ "<user@test>", RELAY },
	{ "<user@example.test.>", SYNTAX },
	{ "<user@example.test..>", SYNTAX },
	{ "<user@elsewhere.test@example.test>", SYNTAX },
	{ "<user@@example.test>", SYNTAX },
	{ "<user\\@elsewhere.test@example.test>", SYNTAX },
	{ "<user%elsewhere.test>", SYNTAX },
	{ "<elsewhere.test!user>", SYNTAX },
	{ "<\"user@elsewhere.test\">", SYNTAX },
	{ "<postmaster%elsewhere.test>", SYNTAX },
	{ "<@example.test:user>", SYNTAX },
	{ "<user@[127.0.0.1]@example.test>", SYNTAX },
	{ "<user@example .test>", SYNTAX },
	{ "user@elsewhere.test", SYNTAX },
	{ "<>", SYNTAX },
};

static void
test_relay_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct relay_case *t = &cases[i];
		size_t len = strlen(t->arg);
		/* exactly sized, so that ASan sees an over-read */
		char *in = malloc(len > 0 ? len : 1);
		assert_non_null(in);
		memcpy(in, t->arg, len);
		char mailbox[SMTP_PATH_MAX + 1];
		struct span params;
		const char *why = NULL;
		int rc = smtp_path_parse((struct span){ in, len }, false, mailbox, &params, &why);
		enum want got = rc != SMTP_ADDR_OK ? SYNTAX
				: smtp_addr_local(mailbox, local_domains) ? LOCAL : RELAY;
		if (got != t->want)
			fail_msg("%s: want %d, got %d (%s)", t->arg, t->want, got, why ? why : "-");
		free(in);
	}
}

static void
test_has_route(void **state)
{
	(void)state;
	assert_false(smtp_addr_has_route("user@example.test"));
	assert_false(smtp_addr_has_route("postmaster"));
	assert_false(smtp_addr_has_route("\"john smith\"@example.test"));
	assert_true(smtp_addr_has_route("a%b@example.test"));
	assert_true(smtp_addr_has_route("a!b@example.test"));
	assert_true(smtp_addr_has_route("\"a@b\"@example.test"));
	assert_true(smtp_addr_has_route("a%b"));
	/* route characters in the domain are the parser's business */
	assert_false(smtp_addr_has_route("a@b"));
}

static void
test_local_edge(void **state)
{
	(void)state;
	assert_false(smtp_addr_local("user@example.test", ""));
	assert_false(smtp_addr_local("user@example.test", NULL));
	assert_true(smtp_addr_local("user@example.test", "example.test"));
	/* an address literal is never local, even when listed */
	assert_false(smtp_addr_local("user@[127.0.0.1]", "[127.0.0.1]"));
	assert_true(smtp_addr_local("postmaster", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_table),
		cmocka_unit_test(test_has_route),
		cmocka_unit_test(test_local_edge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
