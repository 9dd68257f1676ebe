/* test_sendermap.c - sender_login_map: loading (every malformed line is
 * PATH:LINE), and what each login may send as, with and without a map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/sendermap.h"

static char path[] = "/tmp/postern-sendermap-XXXXXX";

static struct sendermap *
load(const char *text, char **err_r)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return sendermap_load(path, err_r);
}

static int
setup(void **state)
{
	(void)state;
	int fd = mkstemp(path);
	return fd < 0 ? -1 : close(fd);
}

static int
teardown(void **state)
{
	(void)state;
	return unlink(path);
}

struct grant_case {
	const char *login, *address;
	bool want;
};

static void
test_grants(void **state)
{
	(void)state;
	char *err = NULL;
	struct sendermap *m = load("# comment\n\n  carol\tcarol@example.org   @Team.Test\n"
				   "zed z@example.org\ncarol c.smith@example.org\n"
				   "alice@example.test alice@example.test boss@example.test\n", &err);
	assert_null(err);
	assert_non_null(m);
	static const struct grant_case cases[] = {
		/* listed: exactly its lines (accumulated over lines) */
		{ "carol", "carol@example.org", true },
		{ "carol", "CAROL@Example.ORG", true },
		{ "carol", "c.smith@example.org", true },
		{ "carol", "anyone@team.test", true },
		{ "carol", "x@sub.team.test", false },
		{ "carol", "x@evilteam.test", false },
		{ "carol", "x@team.test.evil.test", false },
		{ "carol", "carol@example.test", false },	/* the default does not apply */
		{ "carol", "", false },				/* the null sender is policy.c's */
		{ "zed", "z@example.org", true },
		{ "zed", "carol@example.org", false },
		{ "alice@example.test", "boss@example.test", true },
		/* logins are exact */
		{ "Carol", "carol@example.org", false },
		{ "Carol", "carol@example.test", true },	/* unlisted: default */
		/* unlisted, login is an address: that address only */
		{ "dave@example.test", "dave@example.test", true },
		{ "dave@example.test", "DAVE@EXAMPLE.TEST", true },
		{ "dave@example.test", "dave@other.test", false },
		{ "dave@example.test", "\"dave\"@example.test", false },
		/* unlisted, login not an address: login@ each local domain */
		{ "bob", "bob@example.test", true },
		{ "bob", "bob@other.test", true },
		{ "bob", "bob@elsewhere.test", false },
		{ "bob", "bobby@example.test", false },
		{ "bob", "bo@example.test", false },
		{ "bob", "bob@sub.example.test", false },
		{ "bob", "bob", false },
	};
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
			const struct grant_case *t = &cases[i];
			bool listed = strcmp(t->login, "carol") == 0 || strcmp(t->login, "zed") == 0 ||
				      strcmp(t->login, "alice@example.test") == 0;
			if (pass == 1 && listed)
				continue;	/* without a map, only the default rule */
			bool got = sendermap_grants(pass == 0 ? m : NULL, t->login, t->address,
						    "example.test other.test");
			if (got != t->want)
				fail_msg("pass %d: %s as <%s>: got %d", pass, t->login, t->address, got);
		}
	}
	/* no local domains: a login that is not an address owns nothing */
	assert_false(sendermap_grants(NULL, "bob", "bob@example.test", ""));
	sendermap_free(&m);
	assert_null(m);
}

struct bad_case {
	const char *text;
	const char *why;	/* after "PATH:LINE: " */
	unsigned line;
};

static void
test_malformed(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "ok ok@x.test\ncarol\n", "login 'carol' has no addresses", 2 },
		{ "carol carol@\n", "'carol@' is not an address or @domain (empty domain label)", 1 },
		{ "carol carol\n", "'carol' is not an address or @domain (missing '@domain')", 1 },
		{ "carol postmaster\n", "'postmaster' is not an address or @domain", 1 },
		{ "carol @\n", "'@' is not an address or @domain", 1 },
		{ "carol @a..b\n", "'@a..b' is not an address or @domain (empty domain label)", 1 },
		{ "carol <a@b.test>\n", "'<a@b.test>' is not an address or @domain", 1 },
		{ "#\n\ncarol a@b.test,c@d.test\n", "'a@b.test,c@d.test' is not an address", 3 },
		{ "carol a@b.test x\x01y@b.test\n", "control or non-ASCII byte 0x01", 1 },
		{ "carol caf\xc3\xa9@b.test\n", "control or non-ASCII byte 0xc3", 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *err = NULL;
		struct sendermap *m = load(cases[i].text, &err);
		assert_null(m);
		assert_non_null(err);
		char want[512];
		(void)snprintf(want, sizeof want, "%s:%u: %s", path, cases[i].line, cases[i].why);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("got '%s', want '%s'", err, want);
		free(err);
	}
	char *err = NULL;
	assert_null(sendermap_load("/nonexistent/senders", &err));
	assert_string_equal(err, "/nonexistent/senders: No such file or directory");
	free(err);
}

static void
test_long_line(void **state)
{
	(void)state;
	size_t n = 5000;
	char *text = malloc(n + 2);
	assert_non_null(text);
	memset(text, 'a', n);
	memcpy(text, "carol ", 6);
	text[n] = '\n';
	text[n + 1] = '\0';
	char *err = NULL;
	assert_null(load(text, &err));
	assert_non_null(strstr(err, ":1: line longer than 4096 bytes"));
	free(err);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_long_line),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
