/* test_store_key.c - the fake-salt key file (store_key.c): made once,
 * private, read back the same; a missing file without create, a wrong
 * size, a file open to others and a symbolic link are told apart. */
#include "store_test.h"

#include <sys/stat.h>

#include "store/store.h"

static char keypath[320];

static int
setup(void **state)
{
	if (setup_dir(state) < 0)
		return -1;
	(void)snprintf(keypath, sizeof keypath, "%s/users.key", tmpdir);
	return 0;
}

static void
test_path_beside_users(void **state)
{
	(void)state;
	char *err = NULL;
	char *p = store_fake_key_path("file:users", "/etc/postern", &err);
	assert_string_equal(p, "/etc/postern/users.key");
	free(p);
	assert_null(store_fake_key_path("ldap:x", "/etc/postern", &err));
	assert_non_null(err);
	free(err);
}

static void
test_made_once_then_read(void **state)
{
	(void)state;
	uint8_t a[STORE_FAKE_KEY_LEN], b[STORE_FAKE_KEY_LEN];
	char *err = NULL;
	unlink(keypath);
	assert_int_equal(store_fake_key_load(keypath, false, a, &err), 1);
	assert_null(err);
	assert_int_equal(access(keypath, F_OK), -1);	/* not made without create */
	assert_int_equal(store_fake_key_load(keypath, true, a, &err), 0);
	assert_null(err);
	struct stat st;
	assert_int_equal(lstat(keypath, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, STORE_FAKE_KEY_LEN);
	assert_int_equal(store_fake_key_load(keypath, true, b, &err), 0);
	assert_memory_equal(a, b, sizeof a);
	/* Nothing left behind but the key. */
	char cmd[400];
	(void)snprintf(cmd, sizeof cmd, "test -z \"$(ls '%s' | grep tmp)\"", tmpdir);
	assert_int_equal(system(cmd), 0);
}

/* Each bad file fails with the file named and the reason. */
static void
expect_refused(const char *why)
{
	uint8_t k[STORE_FAKE_KEY_LEN];
	char *err = NULL;
	char want[512];
	assert_int_equal(store_fake_key_load(keypath, true, k, &err), -1);
	(void)snprintf(want, sizeof want, "%s: %s", keypath, why);
	assert_non_null(err);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s', want '%s...'", err, want);
	free(err);
}

static void
write_key(const char *content, size_t n, mode_t mode)
{
	unlink(keypath);
	FILE *f = fopen(keypath, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(keypath, mode), 0);
}

static void
test_bad_files_refused(void **state)
{
	(void)state;
	write_key("short", 5, 0600);
	expect_refused("malformed fake-salt key: 5 bytes, want 32");
	write_key("", 0, 0600);
	expect_refused("malformed fake-salt key: 0 bytes, want 32");
	write_key("0123456789abcdef0123456789abcdef", 32, 0644);
	expect_refused("fake-salt key is open to others");
	write_key("0123456789abcdef0123456789abcdef", 32, 0640);	/* group: allowed */
	uint8_t k[STORE_FAKE_KEY_LEN];
	char *err = NULL;
	assert_int_equal(store_fake_key_load(keypath, true, k, &err), 0);
	assert_memory_equal(k, "0123456789abcdef0123456789abcdef", 32);
	/* A symbolic link is neither followed nor replaced. */
	char target[340];
	(void)snprintf(target, sizeof target, "%s/target", tmpdir);
	unlink(keypath);
	assert_int_equal(symlink(target, keypath), 0);
	expect_refused("is a symbolic link; refusing to follow it");
	assert_int_equal(access(target, F_OK), -1);
	unlink(keypath);
	assert_int_equal(mkdir(keypath, 0700), 0);
	expect_refused("not a regular file");
	assert_int_equal(rmdir(keypath), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_beside_users),
		cmocka_unit_test(test_made_once_then_read),
		cmocka_unit_test(test_bad_files_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown_dir);
}
