/* test_store_list.c - credentials lists ("file:users pam:smtp") and the
 * pam: backend's parts that need no PAM conversation: the spec rules
 * word for word, which backend decides for which user, what PAM cannot
 * answer, and what `postern passwd` is told.  Real PAM logins (a Unix
 * account, a service file) are tests/interop/test_pam.py: they need root.
 *
 * "pam:other" names /etc/pam.d/other, which every Debian system has
 * (libpam-runtime); these tests never start a PAM conversation on it. */
#include "store_test.h"

#include "store/store.h"
#include "store/store_file.h"
#include "store/store_impl.h"

/* RFC 5802 section 5 (user "user", password "pencil"). */
#define SHA1_REC "{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE="

static void
put_users(void)
{
	FILE *f = fopen(users, "w");
	assert_non_null(f);
	assert_true(fputs(STORE_FILE_MARKER "\nuser:" SHA1_REC "\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static struct sasl_cred_answer
ask(struct store *st, enum sasl_cred_kind kind, const char *user)
{
	struct sasl_cred_request req = { .kind = kind, .authcid = user };
	struct sasl_cred_answer a;
	store_answer(st, &req, &a);
	return a;
}

/* store_open() refuses spec with exactly this message. */
static void
refused(const char *spec, const char *want)
{
	char *err = NULL;
	struct store *st = store_open(spec, tmpdir, &err);
	assert_null(st);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
}

static void
test_list_rules(void **state)
{
	(void)state;
	put_users();
	refused("pam:other file:users",
		"credentials 'pam:other file:users': pam: must come last (PAM cannot tell an "
		"unknown user from a wrong password, so no backend after it would be asked)");
	refused("file:users file:users", "credentials 'file:users file:users': file:users is listed twice");
	refused("file:a file:b file:c file:d file:e",
		"credentials 'file:a file:b file:c file:d file:e': more than 4 backends");
	refused("pam:no-such-postern-service",
		"/etc/pam.d/no-such-postern-service: no such service file (PAM would fall back to "
		"/etc/pam.d/other); write one for pam:no-such-postern-service, e.g. 'auth required "
		"pam_unix.so' and 'account required pam_unix.so'");
	refused("pam:../shadow", "pam:../shadow: a service name is a file name in /etc/pam.d "
		"(letters, digits, '.', '_', '-')");
	refused("pam:", "pam:: no service name (pam:SERVICE, a file in /etc/pam.d)");

	char *err = NULL;
	struct store *st = store_open("file:users  pam:other", tmpdir, &err);
	assert_null(err);
	assert_non_null(st);
	store_free(&st);
}

static void
test_spec_file(void **state)
{
	(void)state;
	char *err = NULL;
	/* passwd edits the list's file store. */
	char *p = store_spec_file("file:users pam:smtp", "/etc/postern", &err);
	assert_string_equal(p, "/etc/postern/users");
	free(p);
	/* Not a list: a word without a backend's "scheme:". */
	p = store_spec_file("file:/srv/my users", "/etc/postern", &err);
	assert_string_equal(p, "/srv/my users");
	free(p);
	assert_null(store_spec_file("pam:smtp", "/etc/postern", &err));
	assert_string_equal(err, "credentials 'pam:smtp': the store is PAM-managed: its users are "
			    "the system's accounts (useradd, passwd(1)), not postern's; postern "
			    "passwd add, del and list edit file: stores only (check works)");
	free(err);
	/* No file store, no fake-salt key: nothing can run SCRAM. */
	err = NULL;
	assert_null(store_fake_key_path("pam:smtp", "/etc/postern", &err));
	assert_null(err);
	p = store_fake_key_path("file:users pam:smtp", "/etc/postern", &err);
	assert_string_equal(p, "/etc/postern/users.key");
	free(p);
}

static void
test_pam_alone(void **state)
{
	(void)state;
	char *err = NULL;
	struct store *st = store_open("pam:other", tmpdir, &err);
	assert_null(err);
	assert_true(store_supports(st, SASL_CRED_PASSWORD));
	assert_false(store_supports(st, SASL_CRED_SCRAM_SHA256));
	assert_false(store_supports(st, SASL_CRED_CRAM_MD5));
	assert_null(store_why_not(st, SASL_CRED_PASSWORD));
	assert_non_null(strstr(store_why_not(st, SASL_CRED_SCRAM_SHA1),
			       "PAM checks passwords only; SCRAM and CRAM-MD5 need secrets"));
	/* Asked anyway: an unknown user, so that SCRAM fakes a salt. */
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA256, "root").status, SASL_CRED_NOUSER);
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "root").status, SASL_CRED_NOUSER);
	/* No PAM conversation for an empty password or a bad name. */
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "root").status, SASL_CRED_BADPASS);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "a:b").status, SASL_CRED_NOUSER);
	store_free(&st);
}

static void
test_routing(void **state)
{
	(void)state;
	put_users();
	char *err = NULL;
	struct store *st = store_open("file:users pam:other", tmpdir, &err);
	assert_null(err);
	/* Some backend can: offered. */
	assert_true(store_supports(st, SASL_CRED_SCRAM_SHA1));
	assert_null(store_why_not(st, SASL_CRED_SCRAM_SHA1));
	/* The file's user is decided by the file ... */
	struct sasl_cred_answer a = ask(st, SASL_CRED_SCRAM_SHA1, "user");
	assert_int_equal(a.status, SASL_CRED_OK);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA256, "user").status, SASL_CRED_NOSECRET);
	/* ... anybody else by PAM, which holds no SCRAM secrets. */
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA1, "root").status, SASL_CRED_NOUSER);
	assert_non_null(store_impl_of(st, &store_file_ops));
	assert_non_null(store_impl_of(st, &store_pam_ops));
	assert_int_equal(store_reload(st, &err), 0);
	assert_null(err);
	store_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_rules),
		cmocka_unit_test(test_spec_file),
		cmocka_unit_test(test_pam_alone),
		cmocka_unit_test(test_routing),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
