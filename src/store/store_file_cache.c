/* store_file_cache.c - recent SUCCESSFUL PLAIN/LOGIN verifications, so
 * that a client that logs in again and again does not pay yescrypt
 * (several milliseconds of CPU, by design) on every connection.
 *
 * What is kept: per user, one 32-byte
 *	mac = HMAC-SHA-256(key, 0x02 || user NUL password NUL crypt-hash)
 * and the time it went in.  The key is 32 random bytes drawn when the
 * store opens and never leaves this process; the password itself is not
 * kept.  A later login hits when its mac is equal (CRYPTO_memcmp) and
 * the entry is younger than the TTL; a hit answers OK without crypt_r.
 * The {CRYPT} hash is inside the mac, so a password changed in the file
 * can never hit an old entry, even before store_file_load() drops it.
 *
 * Only successes go in.  A failed verification neither enters nor
 * evicts anything, so guessing cannot flush the cache, and there is no
 * negative cache: each wrong password still costs a full crypt_r, which
 * is what keeps online guessing slow.
 *
 * XXX: the time a hit saves is visible to the client.  It tells only
 * that this exact user and password were verified in the last TTL, which
 * the client that sends them has to know already; Dovecot's auth cache
 * makes the same trade.
 *
 * XXX: a copy of this process's memory (key and macs) allows an offline
 * dictionary attack at HMAC speed instead of yescrypt speed, against the
 * users who logged in within the TTL.  The TTL bounds that set, entries
 * are wiped when they expire or are replaced, and the whole table is
 * wiped at store_free().
 *
 * Layout: a set-associative table, STORE_FILE_CACHE_WAYS entries per
 * bucket, chosen by a keyed tag of the user name (HMAC with 0x01), so
 * that nobody can aim many users at one bucket.  Inserting into a full
 * bucket evicts its oldest entry: memory is bounded by max_entries with
 * O(1) work per login and no allocation after the first insert.
 */
#include "store/store_file.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* Four ways: a few users who share a bucket still all stay cached, and
 * a lookup reads one 224-byte bucket. */
#define STORE_FILE_CACHE_WAYS 4

struct store_file_cache_entry {
	uint64_t tag;		/* keyed hash of the user name */
	int64_t born;		/* clock seconds at insertion */
	uint8_t mac[STORE_FILE_CACHE_MAC_LEN];
	bool used;
};

struct store_file_cache {
	EVP_MAC_CTX *hmac;	/* keyed once; duplicated per use */
	struct store_file_cache_entry *slots;	/* NULL until the first put */
	size_t nbuckets;
	int64_t ttl;
	store_file_cache_clock_fn *clock;
	void *clock_arg;
	struct store_file_cache_stats stats;
};

/* The default clock: monotonic seconds, so that setting the wall clock
 * back cannot make an old entry young again. */
static int64_t
store_file_cache_monotonic(void *arg)
{
	(void)arg;
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec;
}

struct store_file_cache *
store_file_cache_new(size_t max_entries, int64_t ttl)
{
	struct store_file_cache *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->nbuckets = (max_entries + STORE_FILE_CACHE_WAYS - 1) / STORE_FILE_CACHE_WAYS;
	c->ttl = ttl;
	c->clock = store_file_cache_monotonic;
	uint8_t key[32];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	bool ok = mac != NULL && RAND_bytes(key, sizeof key) == 1 &&
		  (c->hmac = EVP_MAC_CTX_new(mac)) != NULL &&
		  EVP_MAC_init(c->hmac, key, sizeof key, params) == 1;
	OPENSSL_cleanse(key, sizeof key);
	EVP_MAC_free(mac);
	if (!ok)
		store_file_cache_free(&c);
	return c;
}

void
store_file_cache_clear(struct store_file_cache *c)
{
	if (c->slots != NULL)
		OPENSSL_cleanse(c->slots, c->nbuckets * STORE_FILE_CACHE_WAYS * sizeof *c->slots);
	c->stats.entries = 0;
}

void
store_file_cache_free(struct store_file_cache **cp)
{
	struct store_file_cache *c = *cp;
	if (c == NULL)
		return;
	store_file_cache_clear(c);
	free(c->slots);
	EVP_MAC_CTX_free(c->hmac);	/* OpenSSL wipes the key it holds */
	OPENSSL_cleanse(c, sizeof *c);
	free(c);
	*cp = NULL;
}

/* HMAC(key, parts...) into out (32 bytes); 0 or -1. */
static int
store_file_cache_hmac(const struct store_file_cache *c, const void *const *part,
		      const size_t *len, size_t nparts, uint8_t out[STORE_FILE_CACHE_MAC_LEN])
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(c->hmac);
	size_t outlen = 0;
	int ok = ctx != NULL;
	for (size_t i = 0; ok && i < nparts; i++)
		ok = EVP_MAC_update(ctx, part[i], len[i]) == 1;
	ok = ok && EVP_MAC_final(ctx, out, &outlen, STORE_FILE_CACHE_MAC_LEN) == 1 &&
	     outlen == STORE_FILE_CACHE_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int
