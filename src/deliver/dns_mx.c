/* dns_mx.c - MX lookup, ordering and address resolution (RFC 5321 5.1,
 * RFC 7505) on the c-ares channel of dns_resolver.c. */
#include "deliver/dns_mx.h"

#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "deliver/dns_impl.h"
#include "util/str.h"

/* One lookup in flight.  pending counts the address queries still out,
 * plus one held by the code starting them, so that a query answered
 * synchronously cannot finish the lookup under the starter's feet. */
struct lookup {
	struct dns_resolver *r;
	dns_mx_cb *cb;
	void *arg;
	struct dns_mx_result res;	/* handed to the caller in a copy */
	size_t pending;
	bool destroyed;		/* the resolver went away: no callback */
};

struct addr_req {
	struct lookup *lk;
	size_t idx;
};

static void
result_clear(struct dns_mx_result *res)
{
	for (size_t i = 0; i < res->ntargets; i++) {
		free(res->targets[i].host);
		free(res->targets[i].addrs);
	}
	free(res->targets);
	free(res->domain);
	free(res->why);
	memset(res, 0, sizeof *res);
}

void
dns_mx_result_free(struct dns_mx_result **resp)
{
	if (*resp == NULL)
		return;
	result_clear(*resp);
	free(*resp);
	*resp = NULL;
}

bool
dns_mx_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!ok || ++label > 63)
			return false;
	}
	return label > 0;
}

/* splitmix64: a tiny generator for the shuffle keys; the randomness is
 * in the seed. */
static uint64_t
mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static int
target_cmp(const void *a, const void *b)
{
	const struct dns_mx_target *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

void
dns_mx_sort(struct dns_mx_target *v, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		v[i].key = mix(&seed);
	qsort(v, n, sizeof *v, target_cmp);
}

/* ---- finishing ---- */

static void
lookup_free(struct lookup *lk)
{
	result_clear(&lk->res);
	free(lk);
}

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct lookup *lk = arg;
	struct dns_mx_result *res = malloc(sizeof *res);
	if (res == NULL) {
		lookup_free(lk);	/* XXX: out of memory loses the callback */
		return;
	}
	*res = lk->res;		/* the result now owns what lk->res held */
	dns_mx_cb *cb = lk->cb;
	void *cbarg = lk->arg;
	free(lk);
	cb(cbarg, res);
}

/* Hands the result to the caller on the next loop pass, outside c-ares. */
static void
finish(struct lookup *lk)
{
	static const struct timeval now = { 0, 0 };
	if (lk->destroyed ||
	    event_base_once(dns_resolver_base(lk->r), -1, EV_TIMEOUT, deliver, lk, &now) < 0)
		lookup_free(lk);	/* XXX: out of memory loses the callback */
}

static void
fail(struct lookup *lk, enum dns_mx_status st, const char *enhanced, char *why)
{
	lk->res.status = st;
	lk->res.enhanced = enhanced;
	free(lk->res.why);
	lk->res.why = why ? why : str_printf("out of memory");
}

static bool
is_temporary(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA;
}

/* All address queries are back: keep the targets that have addresses. */
static void
addrs_done(struct lookup *lk)
{
	struct dns_mx_result *res = &lk->res;
	size_t kept = 0;
	bool temp = false;
	for (size_t i = 0; i < res->ntargets; i++) {
		struct dns_mx_target *t = &res->targets[i];
		temp |= is_temporary(t->status);
		if (t->naddrs > 0) {
			res->targets[kept++] = *t;
			continue;
		}
		free(t->host);
		free(t->addrs);
	}
	res->ntargets = kept;
	if (kept > 0)
		res->status = DNS_MX_OK;
	else if (temp)
		fail(lk, DNS_MX_TEMPFAIL, "4.4.3",
		     str_printf("address lookup for %s failed temporarily", res->domain));
	else if (res->implicit)
		fail(lk, DNS_MX_PERMFAIL, "5.1.2",
		     str_printf("domain %s has no MX and no address records", res->domain));
	else
		fail(lk, DNS_MX_PERMFAIL, "5.4.4",
		     str_printf("no MX host of %s has an address", res->domain));
	finish(lk);
}

static void
release(struct lookup *lk)
{
	if (--lk->pending > 0)
		return;
	if (lk->destroyed)
		lookup_free(lk);
	else
		addrs_done(lk);
}

/* ---- address queries ---- */

static void
on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct addr_req *rq = arg;
	struct lookup *lk = rq->lk;
	struct dns_mx_target *t = &lk->res.targets[rq->idx];
	free(rq);
	t->status = status;
	if (status == ARES_EDESTRUCTION)
		lk->destroyed = true;
	size_t n = 0;
	for (struct ares_addrinfo_node *a = ai ? ai->nodes : NULL; a; a = a->ai_next)
		n++;
	n = n < DNS_MX_ADDRS_MAX ? n : DNS_MX_ADDRS_MAX;
	t->addrs = n ? calloc(n, sizeof *t->addrs) : NULL;
	for (struct ares_addrinfo_node *a = ai ? ai->nodes : NULL; a && t->addrs && t->naddrs < n;
	     a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    a->ai_addrlen > sizeof t->addrs[0].sa)
			continue;
		memcpy(&t->addrs[t->naddrs].sa, a->ai_addr, a->ai_addrlen);
		t->addrs[t->naddrs++].len = (socklen_t)a->ai_addrlen;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	release(lk);
}

