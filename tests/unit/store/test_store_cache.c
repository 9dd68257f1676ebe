/* test_store_cache.c - the login cache of the file store: a repeated
 * right password skips crypt_r, everything else still pays it, and any
 * change of a user's {CRYPT} hash in the file counts at once. */
#include "store_test.h"

#include "store/store.h"
#include "store/store_file.h"
#include "store/store_impl.h"

static void
add(const char *name, const char *pw)
{
	struct store_file_newuser u = { .name = name, .password = pw };
	char *err = NULL;
	if (store_file_edit_add(users, &u, &err) != STORE_FILE_EDIT_OK)
		fail_msg("add %s: %s", name, err);
}

static void
del(const char *name)
{
	char *err = NULL;
	if (store_file_edit_del(users, name, &err) != STORE_FILE_EDIT_OK)
		fail_msg("del %s: %s", name, err);
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

static struct store_file_cache *
cache_of(struct store *st)
{
	struct store_file_cache *c = store_file_cache_of(store_impl_of(st, &store_file_ops));
	assert_non_null(c);
	return c;
}

static struct store_file_cache_stats
stats(struct store *st)
{
	struct store_file_cache_stats s;
	store_file_cache_get_stats(cache_of(st), &s);
	return s;
}

/* A fresh users file with the given users, and a store on it. */
static struct store *
fresh(const char *const *names, const char *const *pws, size_t n)
{
	unlink(users);
	for (size_t i = 0; i < n; i++)
		add(names[i], pws[i]);
	char *err = NULL;
	struct store *st = store_open(users, NULL, &err);
	if (st == NULL)
		fail_msg("%s", err);
	return st;
}

/* The clock the tests turn by hand. */
static int64_t
fake_clock(void *arg)
{
	return *(const int64_t *)arg;
}

static void
test_second_login_hits(void **state)
{
	(void)state;
	const char *n[] = { "alice" }, *p[] = { "s3cret pw" };
	struct store *st = fresh(n, p, 1);
	assert_int_equal(check(st, "alice", "s3cret pw"), SASL_CRED_OK);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.inserts, 1);
	assert_int_equal(s.entries, 1);
	assert_int_equal(check(st, "alice", "s3cret pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "alice", "s3cret pw"), SASL_CRED_OK);
	s = stats(st);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.inserts, 1);
	assert_int_equal(s.entries, 1);
	store_free(&st);
}

/* No negative cache, and a failure neither enters nor evicts: every
 * wrong password is a miss (so it went to crypt_r) and the right one
 * still hits afterwards. */
static void
test_wrong_after_right(void **state)
{
	(void)state;
	const char *n[] = { "alice" }, *p[] = { "right" };
	struct store *st = fresh(n, p, 1);
	assert_int_equal(check(st, "alice", "right"), SASL_CRED_OK);
	const char *wrong[] = { "wrong", "right ", "Right", "righ", "rightright" };
	for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++)
		assert_int_equal(check(st, "alice", wrong[i]), SASL_CRED_BADPASS);
	assert_int_equal(check(st, "alice", "wrong"), SASL_CRED_BADPASS);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.misses, 1 + 6);
	assert_int_equal(s.inserts, 1);
	assert_int_equal(s.entries, 1);
	assert_int_equal(check(st, "alice", "right"), SASL_CRED_OK);
	assert_int_equal(stats(st).hits, 1);
	/* Unknown users never reach the cache. */
	assert_int_equal(check(st, "mallory", "right"), SASL_CRED_NOUSER);
	s = stats(st);
	assert_int_equal(s.misses, 7);
	assert_int_equal(s.entries, 1);
	store_free(&st);
}

/* The cache key is the user and the password together: bob's password
 * cached does not let alice in with it. */
