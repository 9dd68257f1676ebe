/* throttle.h - who may try a password now: AUTH failures counted per
 * address, per subnet and per user name, so that a password spray from
 * a botnet is slowed and then refused while the owner of an account
 * still logs in.
 *
 * Pure code: no I/O, no clock, no event loop.  The caller passes the
 * time (milliseconds of a monotonic clock) and acts on the verdict; a
 * delay is the caller's timer, never a sleep.  It lives in src/auth/
 * because the auth process calls it, once for every network process,
 * so that the counts stay right however many of those there are; until
 * that process exists, the server calls it in-process
 * (src/server/auth_throttle.c, the only caller).
 *
 * What is counted (learned from mox and Mailu):
 *  - failures per IP class, each over a minute and a day (fixed windows,
 *    as mox): the address itself (IPv4 /32, IPv6 /64), its subnet
 *    (/26, /48) and its network (/21, /32);
 *  - failures per user name (ASCII case folded), minute and day;
 *  - distinct user names that failed from one subnet (/26, /48) in a
 *    day (Mailu): a spray tries many names from few places;
 *  - a failure that repeats an earlier one from the same address with
 *    the same attempt tag (same user, same password: a mail program
 *    with a stale saved password) counts once a day, not each time.
 *  - an (address, user) pair that logged in successfully within
 *    trusted_days is "known good": for that user it is held only to
 *    its own address's limits, never to the subnet, network, user or
 *    distinct-name limits that others' failures fill.
 *
 * Attempts count from the check on (throttle_check), not from the
 * record, so that many checks running at once cannot overshoot.
 *
 * The verdict for an attempt: when every counter that applies is below
 * its limit, ALLOW.  Otherwise let e = count - limit of the counter
 * furthest over: DELAY by THROTTLE_DELAY_FIRST_MS << e; once that would
 * exceed delay_max_ms, REFUSE (454 4.7.0) and keep refusing the entry
 * that was over for cooldown_ms, even after its window has passed.
 *
 * Memory is bounded and allocated once (throttle_new): five tables of
 * fixed size, set-associative (THROTTLE_WAYS entries per set); a new
 * entry replaces the least recently used of its set.  Keys are SipHash
 * values under a random per-process key, so an attacker cannot aim at
 * one set to push a known-good pair out (and that table only grows on
 * successful logins anyway).  throttle_stats() tells the total (about
 * 2.7 MiB; throttle.c justifies each table's size).
 */
#ifndef POSTERN_AUTH_THROTTLE_H
#define POSTERN_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* The limits, all counts of failures (see the config keys of the same
 * names in README.md and postern.8).  Every field is at least 1. */
struct throttle_limits {
	unsigned ip_minute, ip_day;		/* auth_fail_limit_ip[_day]: /32, /64 */
	unsigned subnet_minute, subnet_day;	/* auth_fail_limit_subnet[_day]: /26, /48 */
	unsigned network_minute, network_day;	/* auth_fail_limit_network[_day]: /21, /32 */
	unsigned user_minute, user_day;		/* auth_fail_limit_user[_day] */
	unsigned distinct_users_subnet;		/* auth_distinct_users_subnet, per day */
	unsigned delay_max_ms;			/* auth_delay_max: longest delay before refusing */
	unsigned cooldown_ms;			/* auth_cooldown: refusing lasts this long */
	unsigned trusted_days;			/* auth_trusted_days: known-good pairs kept */
};

/* The defaults documented in README.md: mox's numbers for the IP
 * classes (10/30/90 a minute, 50/150/450 a day), Mailu's idea of a
 * per-user and a distinct-names limit. */
void throttle_limits_default(struct throttle_limits *l);

/* The first delay; each failure past a limit doubles it. */
#define THROTTLE_DELAY_FIRST_MS 250u
/* Entries per set: the LRU choice scans this many (one cache line of
 * keys). */
#define THROTTLE_WAYS 8u

