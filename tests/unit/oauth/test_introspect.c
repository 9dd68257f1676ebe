/* test_introspect.c - reading RFC 7662 introspection answers
 * (lib/oauth/introspect.c): one table row per answer, with and without
 * a configured issuer and audience, each answer also given on the heap
 * at exactly its size (ASan sees a read past its end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/introspect.h"

#define NOW 1700000000
#define LATER "1700003600"
#define EARLIER "1699990000"

struct row {
	const char *answer;
	bool policy;		/* issuer and audience configured */
	const char *want;	/* jwt_rc_name() */
	const char *user;	/* on "ok" */
};

static const struct row rows[] = {
	{ "{\"active\":true,\"email\":\"alice@example.test\",\"exp\":" LATER "}", false, "ok",
	  "alice@example.test" },
	/* RFC 7662 2.2: only active is required. */
	{ "{\"active\":true,\"email\":\"alice@example.test\"}", false, "ok", "alice@example.test" },
	{ "{\"active\":true,\"username\":\"bob\"}", false, "ok", "bob" },
	/* the configured claim wins over username */
	{ "{\"active\":true,\"username\":\"bob\",\"email\":\"carol@x\"}", false, "ok", "carol@x" },
	{ "{\"active\":true,\"email\":\"a@x\",\"iss\":\"https://issuer.example\","
	  "\"aud\":[\"other\",\"smtp.example.test\"]}", true, "ok", "a@x" },
	{ "{\"active\":true,\"email\":\"a@x\",\"exp\":" EARLIER "}", false, "expired", NULL },
	{ "{\"active\":true,\"email\":\"a@x\",\"exp\":\"" LATER "\"}", false, "expired", NULL },
	{ "{\"active\":true,\"email\":\"a@x\",\"nbf\":" LATER "}", false, "not_yet_valid", NULL },
	{ "{\"active\":false}", false, "inactive", NULL },
	{ "{\"active\":false,\"email\":\"a@x\"}", true, "inactive", NULL },
	{ "{\"active\":\"true\",\"email\":\"a@x\"}", false, "malformed", NULL },
	{ "{\"email\":\"a@x\"}", false, "malformed", NULL },
	{ "{\"active\":true,\"active\":false,\"email\":\"a@x\"}", false, "malformed", NULL },
	{ "[{\"active\":true}]", false, "malformed", NULL },
	{ "{\"active\":true,\"email\":\"a@x\"", false, "malformed", NULL },
	{ "", false, "malformed", NULL },
	/* configured iss/aud are required then */
	{ "{\"active\":true,\"email\":\"a@x\",\"aud\":\"smtp.example.test\"}", true, "bad_issuer",
	  NULL },
	{ "{\"active\":true,\"email\":\"a@x\",\"iss\":\"https://issuer.example\"}", true,
	  "bad_audience", NULL },
	{ "{\"active\":true,\"email\":\"a@x\",\"iss\":\"https://evil.example\","
	  "\"aud\":\"smtp.example.test\"}", true, "bad_issuer", NULL },
	{ "{\"active\":true}", false, "no_user", NULL },
	{ "{\"active\":true,\"email\":\"\"}", false, "no_user", NULL },
	{ "{\"active\":true,\"email\":\"a\\u0007b\"}", false, "no_user", NULL },
	{ "{\"active\":true,\"email\":\"a\\u0000b\"}", false, "malformed", NULL },
	/* a far exp is kept, clamped, not undefined */
	{ "{\"active\":true,\"email\":\"a@x\",\"exp\":1e300}", false, "ok", "a@x" },
};

static void
test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		const struct row *t = &rows[i];
		struct jwt_policy p = { NULL, NULL, NULL, 0 };
		if (t->policy) {
			p.issuer = "https://issuer.example";
			p.audience = "smtp.example.test";
		}
		size_t n = strlen(t->answer);
		char *heap = malloc(n > 0 ? n : 1);
		assert_non_null(heap);
		memcpy(heap, t->answer, n);
		struct jwt_result r;
		const char *why = NULL;
		enum jwt_rc rc = introspect_parse(heap, n, &p, NOW, &r, &why);
		free(heap);
		if (strcmp(jwt_rc_name(rc), t->want) != 0)
			fail_msg("row %zu: want %s, got %s (%s)", i, t->want, jwt_rc_name(rc),
				 why ? why : "");
		if (rc == JWT_OK) {
			assert_string_equal(r.user, t->user);
		} else {
			assert_non_null(why);
			assert_string_equal(r.user, "");
		}
	}
}

/* exp, when there, is what a cache keeps the answer for. */
static void
test_exp(void **state)
{
	(void)state;
	static const char a[] = "{\"active\":true,\"sub\":\"u1\",\"exp\":" LATER "}";
	struct jwt_policy p = { NULL, NULL, "sub", 0 };
	struct jwt_result r;
	const char *why = NULL;
	assert_int_equal(introspect_parse(a, sizeof a - 1, &p, NOW, &r, &why), JWT_OK);
	assert_string_equal(r.user, "u1");
	assert_int_equal(r.exp, 1700003600);
	static const char b[] = "{\"active\":true,\"sub\":\"u1\"}";
	assert_int_equal(introspect_parse(b, sizeof b - 1, &p, NOW, &r, &why), JWT_OK);
	assert_int_equal(r.exp, 0);
	/* within the leeway (60 s) an answer just past exp still counts */
	static const char c[] = "{\"active\":true,\"sub\":\"u1\",\"exp\":1699999970}";
	assert_int_equal(introspect_parse(c, sizeof c - 1, &p, NOW, &r, &why), JWT_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_exp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
