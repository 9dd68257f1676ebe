/* iptab.h - what the server remembers per client address: how many
 * connections it has open (max_connections_per_ip) and how many AUTH
 * attempts from it failed lately (the failure delay, STYLE.md 15).
 * Internal to src/server.
 *
 * Failures are kept per address, not per session, so that a client
 * cannot reset its delay by reconnecting.  They are forgotten
 * IPTAB_FAIL_TTL seconds after the last one.  The table is bounded: an
 * address with open connections always has its entry (there are at
 * most max_connections of those), and at most IPTAB_FAIL_MAX addresses
 * with failures only are remembered; past that, the one whose memory
 * ends soonest is forgotten first.
 *
 * Times are seconds of a monotonic clock, passed in by the caller, so
 * that the table itself has no clock and tests can drive it.
 */
#ifndef POSTERN_SERVER_IPTAB_H
#define POSTERN_SERVER_IPTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 15 minutes: long enough to span a slow guesser's reconnects, short
 * enough that a user who mistyped is not punished for the day. */
#define IPTAB_FAIL_TTL 900
/* About 64 bytes each: 4096 addresses under attack cost 256 KB. */
#define IPTAB_FAIL_MAX 4096
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

/* Records a failed AUTH from ip at time now; returns how many failed
 * within the memory window, this one included (at least 1, even when
 * the table could not hold it). */
unsigned iptab_fail(struct iptab *t, const char *ip, uint64_t now);
/* Failures remembered for ip at time now (0 when none). */
unsigned iptab_failures(struct iptab *t, const char *ip, uint64_t now);

/* Tests: entries held (addresses with connections or failures). */
size_t iptab_count(const struct iptab *t);

#endif
