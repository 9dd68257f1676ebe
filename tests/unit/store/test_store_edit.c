/* test_store_edit.c - add/del rewrite the file keeping every other byte,
 * the store notices the change without a restart, and the rules for
 * user names and specs. */
#include "store_test.h"

#include "store/store.h"
#include "store/store_file.h"

static char *
slurp(const char *path)
{
	char *text, *err = NULL;
	size_t len;
	struct stat st;
	if (store_file_db_read(path, &text, &len, &st, &err) < 0)
		fail_msg("%s", err);
	return text;
}

static enum sasl_cred_status
check(struct store *st, const char *user, const char *pw)
{
	struct sasl_cred_request req = { .kind = SASL_CRED_PASSWORD, .authcid = user,
		.password = (const uint8_t *)pw, .password_len = strlen(pw) };
	struct sasl_cred_answer a;
	store_answer(st, &req, &a);
	return a.status;
}

static enum store_file_edit_rc
edit_add(const char *path, const char *user, const char *password, char **err_r)
{
	struct store_file_newuser u = { .name = user, .password = password };
	return store_file_edit_add(path, &u, err_r);
}

static void
test_add_del(void **state)
{
	(void)state;
	char *err = NULL;
	unlink(users);
	assert_int_equal(edit_add(users, "alice", "pw-a", &err), STORE_FILE_EDIT_OK);
	assert_null(err);
	struct stat st;
	assert_int_equal(stat(users, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* The store sees later changes with no reload call. */
	struct store *s = store_open("file:users", tmpdir, &err);
	assert_non_null(s);
	assert_int_equal(check(s, "alice", "pw-a"), SASL_CRED_OK);
	assert_int_equal(check(s, "bob", "pw-b"), SASL_CRED_NOUSER);

	/* A hand-written comment survives both edits. */
	char *text = slurp(users);
	FILE *f = fopen(users, "a");
	assert_non_null(f);
	fputs("# keep me\n", f);
	fclose(f);
	assert_int_equal(edit_add(users, "bob", "pw-b", &err), STORE_FILE_EDIT_OK);
	assert_int_equal(edit_add(users, "carol", "pw-c", &err), STORE_FILE_EDIT_OK);
	assert_int_equal(check(s, "bob", "pw-b"), SASL_CRED_OK);

	assert_int_equal(edit_add(users, "bob", "other", &err), STORE_FILE_EDIT_EXISTS);
	char want[400];
	snprintf(want, sizeof want, "%s: user 'bob' already exists", users);
	assert_string_equal(err, want);
	free(err);
	err = NULL;

	assert_int_equal(store_file_edit_del(users, "bob", &err), STORE_FILE_EDIT_OK);
	assert_int_equal(check(s, "bob", "pw-b"), SASL_CRED_NOUSER);
	assert_int_equal(check(s, "carol", "pw-c"), SASL_CRED_OK);
	assert_int_equal(store_file_edit_del(users, "carol", &err), STORE_FILE_EDIT_OK);
	/* Back to alice plus the comment, byte for byte. */
	char *now = slurp(users);
	size_t n = strlen(text);
	assert_int_equal(strlen(now), n + strlen("# keep me\n"));
	assert_memory_equal(now, text, n);
	assert_string_equal(now + n, "# keep me\n");
	free(text);
	free(now);

	assert_int_equal(store_file_edit_del(users, "carol", &err), STORE_FILE_EDIT_NOUSER);
	snprintf(want, sizeof want, "%s: unknown user 'carol'", users);
	assert_string_equal(err, want);
	free(err);
	err = NULL;

	assert_int_equal(edit_add(users, "a:b", "x", &err), STORE_FILE_EDIT_ERROR);
	assert_string_equal(err, "user 'a:b': ':' in user name");
	free(err);
	err = NULL;
	store_free(&s);
}

/* A broken file is reported and never rewritten; a running store keeps
 * the users it had until the file is whole again. */
static void
test_broken_file(void **state)
{
	(void)state;
	char *err = NULL;
	unlink(users);
	assert_int_equal(edit_add(users, "alice", "pw-a", &err), STORE_FILE_EDIT_OK);
	struct store *s = store_open("file:users", tmpdir, &err);
	assert_non_null(s);
	char *good = slurp(users);

	FILE *f = fopen(users, "a");
	assert_non_null(f);
	fputs("bob:{NOPE}x\n", f);
	fclose(f);
	assert_int_equal(check(s, "alice", "pw-a"), SASL_CRED_OK);	/* old contents */
	char want[400];
	snprintf(want, sizeof want, "%s:3: unknown scheme {NOPE}", users);
	assert_int_equal(store_reload(s, &err), -1);
	assert_string_equal(err, want);
	free(err);
	err = NULL;
	assert_int_equal(edit_add(users, "carol", "pw-c", &err), STORE_FILE_EDIT_ERROR);
	assert_string_equal(err, want);
	free(err);
	err = NULL;

	f = fopen(users, "w");
	assert_non_null(f);
	fputs(good, f);
	fclose(f);
	assert_int_equal(store_reload(s, &err), 0);
	assert_int_equal(check(s, "alice", "pw-a"), SASL_CRED_OK);
	free(good);
	store_free(&s);
}

/* A folder that cannot hold the file: the message names the file and
 * the errno text.  (A read-only folder is tested in tests/interop as a
 * plain user; root may write anywhere, so here the "folder" is a file.) */
static void
test_unwritable(void **state)
{
	(void)state;
	char notdir[400], path[450], want[600];
	snprintf(notdir, sizeof notdir, "%s/plainfile", tmpdir);
	FILE *f = fopen(notdir, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof path, "%s/users", notdir);
	char *err = NULL;
	assert_int_equal(edit_add(path, "alice", "pw", &err), STORE_FILE_EDIT_ERROR);
	snprintf(want, sizeof want, "%s.lock: cannot create lock file: Not a directory", path);
	assert_string_equal(err, want);
	free(err);
}

struct name_case {
	const char *in;
	const char *out;	/* NULL: refused with why */
	const char *why;
};

static void
test_user_prep(void **state)
{
	(void)state;
	char long_name[300];
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	const struct name_case cases[] = {
		{ "alice@example.test", "alice@example.test", NULL },
		{ "\xe2\x85\xa8", "IX", NULL },
		{ "J\xc3\xbcrgen", "J\xc3\xbcrgen", NULL },
		{ "a b", "a b", NULL },
		{ "", NULL, "empty user name" },
		{ "\xc2\xad", NULL, "empty user name" },
		{ "a:b", NULL, "':' in user name" },
		{ "#a", NULL, "user name starts with '#'" },
		{ " a", NULL, "user name starts or ends with a space" },
		{ "a\tb", NULL, "control character in user name" },
		{ "a\x7f", NULL, "control character in user name" },
		{ long_name, NULL, "user name longer than 255 bytes" },
		{ "\xc3\x28", NULL, "invalid UTF-8" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *out = NULL;
		const char *why = NULL;
		int rc = store_user_prep(cases[i].in, &out, &why);
		if (cases[i].out != NULL) {
			if (rc != 0 || strcmp(out, cases[i].out) != 0)
				fail_msg("case %zu: %s", i, rc ? why : out);
		} else if (rc != -1 || strcmp(why, cases[i].why) != 0) {
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].why, rc ? why : out);
		}
		free(out);
	}
}

static void
test_spec_file(void **state)
{
	(void)state;
	char *err = NULL, *p;
	p = store_spec_file("file:users", "/etc/postern", &err);
	assert_string_equal(p, "/etc/postern/users");
	free(p);
	p = store_spec_file("file:/var/lib/users", "/etc/postern", &err);
	assert_string_equal(p, "/var/lib/users");
	free(p);
	p = store_spec_file("users", "/etc/postern", &err);	/* bare path */
	assert_string_equal(p, "/etc/postern/users");
	free(p);
	p = store_spec_file("./a:b", NULL, &err);
	assert_string_equal(p, "./a:b");
	free(p);
	assert_null(store_spec_file("pgsql:dbname=mail", "/etc", &err));
	assert_string_equal(err, "credentials 'pgsql:dbname=mail': unknown backend 'pgsql' (this postern has: file, pam)");
	free(err);
	assert_null(store_spec_file("file:", "/etc", &err));
	assert_string_equal(err, "credentials 'file:': no file name");
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_del),
		cmocka_unit_test(test_broken_file),
		cmocka_unit_test(test_unwritable),
		cmocka_unit_test(test_user_prep),
		cmocka_unit_test(test_spec_file),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
