/* retry.c - exponential back-off with jitter, expiry, delay warning. */
#include "deliver/retry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

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
retry_next(const struct retry_policy *p, const struct retry_state *s, time_t now, uint32_t rnd)
{
	uint64_t d = backoff(p, s->attempts);
	uint64_t span = d / 4;		/* jitter: d - [0, d/4] */
	d -= span ? rnd % (span + 1) : 0;
	if (d == 0)
		d = 1;
	time_t next = now + (time_t)d;
	time_t expiry = s->arrival + (time_t)p->lifetime;
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

/* "N", "Ns", "Nm", "Nh", "Nd" -> seconds, at most a year. */
static int
parse_duration(const char *v, unsigned *out)
{
	static const char units[] = "smhd";
	static const unsigned long mult[] = { 1, 60, 3600, 86400 };
	char *end;
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	unsigned long m = 1;
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		const char *u = strchr(units, *end);
		if (u == NULL || end[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (n > 365ul * 86400 / m)
		return -1;
	*out = (unsigned)(n * m);
	return 0;
}

int
retry_policy_set(struct retry_policy *p, const char *key, const char *value, char **err_r)
{
	static const char *const keys[] = { "retry_first", "retry_max", "max_queue_lifetime",
					    "delay_warning_time" };
	unsigned *const fields[] = { &p->first, &p->max, &p->lifetime, &p->warn_after };
	*err_r = NULL;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		if (strcmp(key, keys[i]) != 0)
			continue;
		unsigned v;
		if (parse_duration(value, &v) < 0 || (v == 0 && fields[i] != &p->warn_after)) {
			*err_r = str_printf("%s: '%s' is not a duration (seconds, or with s, m, h, d; "
					    "%s365d)", key, value,
					    fields[i] == &p->warn_after ? "0 for none, at most "
									: "1s to ");
			return -1;
		}
		*fields[i] = v;
		return 1;
	}
	return 0;
}

char *
retry_policy_check(const struct retry_policy *p)
{
	if (p->first > p->max)
		return str_printf("retry_first (%us) is longer than retry_max (%us)", p->first, p->max);
	if (p->max > p->lifetime)
		return str_printf("retry_max (%us) is longer than max_queue_lifetime (%us)", p->max,
				  p->lifetime);
	return NULL;
}
