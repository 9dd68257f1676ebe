/* test_local_rcpt.c - the local_recipients map: parse errors name the
 * file and line, lookups fold case and unquote but never read a route
 * into a local part, catch-alls and bare local parts, expansion with
 * self-reference, duplicates, loops and the depth bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "deliver/local_rcpt.h"

static char tmpdir[] = "/tmp/postern-local-rcpt-XXXXXX";

/* Writes text into tmpdir/NAME and loads it; *err_r as returned. */
static struct local_rcpt *
load_text(const char *text, char **err_r)
{
	FILE *f = fopen("map", "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return local_rcpt_load("file:map", tmpdir, err_r);
}

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)unlink("map");
	return rmdir(tmpdir);
}

static const char map_text[] =
	"# aliases\n"
	"postmaster@example.test   alice@example.test\n"
	"info@Example.TEST  alice, bob@example.test,  Someone@Remote.Example # list\n"
	"alice@example.test\n"
	"bob@example.test:\n"
	"abuse: postmaster\n"
	"@catch.test   alice@example.test\n"
	"copy@example.test  copy, archive@example.test\n"
	"\n";

static void
test_lookup(void **state)
{
	char *err = NULL;
	struct local_rcpt *m = load_text(map_text, &err);
	assert_null(err);
	assert_non_null(m);
	assert_int_equal(local_rcpt_lookup(m, "alice@example.test"), LOCAL_RCPT_EXACT);
	assert_int_equal(local_rcpt_lookup(m, "ALICE@Example.Test"), LOCAL_RCPT_EXACT);
	assert_int_equal(local_rcpt_lookup(m, "\"alice\"@example.test"), LOCAL_RCPT_EXACT);
	assert_int_equal(local_rcpt_lookup(m, "info@example.test"), LOCAL_RCPT_EXACT);
	assert_int_equal(local_rcpt_lookup(m, "abuse@anywhere.test"), LOCAL_RCPT_EXACT);
	assert_int_equal(local_rcpt_lookup(m, "nobody@example.test"), LOCAL_RCPT_NONE);
	assert_int_equal(local_rcpt_lookup(m, "anyone@catch.test"), LOCAL_RCPT_CATCHALL);
	assert_int_equal(local_rcpt_lookup(m, "Anyone@CATCH.test"), LOCAL_RCPT_CATCHALL);
	/* routes and quoted specials are never known, not even by a catch-all */
	assert_int_equal(local_rcpt_lookup(m, "alice%other@example.test"), LOCAL_RCPT_NONE);
	assert_int_equal(local_rcpt_lookup(m, "x!alice@catch.test"), LOCAL_RCPT_NONE);
	assert_int_equal(local_rcpt_lookup(m, "\"alice@example.test\"@catch.test"), LOCAL_RCPT_NONE);
	assert_int_equal(local_rcpt_lookup(m, "\"a b\"@catch.test"), LOCAL_RCPT_NONE);
	assert_int_equal(local_rcpt_lookup(NULL, "alice@example.test"), LOCAL_RCPT_NONE);
	local_rcpt_free(&m);
	assert_null(m);
}

static void
expect_expand(const struct local_rcpt *m, const char *addr, const char *const *want, size_t nwant)
{
	char **l = NULL, *err = NULL;
	size_t n = 0;
	assert_int_equal(local_rcpt_expand(m, addr, &l, &n, &err), 0);
	assert_null(err);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l[i], want[i]);
	local_rcpt_list_free(&l, n);
	assert_null(l);
}

static void
test_expand(void **state)
{
	char *err = NULL;
	struct local_rcpt *m = load_text(map_text, &err);
	assert_non_null(m);
	static const char *const pm[] = { "alice@example.test" };
	expect_expand(m, "postmaster@example.test", pm, 1);
	static const char *const info[] = { "alice@example.test", "bob@example.test",
					    "Someone@remote.example" };
	expect_expand(m, "info@EXAMPLE.test", info, 3);
	/* abuse -> postmaster (bare: same domain) -> alice */
	static const char *const ab[] = { "alice@example.test" };
	expect_expand(m, "abuse@example.test", ab, 1);
	static const char *const other[] = { "postmaster@other.test" };
	expect_expand(m, "abuse@other.test", other, 1);
	static const char *const copy[] = { "copy@example.test", "archive@example.test" };
	expect_expand(m, "copy@example.test", copy, 2);
	static const char *const unk[] = { "Stranger@remote.example" };
	expect_expand(m, "Stranger@Remote.Example", unk, 1);
	expect_expand(NULL, "Stranger@remote.example", unk, 1);
	static const char *const c[] = { "alice@example.test" };
	expect_expand(m, "whoever@catch.test", c, 1);
	local_rcpt_free(&m);
}