/* Resolves every target's host; the answers come to on_addr(). */
static void
resolve_targets(struct lookup *lk)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	lk->pending = 1;
	for (size_t i = 0; i < lk->res.ntargets && !lk->destroyed; i++) {
		struct addr_req *rq = malloc(sizeof *rq);
		/* A trailing dot: an absolute name, never the search list. */
		char *name = str_printf("%s.", lk->res.targets[i].host);
		if (rq == NULL || name == NULL) {
			free(rq);
			free(name);
			lk->res.targets[i].status = ARES_ENOMEM;
			continue;
		}
		*rq = (struct addr_req){ lk, i };
		lk->pending++;
		ares_getaddrinfo(dns_resolver_channel(lk->r), name, NULL, &hints, on_addr, rq);
		free(name);
	}
	dns_resolver_kick(lk->r);
	release(lk);
}

/* ---- the MX query ---- */

/* Fills in a target of a new array.  Returns false when out of memory. */
static bool
set_target(struct dns_mx_target *t, const char *host, unsigned pref)
{
	t->host = strdup(host);
	t->pref = pref;
	t->status = ARES_ENODATA;
	return t->host != NULL;
}

static uint64_t
shuffle_seed(void)
{
	uint64_t seed;
	if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return seed;
}

/* Targets from an MX answer.  Returns false after fail(). */
static bool
mx_targets(struct lookup *lk, struct ares_mx_reply *mx)
{
	struct dns_mx_result *res = &lk->res;
	size_t n = 0;
	for (struct ares_mx_reply *m = mx; m; m = m->next)
		n++;
	/* RFC 7505 3: a null MX is a single MX RR with preference 0 and
	 * target "."; a "." among others is just a host that does not
	 * resolve (section 4.3: SHOULD NOT be published). */
	if (n == 1 && mx->priority == 0 && (mx->host[0] == '\0' || strcmp(mx->host, ".") == 0)) {
		fail(lk, DNS_MX_PERMFAIL, "5.1.10",
		     str_printf("domain %s does not accept mail (null MX)", res->domain));
		return false;
	}
	/* Built aside and handed over whole: gcc's analyzer loses track
	 * of strings stored through res (see client/message.c). */
	struct dns_mx_target *v = calloc(n, sizeof *v);
	size_t k = 0;
	bool ok = v != NULL;
	for (struct ares_mx_reply *m = mx; ok && m; m = m->next) {
		if (m->host[0] == '\0' || strcmp(m->host, ".") == 0 || !dns_mx_name_ok(m->host))
			continue;
		ok = set_target(&v[k], m->host, m->priority);
		k += ok;
	}
	res->targets = v;
	res->ntargets = k;
	if (!ok) {
		fail(lk, DNS_MX_TEMPFAIL, "4.3.0", NULL);
		return false;
	}
	dns_mx_sort(res->targets, res->ntargets, shuffle_seed());
	for (size_t i = DNS_MX_HOSTS_MAX; i < res->ntargets; i++)
		free(res->targets[i].host);
	if (res->ntargets > DNS_MX_HOSTS_MAX)
		res->ntargets = DNS_MX_HOSTS_MAX;
	if (res->ntargets == 0) {
		fail(lk, DNS_MX_PERMFAIL, "5.4.4",
		     str_printf("no usable MX host for %s", res->domain));
		return false;
	}
	return true;
}

static void
on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *lk = arg;
	struct dns_mx_result *res = &lk->res;
	struct ares_mx_reply *mx = NULL;
	if (status == ARES_EDESTRUCTION) {
		lookup_free(lk);
		return;
	}
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &mx);
	/* An answer holding only a CNAME parses as success without any MX:
	 * no MX at the name the CNAME points to either. */
	if (status == ARES_SUCCESS && mx == NULL)
		status = ARES_ENODATA;
	if (status == ARES_SUCCESS) {
		bool ok = mx_targets(lk, mx);
		ares_free_data(mx);
		if (ok)
			resolve_targets(lk);
		else
			finish(lk);
		return;
	}
	if (status == ARES_ENODATA) {
		/* RFC 5321 5.1: "If an empty list of MXs is returned, the
		 * address is treated as if it was associated with an implicit
		 * MX RR, with a preference of 0, pointing to that host." */
		res->implicit = true;
		struct dns_mx_target *t = calloc(1, sizeof *t);
		bool ok = t != NULL && set_target(t, res->domain, 0);
		res->targets = t;
		res->ntargets = ok;
		if (!ok) {
			fail(lk, DNS_MX_TEMPFAIL, "4.3.0", NULL);
			finish(lk);
			return;
		}
		resolve_targets(lk);
		return;
	}
	if (status == ARES_ENOTFOUND)
		fail(lk, DNS_MX_PERMFAIL, "5.1.2",
		     str_printf("domain %s does not exist (NXDOMAIN)", res->domain));
	else
		fail(lk, DNS_MX_TEMPFAIL, "4.4.3",
		     str_printf("MX lookup for %s failed: %s", res->domain, ares_strerror(status)));
	finish(lk);
}

int
dns_mx_lookup(struct dns_resolver *r, const char *domain, dns_mx_cb *cb, void *arg)
{
	struct lookup *lk = calloc(1, sizeof *lk);
	if (lk == NULL)
		return -1;
	*lk = (struct lookup){ .r = r, .cb = cb, .arg = arg };
	size_t n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	lk->res.domain = strndup(domain, n);
	lk->res.enhanced = "";
	if (lk->res.domain == NULL) {
		lookup_free(lk);
		return -1;
	}
	if (!dns_mx_name_ok(domain)) {
		/* not echoed: it is peer input that may hold anything */
		fail(lk, DNS_MX_PERMFAIL, "5.1.2", str_printf("the domain is not a host name"));
		finish(lk);
		return 0;
	}
	ares_query(dns_resolver_channel(r), lk->res.domain, ns_c_in, ns_t_mx, on_mx, lk);
	dns_resolver_kick(r);
	return 0;
}
