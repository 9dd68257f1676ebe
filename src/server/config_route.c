/* config_route.c - the delivery keys' rows (config_route.h). */
#include "server/config_route.h"

#include <stdlib.h>

#include "server/config.h"
#include "util/conf.h"

/* One shape for every key: the setter checks, we say where. */
typedef int route_setter(struct route_conf *rc, const char *v, const char *dir, char **err_r);

static int
apply(struct conf_ctx *x, void *obj, const char *key, const char *v, route_setter *set)
{
	struct config *c = obj;
	const struct conf *cf = conf_ctx_conf(x);
	char *err = NULL;
	if (set(&c->route, v, cf != NULL ? cf->dir : NULL, &err) == 0)
		return 0;
	int rc = conf_fail(x, "%s: %s", key, err != NULL ? err : "out of memory");
	free(err);
	return rc;
}

static int
relay_host(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	(void)dir;
	return route_set_relay_host(rc, v, err_r);
}

static int
relay_tls(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	(void)dir;
	return route_set_relay_tls(rc, v, err_r);
}

static int
dns_resolver(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	(void)dir;
	return route_set_dns_resolver(rc, v, err_r);
}

int
config_set_local_delivery(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "local_delivery", v, route_set_local_delivery);
}

int
config_set_relay_host(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "relay_host", v, relay_host);
}

int
config_set_relay_tls(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "relay_tls", v, relay_tls);
}

int
config_set_relay_credentials(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "relay_credentials", v, route_set_relay_credentials);
}

int
config_set_relay_tls_trust_file(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "relay_tls_trust_file", v, route_set_relay_tls_trust_file);
}

int
config_set_dns_resolver(struct conf_ctx *x, void *obj, const char *v)
{
	return apply(x, obj, "dns_resolver", v, dns_resolver);
}
