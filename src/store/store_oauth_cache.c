/* store_oauth_cache.c - good introspection answers, keyed by SHA-256 of
 * the token (store_oauth_impl.h), so that a client that logs in every
 * minute costs the authorization server one request per token, not one
 * per login.  Only the auth process's loop thread touches it. */
#include "store/store_oauth_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CACHE_SETS 256
#define CACHE_WAYS 4

struct oauth_cache_entry {
	uint8_t key[OAUTH_KEY_LEN];
	time_t until;			/* 0: free */
	char user[SASL_NAME_MAX + 1];
};

struct oauth_cache {
	struct oauth_cache_entry e[CACHE_SETS][CACHE_WAYS];
};

struct oauth_cache *
oauth_cache_new(void)
{
	return calloc(1, sizeof(struct oauth_cache));
}

void
oauth_cache_free(struct oauth_cache **cp)
{
	if (*cp == NULL)
		return;
	OPENSSL_cleanse(*cp, sizeof **cp);
	free(*cp);
	*cp = NULL;
}

/* The key is a hash already: its first byte spreads evenly. */
static struct oauth_cache_entry *
cache_set(struct oauth_cache *c, const uint8_t key[OAUTH_KEY_LEN])
{
	return c->e[key[0] % CACHE_SETS];
}

bool
oauth_cache_get(struct oauth_cache *c, const uint8_t key[OAUTH_KEY_LEN], time_t now,
		char user_r[SASL_NAME_MAX + 1])
{
	struct oauth_cache_entry *set = cache_set(c, key);
	for (size_t i = 0; i < CACHE_WAYS; i++) {
		struct oauth_cache_entry *e = &set[i];
		if (e->until == 0 || CRYPTO_memcmp(e->key, key, OAUTH_KEY_LEN) != 0)
			continue;
		if (now >= e->until) {
			OPENSSL_cleanse(e, sizeof *e);	/* expired: free it */
			return false;
		}
		memcpy(user_r, e->user, SASL_NAME_MAX + 1);
		return true;
	}
	return false;
}

void
oauth_cache_put(struct oauth_cache *c, const uint8_t key[OAUTH_KEY_LEN], time_t until,
		const char *user)
{
	struct oauth_cache_entry *set = cache_set(c, key), *slot = &set[0];
	for (size_t i = 0; i < CACHE_WAYS; i++) {
		struct oauth_cache_entry *e = &set[i];
		if (e->until != 0 && CRYPTO_memcmp(e->key, key, OAUTH_KEY_LEN) == 0) {
			slot = e;	/* the same token again */
			break;
		}
		if (e->until < slot->until)
			slot = e;	/* free (0) or ending first */
	}
	memcpy(slot->key, key, OAUTH_KEY_LEN);
	slot->until = until;
	(void)snprintf(slot->user, sizeof slot->user, "%s", user);
}
