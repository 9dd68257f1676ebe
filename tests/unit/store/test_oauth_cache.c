/* test_oauth_cache.c - the token verifier's cache of good introspection
 * answers (src/store/store_oauth_cache.c): a hit until the entry's end,
 * none after; the same token replaces its entry; a full set gives up
 * the entry that ends first, and the cache never holds more than its
 * 256 sets of 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_oauth_impl.h"

static void
key_of(uint8_t set, uint8_t n, uint8_t key[OAUTH_KEY_LEN])
{
	memset(key, 0, OAUTH_KEY_LEN);
	key[0] = set;	/* the set */
	key[31] = n;
}

static void
test_hit_until_end(void **state)
{
	(void)state;
	struct oauth_cache *c = oauth_cache_new();
	assert_non_null(c);
	uint8_t k[OAUTH_KEY_LEN], other[OAUTH_KEY_LEN];
	char user[SASL_NAME_MAX + 1];
	key_of(7, 1, k);
	key_of(7, 2, other);
	assert_false(oauth_cache_get(c, k, 1000, user));
	oauth_cache_put(c, k, 2000, "alice@example.test");
	assert_true(oauth_cache_get(c, k, 1999, user));
	assert_string_equal(user, "alice@example.test");
	assert_false(oauth_cache_get(c, other, 1000, user));
	assert_false(oauth_cache_get(c, k, 2000, user));	/* ended */
	assert_false(oauth_cache_get(c, k, 1000, user));	/* and gone */
	/* the same token again: one entry, the new end and user */
	oauth_cache_put(c, k, 3000, "alice@example.test");
	oauth_cache_put(c, k, 4000, "bob@example.test");
	assert_true(oauth_cache_get(c, k, 3500, user));
	assert_string_equal(user, "bob@example.test");
	oauth_cache_free(&c);
	assert_null(c);
	oauth_cache_free(&c);	/* NULL-safe */
}

static void
test_full_set(void **state)
{
	(void)state;
	struct oauth_cache *c = oauth_cache_new();
	uint8_t k[OAUTH_KEY_LEN];
	char user[SASL_NAME_MAX + 1];
	for (uint8_t i = 0; i < 4; i++) {
		key_of(9, i, k);
		oauth_cache_put(c, k, 5000 + i * 100, "u");
	}
	key_of(9, 10, k);
	oauth_cache_put(c, k, 9000, "new");	/* evicts (9, 0): ends first */
	key_of(9, 0, k);
	assert_false(oauth_cache_get(c, k, 1000, user));
	for (uint8_t i = 1; i < 4; i++) {
		key_of(9, i, k);
		assert_true(oauth_cache_get(c, k, 1000, user));
	}
	key_of(9, 10, k);
	assert_true(oauth_cache_get(c, k, 1000, user));
	assert_string_equal(user, "new");
	/* another set is untouched */
	key_of(10, 0, k);
	assert_false(oauth_cache_get(c, k, 1000, user));
	oauth_cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_until_end),
		cmocka_unit_test(test_full_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
