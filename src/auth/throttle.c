/* throttle.c - AUTH failure counting and the verdict (throttle.h has
 * the contract).
 *
 * Five tables of one shape: an array of 64-bit keys (keyed SipHash of
 * what the entry is about, never 0) and of last-use times, split into
 * sets of THROTTLE_WAYS; counter tables add a payload per entry.  A
 * key maps to one set; a new key takes the set's empty or least
 * recently used entry.  No pointers, no allocation after throttle_new:
 * memory is fixed, and churn (a botnet of 100 000 addresses) only ever
 * replaces the coldest entries, while a subnet under attack, touched
 * at every attempt, stays.
 *
 * Sizes (entries; bytes each; total):
 *   ctr   IP classes   16384 x 48 = 768 KiB  (3 per address; 5 000 sprayers
 *                                             spread wide still fit)
 *   usr   user names    8192 x 48 = 384 KiB
 *   tag   repeat tags  32768 x 16 = 512 KiB  (a day of distinct failures)
 *   pair  subnet+user  32768 x 16 = 512 KiB  (distinct names per subnet)
 *   good  ip+user      32768 x 16 = 512 KiB  (successful logins: a site's
 *                                             users times their addresses)
 * about 2.7 MiB in all, the same under any load.
 */
#include "auth/throttle.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MINUTE_MS 60000ull
#define DAY_MS 86400000ull

/* A fixed window: counts within window number idx (now / length). */
struct win {
	uint32_t idx, n;
};

/* What a counter entry holds (an IP class entry or a user). */
struct ctr {
	uint64_t cool_until;	/* refusing until then (ms); 0: not cooling */
	struct win minute, day;
	struct win distinct;	/* class-1 entries: distinct user names, per day */
};

struct table {
	size_t nsets;		/* a power of two */
	uint64_t *key;		/* 0: empty */
	uint64_t *seen;		/* last use (ms): the LRU order within a set */
	struct ctr *ctr;	/* counter tables only, else NULL */
};

enum { TAB_CTR, TAB_USR, TAB_TAG, TAB_PAIR, TAB_GOOD, TAB__COUNT };

static const struct {
	size_t entries;
	bool counters;
} tab_shape[TAB__COUNT] = {
	[TAB_CTR] = { 16384, true },
	[TAB_USR] = { 8192, true },
	[TAB_TAG] = { 32768, false },
	[TAB_PAIR] = { 32768, false },
	[TAB_GOOD] = { 32768, false },
};

/* The IP classes: prefix bits for IPv4 and for IPv6 (mox). */
enum { CLASS_IP, CLASS_SUBNET, CLASS_NETWORK, CLASS__COUNT };
static const struct {
	unsigned bits4, bits6;
	const char *name;
} classes[CLASS__COUNT] = {
	{ 32, 64, "ip" },
	{ 26, 48, "subnet" },
	{ 21, 32, "network" },
};

struct throttle {
	struct throttle_limits lim;
	struct table tab[TAB__COUNT];
	EVP_MAC_CTX *mac;
	uint8_t key[16];	/* SipHash key, random per process */
	size_t memory;
	uint64_t evictions, repeats;
};

void
throttle_limits_default(struct throttle_limits *l)
{
	*l = (struct throttle_limits){
		.ip_minute = 10, .ip_day = 50,
		.subnet_minute = 30, .subnet_day = 150,
		.network_minute = 90, .network_day = 450,
		.user_minute = 10, .user_day = 50,
		.distinct_users_subnet = 20,
		.delay_max_ms = 4000,
		.cooldown_ms = 15 * 60 * 1000,
		.trusted_days = 30,
	};
}

int
throttle_ip_parse(const char *text, struct throttle_ip *ip)
{
	struct in6_addr a6;
	struct in_addr a4;
	memset(ip, 0, sizeof *ip);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		ip->len = 4;
		memcpy(ip->b, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		ip->len = 4;
		memcpy(ip->b, a6.s6_addr + 12, 4);
		return 0;
	}
	ip->len = 16;
	memcpy(ip->b, a6.s6_addr, 16);
	return 0;
}

