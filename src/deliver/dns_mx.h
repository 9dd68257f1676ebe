/* dns_mx.h - where to deliver mail for a domain (RFC 5321 section 5.1).
 *
 * dns_mx_lookup() asks the domain's MX records, orders them by
 * preference with equal preferences shuffled, and resolves every MX host
 * to its A and AAAA addresses, all asynchronously on the resolver's
 * event loop (dns_resolver.h).  The answer is a list of targets to try
 * in order, each with its addresses:
 *
 *	MX records		-> those hosts, lowest preference first; a host
 *				   without addresses is left out (5.1: try the
 *				   next one)
 *	no MX (NODATA)		-> the domain itself, preference 0 ("implicit
 *				   MX"), with its own A/AAAA addresses
 *	one MX "." (RFC 7505)	-> DNS_MX_PERMFAIL 5.1.10, "null MX"
 *	NXDOMAIN		-> DNS_MX_PERMFAIL 5.1.2
 *	no address anywhere	-> PERMFAIL 5.1.2 (implicit) / 5.4.4 (MX
 *				   hosts), or TEMPFAIL when a lookup failed
 *				   temporarily
 *	SERVFAIL, timeout,	-> DNS_MX_TEMPFAIL 4.4.3
 *	refused, no server
 *
 * CNAMEs are followed by c-ares.  The caller still has to drop MX hosts
 * that are this server itself (RFC 5321 5.1, "MUST ... discard"), since
 * only it knows its names; address limits per host or per message are
 * its policy too.
 */
#ifndef POSTERN_DELIVER_DNS_MX_H
#define POSTERN_DELIVER_DNS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "deliver/dns_resolver.h"

enum dns_mx_status {
	DNS_MX_OK,		/* targets holds at least one address */
	DNS_MX_TEMPFAIL,	/* try again later (4.4.3) */
	DNS_MX_PERMFAIL,	/* bounce (5.1.2, 5.1.10, 5.4.4) */
};

/* At most this many MX hosts are resolved (the most preferred ones) and
 * this many addresses kept per host: a hostile zone cannot make one
 * lookup fan out into hundreds of queries.  Postfix tries 5 addresses. */
#define DNS_MX_HOSTS_MAX 16
#define DNS_MX_ADDRS_MAX 16

struct dns_mx_addr {
	struct sockaddr_storage sa;	/* AF_INET or AF_INET6, port 0 */
	socklen_t len;
};

struct dns_mx_target {
	char *host;			/* MX exchange, or the domain (implicit MX) */
	unsigned pref;
	struct dns_mx_addr *addrs;
	size_t naddrs;
	int status;			/* internal: the host's lookup result */
	uint64_t key;			/* internal: shuffle key */
};

struct dns_mx_result {
	char *domain;			/* as asked, without a trailing dot */
	enum dns_mx_status status;
	const char *enhanced;		/* RFC 3463 code for a failure; "" when OK */
	char *why;			/* failure text for logs and DSNs; NULL when OK */
	bool implicit;			/* no MX: the domain's own addresses */
	struct dns_mx_target *targets;	/* in the order to try */
	size_t ntargets;
};

/* Called once per lookup, from the event loop, never from inside
 * dns_mx_lookup() nor from inside c-ares: it may start lookups or free
 * the resolver.  It owns res: free it with dns_mx_result_free(). */
typedef void dns_mx_cb(void *arg, struct dns_mx_result *res);

/* Starts the lookup of domain (a host name in ASCII: A-labels for
 * IDNs; a trailing dot is allowed).  An invalid name is answered through
 * cb as DNS_MX_PERMFAIL 5.1.2.  Returns 0, or -1 when out of memory
 * (then cb is never called). */
int dns_mx_lookup(struct dns_resolver *r, const char *domain, dns_mx_cb *cb, void *arg);

void dns_mx_result_free(struct dns_mx_result **resp);	/* NULL-safe; sets *resp = NULL */

/* Orders v by preference, shuffling equal preferences with a generator
 * seeded by seed (RFC 5321 5.1: "randomize them to spread the load").
 * dns_mx_lookup() seeds it from RAND_bytes; tests pass their own. */
void dns_mx_sort(struct dns_mx_target *v, size_t n, uint64_t seed);

/* True when s is a host name we will look up: 1..253 bytes of letters,
 * digits, '-', '_' and dots, labels of 1..63 bytes; one trailing dot
 * allowed. */
bool dns_mx_name_ok(const char *s);

#endif
