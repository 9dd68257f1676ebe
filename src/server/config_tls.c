/* config_tls.c - tls_certificate and tls_key lines (config_tls.h). */
#include "server/config_tls.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/config.h"
#include "util/conf.h"

/* Stores value as the next path of one kind: *count is how many lines
 * of that key came before, the pair at that index gets it. */
static int
add_path(struct conf_ctx *x, struct config *c, const char *key, const char *v, bool is_key)
{
	size_t *count = is_key ? &c->ntls_keys : &c->ntls_certificates;
	if (v[0] == '\0')
		return conf_fail(x, "%s: empty path", key);
	if (*count == CONFIG_TLS_PAIRS_MAX)
		return conf_fail(x, "%s: at most %d (one certificate per key type: RSA, RSA-PSS, "
			    "ECDSA, Ed25519, Ed448)", key, CONFIG_TLS_PAIRS_MAX);
	char *p = conf_path(conf_ctx_conf(x), v);
	if (p == NULL)
		return conf_fail(x, "out of memory");
	const struct conf_entry *e = conf_ctx_entry(x);
	struct config_tls_pair *t = &c->tls[(*count)++];
	if (is_key) {
		t->key = p;
		t->key_line = e != NULL ? e->line : 0;
	} else {
		t->certificate = p;
		t->certificate_line = e != NULL ? e->line : 0;
	}
	return 0;
}

int
config_add_tls_certificate(struct conf_ctx *x, void *obj, const char *v)
{
	return add_path(x, obj, "tls_certificate", v, false);
}

int
config_add_tls_key(struct conf_ctx *x, void *obj, const char *v)
{
	return add_path(x, obj, "tls_key", v, true);
}

/* The first line left without its partner is the one named; the words
 * of the one-pair message stay ("tls_certificate and tls_key go
 * together"). */
#define PAIRS "tls_certificate and tls_key go together, the n-th tls_key with the n-th " \
	"tls_certificate (tls_certificate lines: %zu, tls_key lines: %zu)"
char *
config_tls_pair_up(struct config *c)
{
	char *err = NULL;
	size_t n = c->ntls_certificates < c->ntls_keys ? c->ntls_certificates : c->ntls_keys;
	const struct config_tls_pair *t = &c->tls[n];
	if (c->ntls_certificates > n)
		(void)!asprintf(&err, "%s:%u: tls_certificate %s has no tls_key: " PAIRS, c->path,
				t->certificate_line, t->certificate, c->ntls_certificates,
				c->ntls_keys);
	else if (c->ntls_keys > n)
		(void)!asprintf(&err, "%s:%u: tls_key %s has no tls_certificate: " PAIRS, c->path,
				t->key_line, t->key, c->ntls_certificates, c->ntls_keys);
	else
		c->ntls = n;
	return err;
}

void
config_tls_clear(struct config *c)
{
	for (size_t i = 0; i < CONFIG_TLS_PAIRS_MAX; i++) {
		free(c->tls[i].certificate);
		free(c->tls[i].key);
		c->tls[i].certificate = c->tls[i].key = NULL;
	}
	c->ntls = c->ntls_certificates = c->ntls_keys = 0;
}
