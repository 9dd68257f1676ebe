/* store_oauth.h - the token verifier of OAUTHBEARER and XOAUTH2 (RFC
 * 7628): a credential backend for one kind of request,
 * SASL_CRED_OAUTH_TOKEN, configured by the server's oauth_* keys rather
 * than by `credentials` (a site keeps its password store and adds
 * tokens).  Two ways, by config:
 *
 *  - signed JWTs (oauth_jwks): RS256/ES256 against the keys of a JWKS
 *    file; iss = oauth_issuer, aud holds oauth_audience, exp and nbf
 *    with JWT_LEEWAY_DEFAULT (60 s) of clock skew; the user from the
 *    claim oauth_user_claim (default email).  Cheap (one signature
 *    check): answered at once, on the auth process's loop.
 *  - RFC 7662 introspection (oauth_introspection_url, oauth_client_id,
 *    oauth_client_secret_file): an HTTP POST, so a job for the auth
 *    process's workers (store_job_run), never the loop.  active must be
 *    true; exp, nbf, and iss/aud when configured, as above; the user
 *    from the same claim, else "username".  A good answer is cached
 *    (store_oauth_cache.c) under SHA-256 of the token until the token's
 *    exp, at most STORE_OAUTH_CACHE_TTL_MAX.
 *
 * With both configured, a token of JWS shape (two dots) is judged as a
 * JWT and anything else is introspected.  The answer names the token's
 * user (sasl_cred_answer.token_user); the mechanism then refuses a
 * token for A offered as B.  Tokens never appear in a log line: a line
 * names a token by the first 8 hex digits of its SHA-256.
 */
#ifndef POSTERN_STORE_OAUTH_H
#define POSTERN_STORE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct store;

/* The oauth_* keys (DESIGN.md), as the server config holds them: paths
 * absolute, NULL when not set; *_line the key's line, for messages. */
struct store_oauth_conf {
	char *jwks;
	char *issuer;
	char *audience;
	char *user_claim;		/* NULL: "email" */
	char *introspection_url;
	char *client_id;
	char *client_secret_file;
	unsigned jwks_line, url_line, secret_line;
};

/* How long a good introspection answer is believed at most: a revoked
 * token stops working within this even when its exp is far away. */
#define STORE_OAUTH_CACHE_TTL_MAX 3600
/* ... and when the answer had no exp at all. */
#define STORE_OAUTH_CACHE_TTL_NOEXP 60

/* Does the config ask for token checks at all? */
static inline bool
store_oauth_configured(const struct store_oauth_conf *c)
{
	return c->jwks != NULL || c->introspection_url != NULL;
}

static inline bool
store_oauth_str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Same settings?  (SIGHUP: a change needs a new auth process, as a
 * change of credentials does; the files are re-read by store_reload.) */
static inline bool
store_oauth_conf_same(const struct store_oauth_conf *a, const struct store_oauth_conf *b)
{
	return store_oauth_str_same(a->jwks, b->jwks) && store_oauth_str_same(a->issuer, b->issuer)
	       && store_oauth_str_same(a->audience, b->audience)
	       && store_oauth_str_same(a->user_claim, b->user_claim)
	       && store_oauth_str_same(a->introspection_url, b->introspection_url)
	       && store_oauth_str_same(a->client_id, b->client_id)
	       && store_oauth_str_same(a->client_secret_file, b->client_secret_file);
}

/* Opens the verifier c describes (c must be configured; it is copied):
 * reads and checks the JWKS file and the client secret file, checks the
 * URL (https, or http to a loopback address only), sets up libcurl
 * (call before any thread starts).  A store whose only kind is
 * SASL_CRED_OAUTH_TOKEN; store_reload re-reads both files.  NULL with
 * *err_r malloc'd: "CONF_FILE:LINE: oauth_jwks: PATH: what". */
struct store *store_oauth_open(const struct store_oauth_conf *c, const char *conf_file,
			       char **err_r);

#endif
