/* transport.c - delivering one spool message to one destination
 * (contract in transport.h).  Stub: the contract is fixed, the body
 * follows. */
#include "deliver/transport.h"

#include <stdlib.h>
#include <string.h>

struct transport {
	size_t inflight;
};

struct transport *
transport_new(struct event_base *base, const struct route_conf *rc, struct spool *sp,
	      char **err_r)
{
	(void)base;
	(void)rc;
	(void)sp;
	struct transport *t = calloc(1, sizeof *t);
	if (t == NULL)
		*err_r = strdup("out of memory");
	return t;
}

int
transport_deliver(struct transport *t, const struct spool_entry *e, const size_t *rcpts, size_t n,
		  const struct route *route, transport_done_fn *done, void *arg)
{
	(void)t, (void)e, (void)rcpts, (void)n, (void)route, (void)done, (void)arg;
	return -1;
}

size_t
transport_inflight(const struct transport *t)
{
	return t->inflight;
}

size_t
transport_connections(const struct transport *t)
{
	(void)t;
	return 0;
}

void
transport_close_idle(struct transport *t)
{
	(void)t;
}

void
transport_free(struct transport **tp)
{
	free(*tp);
	*tp = NULL;
}
