/* test_header.c - header fields and address lists (smtp/header.h),
 * strict mode as check_header_from uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/header.h"

struct list_case {
	const char *value;
	int rc;			/* strict mode */
	const char *want;	/* addresses joined by ' ' on success */
};

static const struct list_case cases[] = {
	{ " alice@example.test\r\n", 0, "alice@example.test" },
	{ " Alice <alice@example.test>\r\n", 0, "alice@example.test" },
	{ " \"boss@bank.test\" <alice@example.test>\r\n", 0, "alice@example.test" },
	{ " =?utf-8?q?Bo=C3=9F?= <alice@example.test>\r\n", 0, "alice@example.test" },
	{ " alice@example.test (boss@bank.test)\r\n", 0, "alice@example.test" },
	{ " <alice@example.test> (a comment)\r\n", 0, "alice@example.test" },
	{ " a@x.test,\r\n b@y.test\r\n", 0, "a@x.test b@y.test" },
	{ " team: a@x.test, B <b@y.test>;\r\n", 0, "a@x.test b@y.test" },
	{ " \"a, b\" <a@x.test>, c@y.test\r\n", 0, "a@x.test c@y.test" },
	{ " \"quoted local\"@x.test\r\n", 0, "\"quoted local\"@x.test" },
	{ " undisclosed:;\r\n", 0, "" },
	{ "", 0, "" },
	/* strict refusals */
	{ " <a@x.test> b@y.test\r\n", -2, NULL },
	{ " <a@x.test\r\n", -2, NULL },
	{ " \"a@x.test\r\n", -2, NULL },
	{ " a@x.test (comment\r\n", -2, NULL },
	{ " b@y.test:;\r\n", -2, NULL },
	{ " \"b@y.test\": a@x.test;\r\n", -2, NULL },
};

static void
test_addresses_strict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct list_case *t = &cases[i];
		size_t len = strlen(t->value);
		char *v = malloc(len > 0 ? len : 1);
		assert_non_null(v);
		memcpy(v, t->value, len);
		char **l = NULL;
		size_t n = 0;
		int rc = smtp_header_addresses(v, len, SMTP_HEADER_STRICT, &l, &n);
		if (rc != t->rc)
			fail_msg("'%s': rc %d, want %d", t->value, rc, t->rc);
		if (t->want != NULL) {
			char got[512] = "";
			size_t o = 0;
			for (size_t j = 0; j < n && o < sizeof got; j++)
				o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", j > 0 ? " " : "", l[j]);
			if (strcmp(got, t->want) != 0)
				fail_msg("'%s': got '%s', want '%s'", t->value, got, t->want);
		}
		smtp_list_free(&l, n);
		free(v);
	}
}

static void
test_lenient_keeps_guessing(void **state)
{
	(void)state;
	/* `send -t` takes what it can from its own user's message */
	char **l = NULL;
	size_t n = 0;
	const char v[] = "<a@x.test> b@y.test, \"c@z.test";
	assert_int_equal(smtp_header_addresses(v, sizeof v - 1, 0, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0], "a@x.test");
	smtp_list_free(&l, n);
	assert_null(l);
}

static void
test_fields(void **state)
{
	(void)state;
	static const char msg[] = "Subject: hi\r\nFrom : a@x.test\r\nTo: b@y.test,\r\n c@z.test\r\n"
				  "\r\nFrom: body@x.test\r\n";
	const uint8_t *m = (const uint8_t *)msg;
	size_t n = sizeof msg - 1, hlen = smtp_header_len(m, n), pos = 0;
	assert_int_equal(hlen, strstr(msg, "\r\n\r\n") + 4 - msg);
	struct smtp_header_field f;
	const char *names[] = { "subject", "FROM", "to" };
	for (size_t i = 0; i < 3; i++) {
		assert_true(smtp_header_next(m, hlen, &pos, &f));
		assert_true(smtp_header_is(m, &f, names[i]));
	}
	/* the folded To value runs to the end of its continuation */
	assert_memory_equal(m + f.value, " b@y.test,\r\n c@z.test\r\n", f.end - f.value);
	assert_false(smtp_header_next(m, hlen, &pos, &f));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_strict),
		cmocka_unit_test(test_lenient_keeps_guessing),
		cmocka_unit_test(test_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
