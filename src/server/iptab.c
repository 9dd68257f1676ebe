/* iptab.c - per client address: open connections (iptab.h has the
 * contract).
 *
 * One array of entries with open addressing and linear probing: the
 * entries live inside the array, so there is one allocation to own and
 * none per address; a removal shifts the following entries back so
 * that no tombstones pile up.  The array doubles when three quarters
 * full and never shrinks: its size follows the most addresses seen at
 * once, which max_connections bounds.
 */
#include "server/iptab.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct ipent {
	char ip[IPTAB_IP_MAX];	/* "" marks a free slot */
	unsigned conns;		/* open connections */
};

struct iptab {
	struct ipent *v;
	size_t cap;		/* a power of two */
	size_t n;		/* slots in use */
};

#define IPTAB_CAP_MIN 64

static size_t
iptab_hash(const char *ip)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (const char *p = ip; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

/* A usable key: a non-empty numeric address that fits an entry. */
static bool
iptab_key_ok(const char *ip)
{
	size_t n = strnlen(ip, IPTAB_IP_MAX);
	return n > 0 && n < IPTAB_IP_MAX;
}

struct iptab *
iptab_new(void)
{
	struct iptab *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->v = calloc(IPTAB_CAP_MIN, sizeof *t->v);
	if (t->v == NULL) {
		free(t);
		return NULL;
	}
	t->cap = IPTAB_CAP_MIN;
	return t;
}

void
iptab_free(struct iptab **tp)
{
	struct iptab *t = *tp;
	if (t == NULL)
		return;
	free(t->v);
	free(t);
	*tp = NULL;
}

size_t
iptab_count(const struct iptab *t)
{
	return t->n;
}

/* The slot holding ip, or the free slot where it would go. */
static size_t
iptab_probe(const struct ipent *v, size_t cap, const char *ip)
{
	size_t i = iptab_hash(ip) & (cap - 1);
	while (v[i].ip[0] != '\0' && strcmp(v[i].ip, ip) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int
iptab_grow(struct iptab *t)
{
	size_t cap = t->cap * 2;
	struct ipent *v = calloc(cap, sizeof *v);
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ip[0] != '\0')
			v[iptab_probe(v, cap, t->v[i].ip)] = t->v[i];
	free(t->v);
	t->v = v;
	t->cap = cap;
	return 0;
}

/* Empties slot i and moves later entries of its probe run back into
 * the hole, so that every entry stays reachable from its home slot. */
static void
iptab_remove(struct iptab *t, size_t i)
{
	size_t mask = t->cap - 1;
	for (size_t j = (i + 1) & mask; t->v[j].ip[0] != '\0'; j = (j + 1) & mask) {
		size_t home = iptab_hash(t->v[j].ip) & mask;
		/* v[j] may fill the hole when the hole lies between its home
		 * slot and j (cyclically). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->v[i] = t->v[j];
			i = j;
		}
	}
	memset(&t->v[i], 0, sizeof t->v[i]);
	t->n--;
}

/* After a change to entry i: frees it when it holds nothing. */
static void
iptab_settle(struct iptab *t, size_t i)
{
	if (t->v[i].conns == 0)
		iptab_remove(t, i);
}

/* The slot of ip, or SIZE_MAX when it has no entry. */
static size_t
iptab_find(const struct iptab *t, const char *ip)
{
	size_t i = iptab_probe(t->v, t->cap, ip);
	return t->v[i].ip[0] != '\0' ? i : SIZE_MAX;
}

/* A new, empty entry for ip (which has none); SIZE_MAX when out of
 * memory.  The caller fills it and calls iptab_settle(). */
static size_t
iptab_insert(struct iptab *t, const char *ip)
{
	if ((t->n + 1) * 4 > t->cap * 3 && iptab_grow(t) < 0)
		return SIZE_MAX;
	size_t i = iptab_probe(t->v, t->cap, ip);
	memcpy(t->v[i].ip, ip, strlen(ip) + 1);	/* iptab_key_ok() checked the length */
	t->n++;
	return i;
}

bool
iptab_acquire(struct iptab *t, const char *ip, unsigned max)
{
	if (!iptab_key_ok(ip))
		return max > 0;	/* not an address we can count: only the global limit */
	size_t i = iptab_find(t, ip);
	if (i == SIZE_MAX && max > 0)
		i = iptab_insert(t, ip);
	if (i == SIZE_MAX)
		return false;
	struct ipent *e = &t->v[i];
	bool ok = e->conns < max;
	if (ok)
		e->conns++;
	iptab_settle(t, i);
	return ok;
}

void
iptab_release(struct iptab *t, const char *ip)
{
	if (t == NULL || !iptab_key_ok(ip))
		return;
	size_t i = iptab_find(t, ip);
	if (i == SIZE_MAX)
		return;
	if (t->v[i].conns > 0)
		t->v[i].conns--;
	iptab_settle(t, i);
}
