/* dns_impl.h - what dns_mx.c needs from dns_resolver.c. */
#ifndef POSTERN_DELIVER_DNS_IMPL_H
#define POSTERN_DELIVER_DNS_IMPL_H

#include <ares.h>

struct dns_resolver;

ares_channel dns_resolver_channel(struct dns_resolver *r);
struct event_base *dns_resolver_base(struct dns_resolver *r);
/* Re-arms the retransmission timer; call after starting a query. */
void dns_resolver_kick(struct dns_resolver *r);

#endif