static void
expect_expand_err(const struct local_rcpt *m, const char *addr, const char *want)
{
	char **l = NULL, *err = NULL;
	size_t n = 0;
	assert_int_equal(local_rcpt_expand(m, addr, &l, &n, &err), -1);
	assert_null(l);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
}

static void
test_loops(void **state)
{
	char *err = NULL;
	struct local_rcpt *m = load_text("a@x.test b@x.test\nb@x.test c@x.test\nc@x.test a@x.test\n"
					 "@loop.test someone@loop.test\n",
					 &err);
	assert_non_null(m);
	expect_expand_err(m, "a@x.test", "alias loop: a@x.test -> b@x.test -> c@x.test -> a@x.test");
	/* a catch-all to an address of its own domain: that address is
	 * final when reached again (no entry of its own), not a loop */
	static const char *const some[] = { "someone@loop.test" };
	expect_expand(m, "no@loop.test", some, 1);
	local_rcpt_free(&m);

	/* a chain of 25 distinct addresses passes the depth bound */
	char text[4096];
	size_t o = 0;
	for (int i = 0; i < 25; i++)
		o += (size_t)snprintf(text + o, sizeof text - o, "d%d@x.test d%d@x.test\n", i, i + 1);
	m = load_text(text, &err);
	assert_non_null(m);
	char **l = NULL;
	size_t n = 0;
	assert_int_equal(local_rcpt_expand(m, "d0@x.test", &l, &n, &err), -1);
	assert_non_null(strstr(err, "alias chain deeper than 20: d0@x.test -> d1@x.test"));
	free(err);
	err = NULL;
	static const char *const tail[] = { "d25@x.test" };
	expect_expand(m, "d10@x.test", tail, 1);
	local_rcpt_free(&m);
}

static void
expect_load_err(const char *text, const char *want)
{
	char *err = NULL;
	struct local_rcpt *m = load_text(text, &err);
	assert_null(m);
	assert_non_null(err);
	char full[512];
	snprintf(full, sizeof full, "%s/map:%s", tmpdir, want);
	assert_string_equal(err, full);
	free(err);
}

static void
test_errors(void **state)
{
	expect_load_err("ok@x.test\nbad%key@x.test a@x.test\n",
			"2: 'bad%key@x.test': not a plain local part (a dot-atom without '/', '%' or '!')");
	expect_load_err("a@x.test\n\nb@ a@x.test\n", "3: 'b@': bad or missing domain");
	expect_load_err("a@x.test <b@x.test>\n",
			"1: target '<b@x.test>' is not an address or local part (invalid character in local part)");
	expect_load_err("a@x.test b\x01@x.test\n", "1: control or non-ASCII byte 0x01");
	expect_load_err("a@x.test b@x.test\n# c\nA@X.test c@x.test\n",
			"3: 'a@x.test' is listed twice (also on line 1)");
	char *err = NULL;
	assert_null(local_rcpt_load("file:/nonexistent/map", NULL, &err));
	assert_string_equal(err, "/nonexistent/map: No such file or directory");
	free(err);
}

static void
test_canon(void **state)
{
	char out[300];
	assert_int_equal(local_rcpt_canon("Bob.Smith@EXAMPLE.test", out, sizeof out), 0);
	assert_string_equal(out, "bob.smith@example.test");
	assert_int_equal(local_rcpt_canon("\"b\\ob\"@x.test", out, sizeof out), 0);
	assert_string_equal(out, "bob@x.test");
	assert_int_equal(local_rcpt_canon("postmaster", out, sizeof out), -1);
	assert_int_equal(local_rcpt_canon(".a@x.test", out, sizeof out), -1);
	assert_int_equal(local_rcpt_canon("a..b@x.test", out, sizeof out), -1);
	assert_int_equal(local_rcpt_canon("a/b@x.test", out, sizeof out), -1);
	assert_int_equal(local_rcpt_canon("a@x.test", out, 5), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup), cmocka_unit_test(test_expand),
		cmocka_unit_test(test_loops), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_canon),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
