/* config_tls.h - the rows of tls_certificate and tls_key (issue 16
 * item 3): both repeatable, the n-th tls_key with the n-th
 * tls_certificate.  What the files hold (one certificate per key type,
 * the key matching its certificate) is tls_certs.c's to check: it reads
 * them, at start, --check and SIGHUP. */
#ifndef POSTERN_SERVER_CONFIG_TLS_H
#define POSTERN_SERVER_CONFIG_TLS_H

struct conf_ctx;
struct config;

/* CONF_CUSTOM parsers: each line adds a path (relative to the file's
 * folder), with its line.  "FILE:LINE: KEY: empty path", "FILE:LINE:
 * KEY: at most 5 ...". */
int config_add_tls_certificate(struct conf_ctx *x, void *obj, const char *v);
int config_add_tls_key(struct conf_ctx *x, void *obj, const char *v);

/* After the whole file: pairs the lines up (c->ntls).  Returns NULL,
 * or a malloc'd "FILE:LINE: tls_certificate PATH has no tls_key ..." */
char *config_tls_pair_up(struct config *c);

void config_tls_clear(struct config *c);

#endif
