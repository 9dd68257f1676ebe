/* retry.c - exponential back-off with jitter, expiry, delay warning. */
#include "deliver/retry.h"

void
retry_policy_default(struct retry_policy *p)
{
	p->first = RETRY_FIRST_DEFAULT;
	p->max = RETRY_MAX_DEFAULT;
	p->lifetime = RETRY_LIFETIME_DEFAULT;
	p->warn_after = RETRY_WARN_DEFAULT;
}

/* first * 2^(attempts-1), capped at max; doubling stops at the cap so
 * nothing overflows whatever attempts says. */
static uint64_t
backoff(const struct retry_policy *p, unsigned attempts)
{
	uint64_t d = p->first ? p->first : 1;
	uint64_t cap = p->max > d ? p->max : d;
	for (unsigned i = 1; i < attempts && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

time_t
retry_next(const struct retry_policy *p, unsigned attempts, time_t arrival, time_t now,
	   uint32_t rnd)
{
	uint64_t d = backoff(p, attempts);
	uint64_t span = d / 4;		/* jitter: d - [0, d/4] */
	d -= span ? rnd % (span + 1) : 0;
	if (d == 0)
		d = 1;
	time_t next = now + (time_t)d;
	time_t expiry = arrival + (time_t)p->lifetime;
	if (next > expiry)
		next = expiry;
	return next > now ? next : now + 1;
}

bool
retry_expired(const struct retry_policy *p, time_t arrival, time_t now)
{
	return now - arrival >= (time_t)p->lifetime;
}

bool
retry_warn_due(const struct retry_policy *p, time_t arrival, time_t now, bool warned)
{
	return p->warn_after != 0 && !warned && now - arrival >= (time_t)p->warn_after &&
	       !retry_expired(p, arrival, now);
}
