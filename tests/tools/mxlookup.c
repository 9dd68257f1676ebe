/* mxlookup - resolves domains with src/deliver/dns_mx.c and prints the
 * ordered targets, for tests/interop/test_dns_mx.py (not installed).
 *
 *	mxlookup [-s SERVERS] [-t TIMEOUT_MS] [-r TRIES] [-n REPEAT] [-c MS] DOMAIN...
 *
 * SERVERS is a dns_resolver value (default: /etc/resolv.conf).  Every
 * lookup (each domain REPEAT times) runs at once on one event loop; the
 * answers are printed in argument order, one block per lookup:
 *
 *	lookup DOMAIN status=ok|tempfail|permfail code=X.Y.Z implicit=yes|no why="..."
 *	target PREF HOST ADDR...
 *
 * -c MS frees the resolver MS milliseconds after starting, answers or
 * not, and prints "cancelled N answered M": lookups still in flight must
 * get no callback (and, under ASan, leak nothing).
 *
 * Exit status 0 when every lookup got an answer (or -c), 1 on a usage
 * or setup error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver/dns_mx.h"

struct slot {
	const char *domain;
	struct dns_mx_result *res;
};

static size_t outstanding;

static void
done(void *arg, struct dns_mx_result *res)
{
	struct slot *s = arg;
	s->res = res;
	outstanding--;
}

static void
print(const struct slot *s)
{
	static const char *const st[] = { "ok", "tempfail", "permfail" };
	const struct dns_mx_result *r = s->res;
	printf("lookup %s status=%s code=%s implicit=%s why=\"%s\"\n", s->domain, st[r->status],
	       r->enhanced[0] ? r->enhanced : "-", r->implicit ? "yes" : "no",
	       r->why ? r->why : "");
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct dns_mx_target *t = &r->targets[i];
		printf("target %u %s", t->pref, t->host);
		for (size_t j = 0; j < t->naddrs; j++) {
			char buf[INET6_ADDRSTRLEN];
			const struct sockaddr *sa = (const struct sockaddr *)&t->addrs[j].sa;
			const void *a = sa->sa_family == AF_INET6
				? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
				: (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
			printf(" %s", inet_ntop(sa->sa_family, a, buf, sizeof buf) ? buf : "?");
		}
		printf("\n");
	}
}

int
main(int argc, char **argv)
{
	const char *servers = NULL;
	unsigned timeout_ms = 0, tries = 0, repeat = 1;
	long cancel_ms = -1;
	int c;
	while ((c = getopt(argc, argv, "s:t:r:n:c:")) != -1) {
		if (c == 's')
			servers = optarg;
		else if (c == 't')
			timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'r')
			tries = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'n')
			repeat = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'c')
			cancel_ms = strtol(optarg, NULL, 10);
		else
			return 1;
	}
	size_t nd = (size_t)(argc - optind);
	if (nd == 0 || repeat == 0 || repeat > 1000) {
		fprintf(stderr, "usage: mxlookup [-s SERVERS] [-t MS] [-r TRIES] [-n REPEAT] DOMAIN...\n");
		return 1;
	}
	char *csv = NULL, *err = NULL;
	if (servers != NULL && dns_resolver_parse(servers, &csv, &err) < 0) {
		fprintf(stderr, "mxlookup: dns_resolver: %s\n", err);
		return 1;
	}
	struct event_base *base = event_base_new();
	struct dns_resolver *r = base ? dns_resolver_new(base, csv, timeout_ms, tries, &err) : NULL;
	if (r == NULL) {
		fprintf(stderr, "mxlookup: %s\n", err ? err : "no event base");
		return 1;
	}
	size_t n = nd * repeat;
	struct slot *slots = calloc(n, sizeof *slots);
	for (size_t i = 0; slots && i < n; i++) {
		slots[i].domain = argv[optind + (int)(i / repeat)];
		if (dns_mx_lookup(r, slots[i].domain, done, &slots[i]) == 0)
			outstanding++;
	}
	if (slots == NULL || outstanding != n)
		return 1;
	if (cancel_ms >= 0) {
		struct timeval tv = { cancel_ms / 1000, (cancel_ms % 1000) * 1000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		size_t pending = outstanding;
		dns_resolver_free(&r);
		event_base_loop(base, EVLOOP_NONBLOCK);	/* a late callback would show here */
		printf("cancelled %zu answered %zu\n", pending, n - outstanding);
		for (size_t i = 0; i < n; i++)
			dns_mx_result_free(&slots[i].res);
		free(slots);
		event_base_free(base);
		free(csv);
		return 0;
	}
	while (outstanding > 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	for (size_t i = 0; i < n; i++) {
		print(&slots[i]);
		dns_mx_result_free(&slots[i].res);
	}
	free(slots);
	dns_resolver_free(&r);
	event_base_free(base);
	free(csv);
	return 0;
}