/* An address, as the tables see it: IPv4 as 4 bytes (also when it came
 * as ::ffff:a.b.c.d), IPv6 as 16. */
struct throttle_ip {
	uint8_t len;		/* 4 or 16 */
	uint8_t b[16];
};

/* Numeric address text ("192.0.2.1", "2001:db8::1") to *ip: 0, or -1
 * when it is neither (then no throttle applies to it). */
int throttle_ip_parse(const char *text, struct throttle_ip *ip);
/* The same from a socket address (AF_INET, AF_INET6): 0 or -1. */
int throttle_ip_from_sockaddr(const struct sockaddr *sa, struct throttle_ip *ip);

struct throttle;

/* A new throttle with limits *l (copied), its tables allocated (all the
 * memory it will ever use) and a random hashing key.  NULL when out of
 * memory or when OpenSSL has no SipHash or randomness. */
struct throttle *throttle_new(const struct throttle_limits *l);
void throttle_free(struct throttle **tp);	/* NULL-safe; sets *tp = NULL */
/* New limits (config reload); the counts are kept. */
void throttle_set_limits(struct throttle *t, const struct throttle_limits *l);

enum throttle_verdict {
	THROTTLE_ALLOW,		/* verify now */
	THROTTLE_DELAY,		/* verify after *delay_ms_r (a timer) */
	THROTTLE_REFUSE,	/* do not verify: 454 4.7.0, try again after the cool-down */
};

/* May ip try a password for user at now_ms?  Call it once per attempt,
 * before the credential check.  *delay_ms_r is set for DELAY (0
 * otherwise); *why_r (may be NULL) names the limit that decided:
 * "ip", "subnet", "network", "user", "distinct-users", or NULL for
 * ALLOW.
 *
 * ALLOW and DELAY count the attempt as a failure at once, so that a
 * hundred attempts in flight together (checks pending, none recorded
 * yet) meet the limits as a hundred failures would; the caller then
 * MUST call throttle_record() or throttle_cancel() for it; they take
 * the count back for a success, a repeated tag, or an attempt that
 * checked nothing.  An attempt never told of stays counted.  REFUSE counts nothing and
 * must not be recorded; it starts or continues the cool-down of the
 * entry over its limit. */
enum throttle_verdict throttle_check(struct throttle *t, const struct throttle_ip *ip,
				     const char *user, uint64_t now_ms, unsigned *delay_ms_r,
				     const char **why_r);

/* THROTTLE_TAG_LEN bytes that identify one (user, password) attempt
 * without revealing the password: HMAC-SHA-256 under a key that never
 * leaves the process.  Made by the caller (it holds the password). */
#define THROTTLE_TAG_LEN 32

/* The outcome of an attempt that throttle_check() let through (same
 * ip and user).  A success marks (ip, user) known good and takes the
 * attempt's count back.  A failure stays counted, and counts among the
 * subnet's distinct names; except when tag (NULL: the mechanism gives
 * none, e.g. SCRAM) was seen from this address within a day: then its
 * count is taken back too.  Returns false for such a repeat.
 * XXX: a count taken back in a later window than it was made in is
 * taken from the new window (one count too few, once). */
bool throttle_record(struct throttle *t, const struct throttle_ip *ip, const char *user,
		     const uint8_t *tag, bool success, uint64_t now_ms);

/* An attempt that throttle_check() let through was not made after all:
 * the store could not answer, or the client cancelled or left before
 * its password was checked.  Takes its count back (same ip and user);
 * instead of throttle_record(), never with it. */
void throttle_cancel(struct throttle *t, const struct throttle_ip *ip, const char *user,
		     uint64_t now_ms);

/* Tests and benchmarks. */
struct throttle_stats {
	size_t memory;		/* bytes allocated, fixed at throttle_new() */
	uint64_t evictions;	/* live entries replaced by new ones */
	uint64_t repeats;	/* failures not counted (same tag again) */
};
void throttle_stats(const struct throttle *t, struct throttle_stats *st);

#endif