int
throttle_ip_from_sockaddr(const struct sockaddr *sa, struct throttle_ip *ip)
{
	char text[INET6_ADDRSTRLEN];
	const void *a;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return -1;
	if (inet_ntop(sa->sa_family, a, text, sizeof text) == NULL)
		return -1;
	return throttle_ip_parse(text, ip);
}

/* ---- hashing ---- */

/* What a key is about, so that equal bytes of two kinds never meet. */
enum key_kind { KEY_CLASS = 1, KEY_USER, KEY_TAG, KEY_PAIR, KEY_GOOD };

/* The prefix of ip for class c, other bits zero, after the length and
 * the class: IPv4 and IPv6 never share a key, nor does 10.1.0.0/26
 * with 10.1.0.0/21. */
#define PREFIX_LEN 18

static void
ip_prefix(const struct throttle_ip *ip, unsigned c, uint8_t out[PREFIX_LEN])
{
	unsigned bits = ip->len == 4 ? classes[c].bits4 : classes[c].bits6;
	memset(out, 0, PREFIX_LEN);
	out[0] = ip->len;
	out[1] = (uint8_t)c;
	for (unsigned i = 0; i < bits / 8; i++)
		out[2 + i] = ip->b[i];
	if (bits % 8 != 0)
		out[2 + bits / 8] = (uint8_t)(ip->b[bits / 8] & (0xffu << (8 - bits % 8)));
}

/* Keyed SipHash-2-4 of kind, a and b (either may be empty); never 0, so
 * that 0 can mark an empty entry.  0 also when the MAC fails, which
 * the callers treat as "not in the table" (an attempt is then judged
 * on the other counters; nothing is corrupted). */
static uint64_t
key_of(struct throttle *t, enum key_kind kind, const void *a, size_t na, const void *b, size_t nb)
{
	size_t size = 8, outl = 0;
	uint8_t k = (uint8_t)kind, out[8];
	OSSL_PARAM p[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
			   OSSL_PARAM_construct_end() };
	if (EVP_MAC_init(t->mac, t->key, sizeof t->key, p) != 1 || EVP_MAC_update(t->mac, &k, 1) != 1 ||
	    EVP_MAC_update(t->mac, a, na) != 1 || EVP_MAC_update(t->mac, b, nb) != 1 ||
	    EVP_MAC_final(t->mac, out, &outl, sizeof out) != 1 || outl != sizeof out)
		return 0;
	uint64_t h;
	memcpy(&h, out, sizeof h);
	return h | 1;
}

/* The user name with ASCII letters folded: "Alice" and "alice" share
 * one counter (the store may tell them apart; the throttle need not). */
static uint64_t
user_key(struct throttle *t, enum key_kind kind, const uint8_t *pre, size_t npre, const char *user)
{
	uint8_t folded[256];
	size_t n = strnlen(user, sizeof folded);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)user[i];
		folded[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20u) : c;
	}
	/* A longer name is cut at 256 bytes: two such names that agree that
	 * far share a counter, which only errs on the strict side. */
	uint64_t h = key_of(t, kind, pre, npre, folded, n);
	OPENSSL_cleanse(folded, sizeof folded);
	return h;
}

/* ---- tables ---- */

static int
table_init(struct table *tb, size_t entries, bool counters, size_t *memory)
{
	tb->nsets = entries / THROTTLE_WAYS;
	tb->key = calloc(entries, sizeof *tb->key);
	tb->seen = calloc(entries, sizeof *tb->seen);
	tb->ctr = counters ? calloc(entries, sizeof *tb->ctr) : NULL;
	*memory += entries * (sizeof *tb->key + sizeof *tb->seen + (counters ? sizeof *tb->ctr : 0));
	return tb->key && tb->seen && (!counters || tb->ctr) ? 0 : -1;
}

static void
table_free(struct table *tb)
{
	free(tb->key);
	free(tb->seen);
	free(tb->ctr);
}

/* The entry of key (0: none), marked used at now; SIZE_MAX when absent
 * and !insert.  With insert, an absent key gets the set's empty or
 * least recently used entry, its counters zeroed. */
