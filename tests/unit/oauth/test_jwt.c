/* test_jwt.c - the JWT verifier against tokens made by PyJWT with keys
 * made for this build (mkjwt.py): argv[1] is the JWKS, argv[2] one
 * "expected token" line per case; plus the JWKS parser's refusals and
 * base64url's strictness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/jwt.h"
#include "util/b64url.h"
#include "util/buf.h"

#define NOW 1700000000	/* mkjwt.py's clock */

static const char *jwks_path, *cases_path;

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		abort();
	static char data[1 << 16];
	*n = fread(data, 1, sizeof data - 1, f);
	data[*n] = '\0';
	fclose(f);
	return data;
}

static struct jwt_keys *
keys(void)
{
	size_t n;
	const char *why = NULL;
	const char *text = slurp(jwks_path, &n);
	struct jwt_keys *k = jwt_keys_parse(text, n, &why);
	if (k == NULL)
		fail_msg("%s", why);
	return k;
}

static void
test_cases(void **state)
{
	(void)state;
	struct jwt_keys *k = keys();
	assert_int_equal(jwt_keys_count(k), 3);	/* rsa1, ec1, rsa2; not enc1, not oct */
	struct jwt_policy p = { "https://issuer.example", "smtp.example.test", NULL, 0 };
	FILE *f = fopen(cases_path, "r");
	assert_non_null(f);
	char line[8192];
	int n = 0, ok = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		char *sp = strchr(line, ' '), *nl = strchr(line, '\n');
		assert_non_null(sp);
		assert_non_null(nl);
		*sp = *nl = '\0';
		struct jwt_result r;
		const char *why = NULL;
		enum jwt_rc rc = jwt_verify(k, &p, sp + 1, strlen(sp + 1), NOW, &r, &why);
		if (strcmp(jwt_rc_name(rc), line) != 0)
			fail_msg("case %d: want %s, got %s (%s)", n + 1, line, jwt_rc_name(rc),
				 why ? why : "-");
		if (rc == JWT_OK) {
			assert_string_equal(r.user, "alice@example.com");
			ok++;
		} else {
			assert_non_null(why);
			assert_string_equal(r.user, "");
		}
		n++;
	}
	fclose(f);
	assert_true(n >= 30);
	assert_int_equal(ok, 6);
	jwt_keys_free(&k);
	assert_null(k);
}

/* Another claim names the user; the leeway is the policy's. */
static void
test_policy(void **state)
{
	(void)state;
	struct jwt_keys *k = keys();
	FILE *f = fopen(cases_path, "r");
	char line[8192];
	assert_non_null(fgets(line, sizeof line, f));	/* the first case: valid RS256 */
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	const char *tok = strchr(line, ' ') + 1;
	struct jwt_policy p = { "https://issuer.example", "smtp.example.test", "sub", 0 };
	struct jwt_result r;
	const char *why;
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW, &r, &why), JWT_OK);
	assert_string_equal(r.user, "1234");
	assert_int_equal(r.exp, NOW + 3600);
	p.user_claim = "name";
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW, &r, &why), JWT_NO_USER);
	p.user_claim = NULL;
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW + 3600 + 60, &r, &why), JWT_OK);
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW + 3600 + 61, &r, &why),
			 JWT_EXPIRED);
	p.leeway = 5;
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW + 3600 + 6, &r, &why),
			 JWT_EXPIRED);
	p.audience = NULL;	/* misconfigured: refuse, never accept any */
	assert_int_equal(jwt_verify(k, &p, tok, strlen(tok), NOW, &r, &why), JWT_BAD_AUDIENCE);
	jwt_keys_free(&k);
}

static void
test_jwks_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[]}", "{\"keys\":[1]}",
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}",			/* nothing usable */
		"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",	/* 17 bits */
		"{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":7,"
		"\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","			/* not on the curve */
		"\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
		"{\"keys\":[],\"keys\":[]}",						/* duplicate */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *why = NULL;
		struct jwt_keys *k = jwt_keys_parse(bad[i], strlen(bad[i]), &why);
		if (k != NULL)
			fail_msg("JWKS %zu accepted", i);
		assert_non_null(why);
	}
}

static void
test_b64url(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 64);
	assert_int_equal(b64url_decode(&b, "-_8", 3), 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "\xfb\xff", 2);
	buf_reset(&b);
	assert_int_equal(b64url_encode(&b, (const uint8_t *)"\xfb\xff", 2), BUF_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, "-_8", 3);
	static const char *const bad[] = { "+_8", "-/8", "-_8=", "A", "AAAAA", "-_9", "a b", "A\n" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		buf_reset(&b);
		if (b64url_decode(&b, bad[i], strlen(bad[i])) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(b.len, 0);
	}
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_jwt JWKS CASES\n");
		return 2;
	}
	jwks_path = argv[1];
	cases_path = argv[2];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_jwks_refused),
		cmocka_unit_test(test_b64url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
