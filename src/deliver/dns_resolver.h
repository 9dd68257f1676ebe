/* dns_resolver.h - an asynchronous DNS resolver (c-ares) on a libevent loop.
 *
 * One resolver per event loop: c-ares's sockets are watched by libevent
 * events and its retransmissions by one libevent timer, so a lookup
 * never blocks the loop.  Lookups are made through dns_mx.h.
 *
 * Servers: the `dns_resolver` config key (DESIGN.md), e.g.
 *	dns_resolver = 127.0.0.1:5353
 * parsed by dns_resolver_parse(); without it, the system's resolvers
 * from /etc/resolv.conf.  Only DNS is asked, never /etc/hosts: mail
 * routing follows the DNS, as Postfix's smtp_host_lookup=dns does.
 */
#ifndef POSTERN_DELIVER_DNS_RESOLVER_H
#define POSTERN_DELIVER_DNS_RESOLVER_H

struct event_base;
struct dns_resolver;

/* Per-query timeout and tries when the caller passes 0: c-ares's own
 * defaults (5 s, 4 tries, doubling per round) can hold a lookup for over
 * a minute; 3 s and 2 tries bound one query to about 9 s, still three
 * times the worst round trip RFC 1035 implementations plan for. */
#define DNS_TIMEOUT_MS_DEFAULT 3000u
#define DNS_TRIES_DEFAULT 2u

/* Checks a dns_resolver value: one or more servers, separated by commas
 * or spaces, each "IPV4", "IPV4:PORT", "IPV6" or "[IPV6]:PORT" (port 53
 * when left out).  Returns 0 with *csv_r malloc'd in c-ares's server
 * list syntax, or -1 with *err_r malloc'd ("'x' is not IP:PORT"); the
 * config reader prefixes FILE:LINE. */
int dns_resolver_parse(const char *value, char **csv_r, char **err_r);

/* A resolver on base.  servers_csv: from dns_resolver_parse(), or NULL
 * for the system's resolvers.  timeout_ms, tries: per query, 0 for the
 * defaults above.  Returns NULL with *err_r malloc'd. */
struct dns_resolver *dns_resolver_new(struct event_base *base, const char *servers_csv,
				      unsigned timeout_ms, unsigned tries, char **err_r);
/* Cancels every lookup in flight (their callbacks are not called) and
 * frees the resolver.  NULL-safe; sets *rp = NULL.  Must not be called
 * from inside c-ares (dns_mx callbacks run outside it, so they may). */
void dns_resolver_free(struct dns_resolver **rp);

#endif
