/* retry.h - when to try a deferred recipient again, and when to give up.
 *
 * Pure functions over times in seconds: the queue runner stores the
 * attempt count and the arrival time per recipient and asks these.
 *
 * Schedule: after the n-th failed attempt the next one is due
 * first * 2^(n-1) seconds later, capped at max, with "downward" jitter:
 * the delay is drawn from [3/4 d, d], so that recipients deferred
 * together (a relay that was down) do not all come back in the same
 * second, and max stays a true bound.  No try is scheduled past the
 * expiry instant (arrival + lifetime): the last try happens then, and a
 * failure at or after it is final (retry_expired) -> bounce.
 *
 * Config keys (doc/postern.8), read by the server's config and passed in
 * here as a struct retry_policy:
 *	retry_first        = 5m   first back-off
 *	retry_max          = 1h   cap on the back-off
 *	max_queue_lifetime = 5d   give up (bounce) after this long in the queue
 *	delay_warning_time = 4h   send a "delayed" DSN once after this long;
 *	                          0 = never
 */
#ifndef POSTERN_DELIVER_RETRY_H
#define POSTERN_DELIVER_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct retry_policy {
	unsigned first;		/* seconds, > 0 */
	unsigned max;		/* seconds, >= first */
	unsigned lifetime;	/* seconds, > 0 */
	unsigned warn_after;	/* seconds; 0 = no warning DSN */
};

/* Postfix's minimal_backoff_time (300 s) and maximal_backoff_time
 * (4000 s) are the long-tested middle ground: a relay back after a short
 * outage gets its mail within minutes, and a dead one costs a connection
 * attempt per hour.  Lifetime and warning as RFC 5321 4.5.4.1 ("give up
 * ... at least 4-5 days") and Postfix (delay_warning_time 4h) suggest. */
#define RETRY_FIRST_DEFAULT 300u
#define RETRY_MAX_DEFAULT 3600u
#define RETRY_LIFETIME_DEFAULT (5u * 86400u)
#define RETRY_WARN_DEFAULT (4u * 3600u)

/* What the queue keeps per deferred recipient. */
struct retry_state {
	time_t arrival;		/* when the message was queued */
	unsigned attempts;	/* failed attempts so far */
};

/* Fills p with the defaults above. */
void retry_policy_default(struct retry_policy *p);

/* For the server's config reader: when key is one of the four keys
 * above, sets its field from value -- whole seconds, or a number with
 * s, m, h or d; at most 365d; 0 only for delay_warning_time (no
 * warning) -- and returns 1; returns 0 for any other key; -1 with
 * *err_r malloc'd ("retry_max: '3x' is not a duration ...") for a bad
 * value (the caller prefixes FILE:LINE). */
int retry_policy_set(struct retry_policy *p, const char *key, const char *value, char **err_r);
/* Checks the whole: retry_first <= retry_max <= max_queue_lifetime.
 * Returns NULL, or a malloc'd message. */
char *retry_policy_check(const struct retry_policy *p);

/* The instant of the next attempt after s->attempts failed ones
 * (0 is treated as 1), the last of them at `now`.  rnd is any random
 * 32-bit value (the caller draws it, so that this stays a pure
 * function): it picks the jitter.  Never later than s->arrival +
 * lifetime, never earlier than now + 1. */
time_t retry_next(const struct retry_policy *p, const struct retry_state *s, time_t now,
		  uint32_t rnd);

/* True when a recipient that arrived at `arrival` and just failed
 * temporarily at `now` must be given up (bounced). */
bool retry_expired(const struct retry_policy *p, time_t arrival, time_t now);

/* True when the one "delayed" warning is due: warnings on, not sent yet
 * (warned false), and the message has waited warn_after or longer. */
bool retry_warn_due(const struct retry_policy *p, time_t arrival, time_t now, bool warned);

#endif