static size_t
table_get(struct throttle *t, struct table *tb, uint64_t key, uint64_t now, bool insert)
{
	if (key == 0)
		return SIZE_MAX;
	size_t base = (size_t)(key >> 32 & (tb->nsets - 1)) * THROTTLE_WAYS, victim = base;
	for (size_t i = base; i < base + THROTTLE_WAYS; i++) {
		if (tb->key[i] == key) {
			tb->seen[i] = now > tb->seen[i] ? now : tb->seen[i];
			return i;
		}
		if (tb->key[victim] != 0 && (tb->key[i] == 0 || tb->seen[i] < tb->seen[victim]))
			victim = i;
	}
	if (!insert)
		return SIZE_MAX;
	if (tb->key[victim] != 0)
		t->evictions++;
	tb->key[victim] = key;
	tb->seen[victim] = now;
	if (tb->ctr != NULL)
		memset(&tb->ctr[victim], 0, sizeof tb->ctr[victim]);
	return victim;
}

/* Was key used within [since, now]?  (Marks tables: tag, pair, good.) */
static bool
table_seen_since(struct throttle *t, struct table *tb, uint64_t key, uint64_t since)
{
	if (key == 0)
		return false;
	size_t base = (size_t)(key >> 32 & (tb->nsets - 1)) * THROTTLE_WAYS;
	for (size_t i = base; i < base + THROTTLE_WAYS; i++)
		if (tb->key[i] == key)
			return tb->seen[i] >= since;
	return false;
}

/* ---- windows ---- */

static uint32_t
win_idx(uint64_t now, uint64_t len)
{
	return (uint32_t)(now / len);
}

static unsigned
win_count(const struct win *w, uint64_t now, uint64_t len)
{
	return w->idx == win_idx(now, len) ? w->n : 0;
}

static void
win_add(struct win *w, uint64_t now, uint64_t len)
{
	uint32_t idx = win_idx(now, len);
	if (w->idx != idx)
		*w = (struct win){ .idx = idx, .n = 0 };
	if (w->n < UINT32_MAX)
		w->n++;
}

/* Takes back one count of the current window (none when the window
 * has moved on since: that count went with the old window). */
static void
win_sub(struct win *w, uint64_t now, uint64_t len)
{
	if (w->idx == win_idx(now, len) && w->n > 0)
		w->n--;
}

/* ---- life cycle ---- */

struct throttle *
throttle_new(const struct throttle_limits *l)
{
	struct throttle *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->lim = *l;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	t->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);	/* the context holds its own reference */
	int rc = t->mac != NULL && RAND_bytes(t->key, sizeof t->key) == 1 ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < TAB__COUNT; i++)
		rc = table_init(&t->tab[i], tab_shape[i].entries, tab_shape[i].counters, &t->memory);
	if (rc < 0)
		throttle_free(&t);
	return t;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;
	if (t == NULL)
		return;
	for (size_t i = 0; i < TAB__COUNT; i++)
		table_free(&t->tab[i]);
	EVP_MAC_CTX_free(t->mac);
	OPENSSL_cleanse(t->key, sizeof t->key);
	free(t);
	*tp = NULL;
}

void
throttle_set_limits(struct throttle *t, const struct throttle_limits *l)
{
	t->lim = *l;
}

void
throttle_stats(const struct throttle *t, struct throttle_stats *st)
{
	*st = (struct throttle_stats){ .memory = t->memory, .evictions = t->evictions,
				       .repeats = t->repeats };
}

/* ---- the verdict ---- */

/* One counter entry that applies to an attempt, with its limits. */
struct probe {
	size_t tab, i;		/* i == SIZE_MAX: no entry, nothing counted */
	const char *name;
	unsigned lim_minute, lim_day;
	unsigned lim_distinct;	/* 0: no distinct-name counter here */
};

/* The entries an attempt by (ip, user) is judged on; trusted: the pair
 * is known good, so only the address's own entry applies.  Returns how
 * many were filled in. */
