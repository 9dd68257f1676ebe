/* store_oauth_impl.h - the parts of the token verifier (store_oauth.h)
 * shared by store_oauth.c (the backend), store_oauth_http.c (the
 * introspection request, on a worker) and store_oauth_cache.c.  Internal. */
#ifndef POSTERN_STORE_OAUTH_IMPL_H
#define POSTERN_STORE_OAUTH_IMPL_H

#include <stdint.h>
#include <time.h>

#include "oauth/jwt.h"
#include "sasl/sasl.h"
#include "store/store_impl.h"
#include "store/store_oauth.h"

#define OAUTH_KEY_LEN 32	/* SHA-256 of the token */

/* ---- the cache: good introspection answers (store_oauth_cache.c) ----
 * 256 sets of 4 entries: O(1) with no allocation after the first, at
 * most 1024 tokens (~300 KiB); a full set gives up its entry that ends
 * first. */
struct oauth_cache;
struct oauth_cache *oauth_cache_new(void);
void oauth_cache_free(struct oauth_cache **cp);	/* wipes; NULL-safe */
/* The user of key's entry when it is there and good at now. */
bool oauth_cache_get(struct oauth_cache *c, const uint8_t key[OAUTH_KEY_LEN], time_t now,
		     char user_r[SASL_NAME_MAX + 1]);
void oauth_cache_put(struct oauth_cache *c, const uint8_t key[OAUTH_KEY_LEN], time_t until,
		     const char *user);

/* ---- one introspection request (store_oauth_http.c) ---- */
enum oauth_verdict { OAUTH_V_OK, OAUTH_V_BAD, OAUTH_V_TEMP };

struct oauth_job {
	struct store_job head;		/* first: store_job_* cast to it */
	/* In: copies (the secret and the token wiped at the end), and a
	 * policy whose strings are the store's (it outlives its jobs). */
	char *url, *client_id, *secret, *token;
	uint8_t key[OAUTH_KEY_LEN];
	struct jwt_policy policy;
	time_t now;
	/* Out, set by oauth_job_run (static strings only: a worker thread). */
	enum oauth_verdict verdict;
	enum jwt_rc rc;
	struct jwt_result res;
	const char *why;
	long http_status;		/* 0: no answer */
	int curl_rc;			/* CURLcode */
};

/* The request and the verdict, on any thread. */
void oauth_job_run(struct store_job *j);
/* curl_global_init once, before threads: 0 or -1. */
int oauth_http_init(void);
/* Is url one we may send a secret to: https, or http to 127.0.0.1,
 * [::1] or localhost?  NULL, or a static reason. */
const char *oauth_http_url_why_not(const char *url);

#endif