static void
test_key_binds_user(void **state)
{
	(void)state;
	const char *n[] = { "alice", "bob" }, *p[] = { "alice-pw", "bob-pw" };
	struct store *st = fresh(n, p, 2);
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "alice", "bob-pw"), SASL_CRED_BADPASS);
	assert_int_equal(check(st, "alice", "alice-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "bob", "alice-pw"), SASL_CRED_BADPASS);
	assert_int_equal(check(st, "alice", "alice-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.entries, 2);
	store_free(&st);
}

/* A new password in the file counts at the next login: the old one is
 * refused at once, and only alice's entry goes (bob stays cached). */
static void
test_password_change_invalidates(void **state)
{
	(void)state;
	const char *n[] = { "alice", "bob" }, *p[] = { "old-pw", "bob-pw" };
	struct store *st = fresh(n, p, 2);
	assert_int_equal(check(st, "alice", "old-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	assert_int_equal(stats(st).entries, 2);
	del("alice");
	add("alice", "new-pw");
	assert_int_equal(check(st, "alice", "old-pw"), SASL_CRED_BADPASS);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.drops, 1);
	assert_int_equal(s.entries, 1);
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	assert_int_equal(stats(st).hits, 1);
	assert_int_equal(check(st, "alice", "new-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "alice", "new-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "alice", "old-pw"), SASL_CRED_BADPASS);
	s = stats(st);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.entries, 2);
	store_free(&st);
}

/* Even if the reload did not drop it, an entry cannot outlive its hash:
 * the key covers the {CRYPT} string. */
static void
test_key_binds_hash(void **state)
{
	(void)state;
	struct store_file_cache *c = store_file_cache_new(64, 100);
	assert_non_null(c);
	struct store_file_cache_key k1, k2;
	const uint8_t pw[] = "pw";
	assert_int_equal(store_file_cache_key(c, "alice", "$y$j9T$aaa$bbb", pw, 2, &k1), 0);
	store_file_cache_put(c, &k1);
	assert_true(store_file_cache_hit(c, &k1));
	assert_int_equal(store_file_cache_key(c, "alice", "$y$j9T$aaa$bbc", pw, 2, &k2), 0);
	assert_int_equal(k1.tag, k2.tag);	/* same user, same bucket */
	assert_false(store_file_cache_hit(c, &k2));
	/* User "ab" with password "c" is not user "a" with "bc": the NUL
	 * separators (no NUL is allowed inside either). */
	assert_int_equal(store_file_cache_key(c, "ab", "h", (const uint8_t *)"c", 1, &k1), 0);
	assert_int_equal(store_file_cache_key(c, "a", "h", (const uint8_t *)"bc", 2, &k2), 0);
	assert_memory_not_equal(k1.mac, k2.mac, sizeof k1.mac);
	/* Each cache draws its own key. */
	struct store_file_cache *d = store_file_cache_new(64, 100);
	assert_non_null(d);
	assert_int_equal(store_file_cache_key(c, "bob", "h", pw, 2, &k1), 0);
	assert_int_equal(store_file_cache_key(d, "bob", "h", pw, 2, &k2), 0);
	assert_memory_not_equal(k1.mac, k2.mac, sizeof k1.mac);
	store_file_cache_free(&d);
	store_file_cache_free(&c);
	assert_null(c);
	store_file_cache_free(&c);	/* NULL-safe */
}

static void
test_del_invalidates(void **state)
{
	(void)state;
	const char *n[] = { "alice", "bob" }, *p[] = { "alice-pw", "bob-pw" };
	struct store *st = fresh(n, p, 2);
	assert_int_equal(check(st, "alice", "alice-pw"), SASL_CRED_OK);
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	del("alice");
	assert_int_equal(check(st, "alice", "alice-pw"), SASL_CRED_NOUSER);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.drops, 1);
	assert_int_equal(s.entries, 1);
	/* Adding a user leaves the cached ones alone. */
	add("carol", "carol-pw");
	assert_int_equal(check(st, "bob", "bob-pw"), SASL_CRED_OK);
	s = stats(st);
	assert_int_equal(s.drops, 1);
	assert_int_equal(s.hits, 1);
	/* An explicit reload of an unchanged file drops nothing. */
	char *err = NULL;
	assert_int_equal(store_reload(st, &err), 0);
	assert_int_equal(stats(st).entries, 1);
	store_free(&st);
}

/* An entry lives STORE_FILE_CACHE_TTL seconds from its insertion; a hit
 * does not make it younger. */
static void
test_ttl(void **state)
{
	(void)state;
	const char *n[] = { "alice" }, *p[] = { "pw" };
	struct store *st = fresh(n, p, 1);
	int64_t now = 1000;
	store_file_cache_set_clock(cache_of(st), fake_clock, &now);
	assert_int_equal(check(st, "alice", "pw"), SASL_CRED_OK);
	now += STORE_FILE_CACHE_TTL - 1;
	assert_int_equal(check(st, "alice", "pw"), SASL_CRED_OK);
	assert_int_equal(stats(st).hits, 1);
	now += 1;
	assert_int_equal(check(st, "alice", "pw"), SASL_CRED_OK);
	struct store_file_cache_stats s = stats(st);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.expired, 1);
	assert_int_equal(s.inserts, 2);	/* verified again, cached again */
	assert_int_equal(s.entries, 1);
	assert_int_equal(check(st, "alice", "pw"), SASL_CRED_OK);
	assert_int_equal(stats(st).hits, 2);
	/* A clock that went backwards (not CLOCK_MONOTONIC) is no hit. */
	now -= 10;
	assert_int_equal(check(st, "alice", "pw"), SASL_CRED_OK);
	assert_int_equal(stats(st).hits, 2);
	store_file_cache_set_clock(cache_of(st), NULL, NULL);
	store_free(&st);
}

/* Never more than max_entries, however many users log in; the newest
 * stays; a full cache still answers hits. */
static void
test_bound(void **state)
{
	(void)state;
	int64_t now = 0;
	struct store_file_cache *c = store_file_cache_new(16, 100);
	assert_non_null(c);
	store_file_cache_set_clock(c, fake_clock, &now);
	struct store_file_cache_key k;
	struct store_file_cache_stats s;
	const uint8_t pw[] = "pw";
	char name[32];
	for (unsigned i = 0; i < 1000; i++, now++) {
		snprintf(name, sizeof name, "user%u", i % 500);
		assert_int_equal(store_file_cache_key(c, name, "h", pw, 2, &k), 0);
		store_file_cache_put(c, &k);
		assert_true(store_file_cache_hit(c, &k));
		store_file_cache_get_stats(c, &s);
		assert_true(s.entries <= 16);
	}
	assert_int_equal(s.entries, 16);
	assert_int_equal(s.inserts, 1000);
	assert_true(s.evictions >= 1000 - 500 - 16);
	/* A lookup of an absent user changes nothing. */
	assert_int_equal(store_file_cache_key(c, "nobody", "h", pw, 2, &k), 0);
	assert_false(store_file_cache_hit(c, &k));
	store_file_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 16);
	store_file_cache_clear(c);
	store_file_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);
	store_file_cache_free(&c);

	/* One entry per user: logging in again replaces, never adds. */
	c = store_file_cache_new(16, 100);
	assert_non_null(c);
	for (unsigned i = 0; i < 10; i++) {
		uint8_t p1[] = { (uint8_t)('a' + i) };
		assert_int_equal(store_file_cache_key(c, "alice", "h", p1, 1, &k), 0);
		store_file_cache_put(c, &k);
	}
	store_file_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.evictions, 0);
	store_file_cache_free(&c);

	/* max_entries 0: nothing is ever stored. */
	c = store_file_cache_new(0, 100);
	assert_non_null(c);
	store_file_cache_put(c, &k);
	assert_false(store_file_cache_hit(c, &k));
	store_file_cache_drop(c, "alice");
	store_file_cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_login_hits),
		cmocka_unit_test(test_wrong_after_right),
		cmocka_unit_test(test_key_binds_user),
		cmocka_unit_test(test_password_change_invalidates),
		cmocka_unit_test(test_key_binds_hash),
		cmocka_unit_test(test_del_invalidates),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