static size_t
probes_for(struct throttle *t, const struct throttle_ip *ip, const char *user, bool trusted,
	   uint64_t now, struct probe pr[CLASS__COUNT + 1])
{
	const struct throttle_limits *l = &t->lim;
	const unsigned lim[CLASS__COUNT][2] = { { l->ip_minute, l->ip_day },
						{ l->subnet_minute, l->subnet_day },
						{ l->network_minute, l->network_day } };
	size_t n = 0;
	for (unsigned c = 0; c < (trusted ? 1u : (unsigned)CLASS__COUNT); c++) {
		uint8_t pre[PREFIX_LEN];
		ip_prefix(ip, c, pre);
		uint64_t k = key_of(t, KEY_CLASS, pre, sizeof pre, NULL, 0);
		pr[n++] = (struct probe){ TAB_CTR, table_get(t, &t->tab[TAB_CTR], k, now, false),
					  classes[c].name, lim[c][0], lim[c][1],
					  c == CLASS_SUBNET ? l->distinct_users_subnet : 0 };
	}
	if (!trusted)
		pr[n++] = (struct probe){ TAB_USR,
					  table_get(t, &t->tab[TAB_USR], user_key(t, KEY_USER, NULL, 0, user),
						    now, false),
					  "user", l->user_minute, l->user_day, 0 };
	return n;
}

/* How far past its limits entry p is: -1 when below all of them; sets
 * *which to the counter's name ("distinct-users" for that one). */
static long
probe_excess(const struct throttle *t, const struct probe *p, uint64_t now, const char **which)
{
	const struct ctr *c = &t->tab[p->tab].ctr[p->i];
	long e = -1, x;
	*which = p->name;
	if ((x = (long)win_count(&c->minute, now, MINUTE_MS) - (long)p->lim_minute) > e)
		e = x;
	if ((x = (long)win_count(&c->day, now, DAY_MS) - (long)p->lim_day) > e)
		e = x;
	if (p->lim_distinct > 0 &&
	    (x = (long)win_count(&c->distinct, now, DAY_MS) - (long)p->lim_distinct) > e) {
		e = x;
		*which = "distinct-users";
	}
	return e;
}

static bool
pair_trusted(struct throttle *t, const struct throttle_ip *ip, const char *user, uint64_t now)
{
	uint8_t pre[PREFIX_LEN];
	uint64_t keep = (uint64_t)t->lim.trusted_days * DAY_MS;
	ip_prefix(ip, CLASS_IP, pre);
	return table_seen_since(t, &t->tab[TAB_GOOD], user_key(t, KEY_GOOD, pre, sizeof pre, user),
				now > keep ? now - keep : 0);
}

static void
ctr_count(struct ctr *c, uint64_t now, bool add)
{
	if (add) {
		win_add(&c->minute, now, MINUTE_MS);
		win_add(&c->day, now, DAY_MS);
	} else {
		win_sub(&c->minute, now, MINUTE_MS);
		win_sub(&c->day, now, DAY_MS);
	}
}

/* Counts an attempt (add) in every IP class and for the user, or takes
 * that count back (!add) when it turned out not to be a new failure. */
static void
count_attempt(struct throttle *t, const struct throttle_ip *ip, const char *user, uint64_t now,
	      bool add)
{
	uint8_t pre[PREFIX_LEN];
	size_t i;
	for (unsigned c = 0; c < CLASS__COUNT; c++) {
		ip_prefix(ip, c, pre);
		i = table_get(t, &t->tab[TAB_CTR], key_of(t, KEY_CLASS, pre, sizeof pre, NULL, 0), now,
			      add);
		if (i != SIZE_MAX)
			ctr_count(&t->tab[TAB_CTR].ctr[i], now, add);
	}
	i = table_get(t, &t->tab[TAB_USR], user_key(t, KEY_USER, NULL, 0, user), now, add);
	if (i != SIZE_MAX)
		ctr_count(&t->tab[TAB_USR].ctr[i], now, add);
}

