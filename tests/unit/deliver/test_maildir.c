/* test_maildir.c - which local parts a Maildir delivery accepts, and the
 * template expansion (%u, %d, %%; substituted once, folded to lower
 * case).  The writing itself is tested through tests/tools/maildir_put
 * in tests/interop/test_maildir.py, read back by Python's mailbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deliver/maildir.h"

static void
test_local_parts(void **state)
{
	static const char *const good[] = {
		"alice", "Alice.Smith", "a+tag", "o'hara", "x_y-z", "1", "a=b", "{x}", "~u",
		"a.b.c",
		/* 64 bytes, the RFC 5321 limit */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "a.", "a..b", "../etc", "a/b", "/", "a%b", "a!b",
		"\"a@b\"", "a@b", "\"quoted\"", "a b", "a\tb", "a\nb", "a\\b", "a,b", "a;b",
		"a:b", "<a>", "a(b)", "a[b]", "b\xc3\xbc", "a\x7f",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		print_message("good %s\n", good[i]);
		assert_true(maildir_local_ok(good[i]));
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		print_message("bad %s\n", bad[i]);
		assert_false(maildir_local_ok(bad[i]));
	}
}

static void
expand_ok(const char *tpl, const char *local, const char *domain, const char *want)
{
	struct maildir_env env = { local, domain, "s@x", "r@y" };
	struct maildir_error err = { 0 };
	char *dir = NULL;
	assert_int_equal(maildir_expand(tpl, &env, &dir, &err), 0);
	assert_string_equal(dir, want);
	assert_null(err.why);
	free(dir);
}

static void
expand_fails(const char *tpl, const char *local, const char *domain, bool temporary,
	     const char *code)
{
	struct maildir_env env = { local, domain, "s@x", "r@y" };
	struct maildir_error err = { 0 };
	char *dir = NULL;
	assert_int_equal(maildir_expand(tpl, &env, &dir, &err), -1);
	assert_null(dir);
	assert_int_equal(err.temporary, temporary);
	assert_string_equal(err.enhanced, code);
	assert_non_null(err.why);
	free(err.why);
}

static void
test_expand(void **state)
{
	expand_ok("/var/mail/%u/Maildir", "alice", "example.test", "/var/mail/alice/Maildir");
	expand_ok("/m/%d/%u", "Bob.Smith", "Example.TEST", "/m/example.test/bob.smith");
	expand_ok("/m/100%%/%u", "a", "x", "/m/100%/a");
	expand_ok("/m/fixed", "a", "x", "/m/fixed");
	/* '%' in a local part is refused, never expanded or routed on */
	expand_fails("/m/%u", "a%u", "x", false, "5.1.3");
	expand_fails("/m/%u", "../root", "x", false, "5.1.3");
	expand_fails("/m/%d/%u", "a", "../etc", false, "5.1.3");
	expand_fails("/m/%d/%u", "a", "x/y", false, "5.1.3");
	expand_fails("/m/%x", "a", "x", true, "4.3.5");		/* config error: retry */
	expand_fails("/m/%", "a", "x", true, "4.3.5");
	expand_fails("", "a", "x", true, "4.3.5");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_parts),
		cmocka_unit_test(test_expand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
