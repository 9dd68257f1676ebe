/* config_route.h - the delivery keys' rows of the server config (issue
 * 14 item 3): parsers that hand each value to route.h's setters and put
 * FILE:LINE: KEY: in front of what they say is wrong. */
#ifndef POSTERN_SERVER_CONFIG_ROUTE_H
#define POSTERN_SERVER_CONFIG_ROUTE_H

struct conf_ctx;

int config_set_local_delivery(struct conf_ctx *x, void *obj, const char *v);
int config_set_relay_host(struct conf_ctx *x, void *obj, const char *v);
int config_set_relay_tls(struct conf_ctx *x, void *obj, const char *v);
int config_set_relay_credentials(struct conf_ctx *x, void *obj, const char *v);
int config_set_relay_tls_trust_file(struct conf_ctx *x, void *obj, const char *v);
int config_set_dns_resolver(struct conf_ctx *x, void *obj, const char *v);

#endif