enum throttle_verdict
throttle_check(struct throttle *t, const struct throttle_ip *ip, const char *user, uint64_t now,
	       unsigned *delay_ms_r, const char **why_r)
{
	struct probe pr[CLASS__COUNT + 1];
	size_t n = probes_for(t, ip, user, pair_trusted(t, ip, user, now), now, pr);
	const char *why = NULL, *which;
	long worst = -1;
	size_t at = SIZE_MAX;
	*delay_ms_r = 0;
	for (size_t k = 0; k < n; k++) {
		if (pr[k].i == SIZE_MAX)
			continue;
		struct ctr *c = &t->tab[pr[k].tab].ctr[pr[k].i];
		if (c->cool_until > now) {
			if (why_r != NULL)
				*why_r = pr[k].name;
			return THROTTLE_REFUSE;
		}
		long e = probe_excess(t, &pr[k], now, &which);
		if (e > worst) {
			worst = e;
			why = which;
			at = k;
		}
	}
	if (why_r != NULL)
		*why_r = why;
	if (worst < 0) {
		count_attempt(t, ip, user, now, true);
		return THROTTLE_ALLOW;
	}
	uint64_t delay = worst < 32 ? (uint64_t)THROTTLE_DELAY_FIRST_MS << worst : UINT64_MAX;
	if (delay <= t->lim.delay_max_ms) {
		count_attempt(t, ip, user, now, true);
		*delay_ms_r = (unsigned)delay;
		return THROTTLE_DELAY;
	}
	t->tab[pr[at].tab].ctr[pr[at].i].cool_until = now + t->lim.cooldown_ms;
	return THROTTLE_REFUSE;
}

/* ---- recording ---- */

/* A failure with the same tag from the same address within a day:
 * true (and remembered afresh) when it is a repeat. */
static bool
tag_repeat(struct throttle *t, const struct throttle_ip *ip, const uint8_t *tag, uint64_t now)
{
	uint8_t pre[PREFIX_LEN];
	ip_prefix(ip, CLASS_IP, pre);
	uint64_t k = key_of(t, KEY_TAG, pre, sizeof pre, tag, THROTTLE_TAG_LEN);
	bool repeat = table_seen_since(t, &t->tab[TAB_TAG], k, now > DAY_MS ? now - DAY_MS : 0);
	(void)table_get(t, &t->tab[TAB_TAG], k, now, true);
	return repeat;
}

/* Counts a failure of user from ip's subnet among the distinct names
 * of the day, unless that name failed there today already. */
static void
count_distinct(struct throttle *t, const uint8_t subnet[PREFIX_LEN], struct ctr *c, const char *user,
	       uint64_t now)
{
	uint64_t k = user_key(t, KEY_PAIR, subnet, PREFIX_LEN, user);
	uint64_t today = (uint64_t)win_idx(now, DAY_MS) * DAY_MS;
	if (!table_seen_since(t, &t->tab[TAB_PAIR], k, today))
		win_add(&c->distinct, now, DAY_MS);
	(void)table_get(t, &t->tab[TAB_PAIR], k, now, true);
}

bool
throttle_record(struct throttle *t, const struct throttle_ip *ip, const char *user,
		const uint8_t *tag, bool success, uint64_t now)
{
	uint8_t pre[PREFIX_LEN];
	if (success) {
		ip_prefix(ip, CLASS_IP, pre);
		(void)table_get(t, &t->tab[TAB_GOOD], user_key(t, KEY_GOOD, pre, sizeof pre, user), now,
				true);
		count_attempt(t, ip, user, now, false);
		return true;
	}
	if (tag != NULL && tag_repeat(t, ip, tag, now)) {
		t->repeats++;
		count_attempt(t, ip, user, now, false);
		return false;
	}
	ip_prefix(ip, CLASS_SUBNET, pre);
	size_t i = table_get(t, &t->tab[TAB_CTR], key_of(t, KEY_CLASS, pre, sizeof pre, NULL, 0), now,
			     true);
	if (i != SIZE_MAX)
		count_distinct(t, pre, &t->tab[TAB_CTR].ctr[i], user, now);
	return true;
}

void
throttle_cancel(struct throttle *t, const struct throttle_ip *ip, const char *user, uint64_t now)
{
	count_attempt(t, ip, user, now, false);
}
