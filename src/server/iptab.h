/* iptab.h - what the server remembers per client address: how many
 * connections it has open (max_connections_per_ip).  Internal to
 * src/server.  (Failed AUTH attempts are counted by the throttle,
 * auth/throttle.h, per address, subnet and user.)
 *
 * The table is bounded: an address has an entry only while it has open
 * connections, and there are at most max_connections of those.
 */
#ifndef POSTERN_SERVER_IPTAB_H
#define POSTERN_SERVER_IPTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest numeric address (INET6_ADDRSTRLEN) plus its NUL. */
#define IPTAB_IP_MAX 46

struct iptab;

/* Returns NULL when out of memory. */
struct iptab *iptab_new(void);
void iptab_free(struct iptab **tp);	/* NULL-safe; sets *tp = NULL */

/* Counts a connection from ip; false (nothing counted) when ip already
 * has max of them, or when out of memory. */
bool iptab_acquire(struct iptab *t, const char *ip, unsigned max);
/* The connection from ip ended. */
void iptab_release(struct iptab *t, const char *ip);

/* Tests: entries held (addresses with connections). */
size_t iptab_count(const struct iptab *t);

#endif