store_file_cache_tag(const struct store_file_cache *c, const char *user, uint64_t *tag_r)
{
	static const uint8_t dom = 0x01;
	const void *part[] = { &dom, user };
	size_t len[] = { 1, strlen(user) };
	uint8_t out[STORE_FILE_CACHE_MAC_LEN];
	if (store_file_cache_hmac(c, part, len, 2, out) < 0)
		return -1;
	memcpy(tag_r, out, sizeof *tag_r);
	return 0;
}

int
store_file_cache_key(const struct store_file_cache *c, const char *user, const char *crypt,
		     const uint8_t *password, size_t password_len, struct store_file_cache_key *key_r)
{
	static const uint8_t dom = 0x02, nul = 0;
	const void *part[] = { &dom, user, &nul, password, &nul, crypt };
	size_t len[] = { 1, strlen(user), 1, password_len, 1, strlen(crypt) };
	if (store_file_cache_tag(c, user, &key_r->tag) < 0 ||
	    store_file_cache_hmac(c, part, len, 6, key_r->mac) < 0) {
		OPENSSL_cleanse(key_r, sizeof *key_r);
		return -1;
	}
	return 0;
}

static struct store_file_cache_entry *
store_file_cache_bucket(const struct store_file_cache *c, uint64_t tag)
{
	return &c->slots[(tag % c->nbuckets) * STORE_FILE_CACHE_WAYS];
}

static void
store_file_cache_wipe(struct store_file_cache *c, struct store_file_cache_entry *e)
{
	if (!e->used)
		return;
	OPENSSL_cleanse(e, sizeof *e);
	c->stats.entries--;
}

static bool
store_file_cache_alive(const struct store_file_cache *c, const struct store_file_cache_entry *e,
		       int64_t now)
{
	return now >= e->born && now - e->born < c->ttl;
}

bool
store_file_cache_hit(struct store_file_cache *c, const struct store_file_cache_key *key)
{
	if (c->slots == NULL) {
		c->stats.misses++;
		return false;
	}
	int64_t now = c->clock(c->clock_arg);
	struct store_file_cache_entry *b = store_file_cache_bucket(c, key->tag);
	for (size_t i = 0; i < STORE_FILE_CACHE_WAYS; i++) {
		struct store_file_cache_entry *e = &b[i];
		if (!e->used || e->tag != key->tag)
			continue;
		if (!store_file_cache_alive(c, e, now)) {
			/* Dead already: wiping it now only shortens the time
			 * its mac sits in memory. */
			store_file_cache_wipe(c, e);
			c->stats.expired++;
			continue;
		}
		if (CRYPTO_memcmp(e->mac, key->mac, sizeof e->mac) == 0) {
			c->stats.hits++;
			return true;
		}
	}
	c->stats.misses++;
	return false;
}

/* The way a new entry for tag goes into: the user's own entry, else a
 * free way, else the oldest (an expired one is always oldest or free). */
static struct store_file_cache_entry *
store_file_cache_victim(struct store_file_cache_entry *b, uint64_t tag)
{
	struct store_file_cache_entry *free_way = NULL, *oldest = NULL;
	for (size_t i = 0; i < STORE_FILE_CACHE_WAYS; i++) {
		if (b[i].used && b[i].tag == tag)
			return &b[i];
		if (!b[i].used && free_way == NULL)
			free_way = &b[i];
		if (b[i].used && (oldest == NULL || b[i].born < oldest->born))
			oldest = &b[i];
	}
	return free_way != NULL ? free_way : oldest;
}

void
store_file_cache_put(struct store_file_cache *c, const struct store_file_cache_key *key)
{
	if (c->nbuckets == 0)
		return;
	if (c->slots == NULL) {
		c->slots = calloc(c->nbuckets * STORE_FILE_CACHE_WAYS, sizeof *c->slots);
		if (c->slots == NULL)
			return;	/* no cache, every login pays crypt_r */
	}
	struct store_file_cache_entry *e =
		store_file_cache_victim(store_file_cache_bucket(c, key->tag), key->tag);
	if (e->used && e->tag != key->tag)
		c->stats.evictions++;
	store_file_cache_wipe(c, e);
	e->tag = key->tag;
	e->born = c->clock(c->clock_arg);
	memcpy(e->mac, key->mac, sizeof e->mac);
	e->used = true;
	c->stats.entries++;
	c->stats.inserts++;
}

void
store_file_cache_drop(struct store_file_cache *c, const char *user)
{
	uint64_t tag;
	if (c->stats.entries == 0 || store_file_cache_tag(c, user, &tag) < 0)
		return;
	struct store_file_cache_entry *b = store_file_cache_bucket(c, tag);
	for (size_t i = 0; i < STORE_FILE_CACHE_WAYS; i++) {
		if (b[i].used && b[i].tag == tag) {
			store_file_cache_wipe(c, &b[i]);
			c->stats.drops++;
		}
	}
}

void
store_file_cache_set_clock(struct store_file_cache *c, store_file_cache_clock_fn *fn, void *arg)
{
	c->clock = fn != NULL ? fn : store_file_cache_monotonic;
	c->clock_arg = arg;
}

void
store_file_cache_get_stats(const struct store_file_cache *c, struct store_file_cache_stats *stats_r)
{
	*stats_r = c->stats;
}
