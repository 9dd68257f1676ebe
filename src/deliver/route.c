/* route.c - the delivery keys of the config, and the route of one
 * recipient (contract in route.h). */
#include "deliver/route.h"

#include <stdlib.h>
#include <string.h>

void
route_conf_init(struct route_conf *rc)
{
	memset(rc, 0, sizeof *rc);
	rc->relay_tls = ROUTE_TLS_REQUIRED;
	rc->relay_port = 25;
}

void
route_conf_clear(struct route_conf *rc)
{
	free(rc->maildir);
	free(rc->lmtp_host);
	free(rc->lmtp_unix);
	free(rc->relay_text);
	free(rc->relay_host);
	free(rc->relay_credentials);
	free(rc->relay_tls_trust_file);
	free(rc->dns_servers);
	route_conf_init(rc);
}
