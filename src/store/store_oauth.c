/* store_oauth.c - the token verifier as a credential backend
 * (store_oauth.h): JWTs answered at once, introspection as a job for
 * the workers (store_oauth_http.c), good answers cached
 * (store_oauth_cache.c). */
#include "store/store_oauth_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "store/store_file.h"
#include "util/log.h"
#include "util/str.h"

/* The longest client secret read from its file. */
#define OAUTH_SECRET_MAX 1024

struct store_oauth {
	struct store_oauth_conf c;	/* copied strings */
	char *conf_file;		/* for messages */
	struct jwt_policy policy;	/* strings point into c */
	char *openid_config;		/* issuer's discovery URL, for the error status; or NULL */
	struct jwt_keys *keys;		/* NULL without oauth_jwks */
	char *secret;			/* NULL without introspection */
	struct oauth_cache *cache;
};

static void
oauth_conf_free(struct store_oauth_conf *c)
{
	free(c->jwks);
	free(c->issuer);
	free(c->audience);
	free(c->user_claim);
	free(c->introspection_url);
	free(c->client_id);
	free(c->client_secret_file);
	memset(c, 0, sizeof *c);
}

static int
oauth_conf_copy(struct store_oauth_conf *to, const struct store_oauth_conf *from)
{
	*to = *from;
	to->jwks = str_dup(from->jwks);
	to->issuer = str_dup(from->issuer);
	to->audience = str_dup(from->audience);
	to->user_claim = str_dup(from->user_claim);
	to->introspection_url = str_dup(from->introspection_url);
	to->client_id = str_dup(from->client_id);
	to->client_secret_file = str_dup(from->client_secret_file);
	bool ok = (to->jwks != NULL) == (from->jwks != NULL)
		  && (to->issuer != NULL) == (from->issuer != NULL)
		  && (to->audience != NULL) == (from->audience != NULL)
		  && (to->user_claim != NULL) == (from->user_claim != NULL)
		  && (to->introspection_url != NULL) == (from->introspection_url != NULL)
		  && (to->client_id != NULL) == (from->client_id != NULL)
		  && (to->client_secret_file != NULL) == (from->client_secret_file != NULL);
	return ok ? 0 : -1;
}

/* "CONF:LINE: KEY: what" */
static char *
oauth_err(const struct store_oauth *so, unsigned line, const char *key, const char *what)
{
	return str_printf("%s:%u: %s: %s", so->conf_file, line, key, what ? what : "out of memory");
}

/* Reads the JWKS file into new keys (so->keys replaced on success). */
static int
oauth_load_jwks(struct store_oauth *so, char **err_r)
{
	char *text = NULL, *why = NULL;
	size_t len;
	struct stat st;
	if (store_file_db_read(so->c.jwks, &text, &len, &st, &why) < 0) {
		*err_r = oauth_err(so, so->c.jwks_line, "oauth_jwks", why);
		free(why);
		return -1;
	}
	const char *jwhy = NULL;
	struct jwt_keys *k = jwt_keys_parse(text, len, &jwhy);
	free(text);
	if (k == NULL || jwt_keys_count(k) == 0) {
		char *m = str_printf("%s: %s", so->c.jwks,
				     k == NULL ? jwhy : "no RS256 or ES256 signing key in it");
		*err_r = oauth_err(so, so->c.jwks_line, "oauth_jwks", m);
		free(m);
		jwt_keys_free(&k);
		return -1;
	}
	jwt_keys_free(&so->keys);
	so->keys = k;
	return 0;
}

/* Reads the client secret: the file's first line, not empty, the file
 * closed to others (it is a password). */
static int
oauth_load_secret(struct store_oauth *so, char **err_r)
{
	char *text = NULL, *why = NULL;
	size_t len;
	struct stat st;
	const char *key = "oauth_client_secret_file", *path = so->c.client_secret_file;
	if (store_file_db_read(path, &text, &len, &st, &why) < 0) {
		*err_r = oauth_err(so, so->c.secret_line, key, why);
		free(why);
		return -1;
	}
	size_t n = strcspn(text, "\r\n");
	const char *bad = (st.st_mode & S_IRWXO) != 0 ? "others may read it (chmod o-rwx)"
			  : n == 0 ? "the first line is empty"
			  : n > OAUTH_SECRET_MAX ? "the secret is longer than 1024 bytes" : NULL;
	char *secret = bad == NULL ? strndup(text, n) : NULL;
	OPENSSL_cleanse(text, len);
	free(text);
	if (secret == NULL) {
		char *m = bad != NULL ? str_printf("%s: %s", path, bad) : NULL;
		*err_r = oauth_err(so, so->c.secret_line, key, m);
		free(m);
		return -1;
	}
	str_wipe_free(&so->secret);
	so->secret = secret;
	return 0;
}

static void
store_oauth_free(void *impl)
{
	struct store_oauth *so = impl;
	jwt_keys_free(&so->keys);
	str_wipe_free(&so->secret);
	oauth_cache_free(&so->cache);
	oauth_conf_free(&so->c);
	free(so->conf_file);
	free(so->openid_config);
	free(so);
}

static int
store_oauth_reload(void *impl, char **err_r)
{
	struct store_oauth *so = impl;
	if (so->c.jwks != NULL && oauth_load_jwks(so, err_r) < 0)
		return -1;
	if (so->c.introspection_url != NULL && oauth_load_secret(so, err_r) < 0)
		return -1;
	return 0;
}

static bool
store_oauth_supports(const void *impl, enum sasl_cred_kind kind)
{
	return kind == SASL_CRED_OAUTH_TOKEN;
}

/* "sha256=1a2b3c4d": how a log line names a token. */
static void
oauth_token_tag(const uint8_t key[OAUTH_KEY_LEN], char tag[16])
{
	(void)snprintf(tag, 16, "%02x%02x%02x%02x", key[0], key[1], key[2], key[3]);
}

/* Fills a for a verdict on the token named by key. */
static void
oauth_answer(const struct store_oauth *so, const uint8_t key[OAUTH_KEY_LEN],
	     enum oauth_verdict v, const char *user, const char *why, struct sasl_cred_answer *a)
{
	char tag[16];
	oauth_token_tag(key, tag);
	char *prep = NULL;
	const char *pwhy = NULL;
	if (v == OAUTH_V_OK && store_user_prep(user, &prep, &pwhy) < 0) {
		v = OAUTH_V_BAD;
		why = pwhy;
	}
	if (v == OAUTH_V_OK) {
		a->status = SASL_CRED_OK;
		(void)snprintf(a->token_user, sizeof a->token_user, "%s", prep);
		char q[LOG_SAFE_MAX];
		log_debug("oauth: token sha256=%s accepted user=%s", tag,
			  log_quote_str(q, sizeof q, prep));
	} else if (v == OAUTH_V_TEMP) {
		a->status = SASL_CRED_TEMPFAIL;
		log_warn("oauth: token sha256=%s not checked: %s", tag, why);
	} else {
		a->status = SASL_CRED_BADPASS;
		/* RFC 7628 section 3.2.2 / RFC 6750 section 3.1 */
		(void)snprintf(a->oauth_status, sizeof a->oauth_status, "invalid_token");
		if (so->openid_config != NULL)
			(void)snprintf(a->oauth_openid_config, sizeof a->oauth_openid_config, "%s",
				       so->openid_config);
		log_info("oauth: token sha256=%s refused: %s", tag, why);
	}
	str_wipe_free(&prep);
}

/* A JWS compact token has exactly two dots. */
static bool
oauth_is_jws(const uint8_t *t, size_t n)
{
	size_t dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += t[i] == '.';
	return dots == 2;
}

static struct store_job *
oauth_job_new(const struct store_oauth *so, const struct sasl_cred_request *req,
	      const uint8_t key[OAUTH_KEY_LEN], time_t now);

static struct store_job *
store_oauth_begin(void *impl, const struct sasl_cred_request *req, struct sasl_cred_answer *a)
{
	struct store_oauth *so = impl;
	uint8_t key[OAUTH_KEY_LEN];
	time_t now = time(NULL);
	if (req->kind != SASL_CRED_OAUTH_TOKEN
	    || EVP_Digest(req->password, req->password_len, key, NULL, EVP_sha256(), NULL) != 1) {
		a->status = SASL_CRED_TEMPFAIL;
		return NULL;
	}
	if (so->keys != NULL && oauth_is_jws(req->password, req->password_len)) {
		struct jwt_result r;
		const char *why = NULL;
		enum jwt_rc rc = jwt_verify(so->keys, &so->policy, (const char *)req->password,
					    req->password_len, now, &r, &why);
		oauth_answer(so, key, rc == JWT_OK ? OAUTH_V_OK : OAUTH_V_BAD, r.user, why, a);
		OPENSSL_cleanse(&r, sizeof r);
		return NULL;
	}
	if (so->c.introspection_url == NULL) {
		oauth_answer(so, key, OAUTH_V_BAD, NULL, "not a JWT, and no introspection endpoint", a);
		return NULL;
	}
	char user[SASL_NAME_MAX + 1];
	if (oauth_cache_get(so->cache, key, now, user)) {
		oauth_answer(so, key, OAUTH_V_OK, user, NULL, a);
		return NULL;
	}
	struct store_job *j = oauth_job_new(so, req, key, now);
	if (j == NULL)
		oauth_answer(so, key, OAUTH_V_TEMP, NULL, "out of memory", a);
	return j;
}

static void
oauth_job_free(struct store_job *sj)
{
	struct oauth_job *j = (struct oauth_job *)sj;
	free(j->url);
	free(j->client_id);
	str_wipe_free(&j->secret);
	str_wipe_free(&j->token);
	OPENSSL_cleanse(j, sizeof *j);
	free(j);
}

/* The result on the loop: into the cache when good, then the answer. */
static void
oauth_job_end(void *impl, struct store_job *sj, struct sasl_cred_answer *a)
{
	struct store_oauth *so = impl;
	struct oauth_job *j = (struct oauth_job *)sj;
	const char *why = j->why;
	char detail[200];
	if (j->verdict == OAUTH_V_TEMP && j->http_status != 0 && j->http_status != 200) {
		(void)snprintf(detail, sizeof detail, "%s (HTTP %ld)", why, j->http_status);
		why = detail;
	} else if (j->verdict == OAUTH_V_TEMP && j->curl_rc != 0) {
		(void)snprintf(detail, sizeof detail, "%s: %s", why,
			       curl_easy_strerror((CURLcode)j->curl_rc));
		why = detail;
	}
	if (j->verdict == OAUTH_V_OK) {
		time_t until = j->res.exp != 0 ? j->res.exp : j->now + STORE_OAUTH_CACHE_TTL_NOEXP;
		if (until > j->now + STORE_OAUTH_CACHE_TTL_MAX)
			until = j->now + STORE_OAUTH_CACHE_TTL_MAX;
		oauth_cache_put(so->cache, j->key, until, j->res.user);
	}
	oauth_answer(so, j->key, j->verdict, j->res.user, why, a);
	oauth_job_free(sj);
}

static const struct store_ops store_oauth_ops = {
	.scheme = "oauth",
	.open = NULL,	/* store_oauth_open(): from the oauth_* keys, not a spec */
	.free = store_oauth_free,
	.supports = store_oauth_supports,
	.answer = NULL,
	.reload = store_oauth_reload,
	.begin = store_oauth_begin,
	.run = oauth_job_run,
	.end = oauth_job_end,
	.job_free = oauth_job_free,
};

static struct store_job *
oauth_job_new(const struct store_oauth *so, const struct sasl_cred_request *req,
	      const uint8_t key[OAUTH_KEY_LEN], time_t now)
{
	struct oauth_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	j->head.ops = &store_oauth_ops;
	j->url = strdup(so->c.introspection_url);
	j->client_id = strdup(so->c.client_id);
	j->secret = strdup(so->secret);
	j->token = strndup((const char *)req->password, req->password_len);
	if (j->url == NULL || j->client_id == NULL || j->secret == NULL || j->token == NULL) {
		oauth_job_free(&j->head);
		return NULL;
	}
	memcpy(j->key, key, OAUTH_KEY_LEN);
	j->policy = so->policy;
	j->now = now;
	return (struct store_job *)(void *)j;	/* head is the first member */
}

struct store *
store_oauth_open(const struct store_oauth_conf *c, const char *conf_file, char **err_r)
{
	*err_r = NULL;
	struct store_oauth *so = calloc(1, sizeof *so);
	if (so == NULL || oauth_conf_copy(&so->c, c) < 0
	    || (so->conf_file = strdup(conf_file)) == NULL
	    || (so->cache = oauth_cache_new()) == NULL) {
		if (so != NULL)
			store_oauth_free(so);
		*err_r = str_printf("%s: out of memory", conf_file);
		return NULL;
	}
	so->policy = (struct jwt_policy){ .issuer = so->c.issuer, .audience = so->c.audience,
					  .user_claim = so->c.user_claim };
	if (so->c.issuer != NULL)
		so->openid_config = str_printf("%s/.well-known/openid-configuration", so->c.issuer);
	const char *why = so->c.introspection_url != NULL
				  ? oauth_http_url_why_not(so->c.introspection_url) : NULL;
	if (why != NULL) {
		char *m = str_printf("'%s': %s", so->c.introspection_url, why);
		*err_r = oauth_err(so, so->c.url_line, "oauth_introspection_url", m);
		free(m);
	} else if (so->c.introspection_url != NULL && oauth_http_init() < 0) {
		*err_r = oauth_err(so, so->c.url_line, "oauth_introspection_url", "cannot set up libcurl");
	}
	if (*err_r != NULL || store_oauth_reload(so, err_r) < 0) {
		store_oauth_free(so);
		return NULL;
	}
	struct store *st = store_wrap(&store_oauth_ops, so);
	if (st == NULL) {
		store_oauth_free(so);
		*err_r = str_printf("%s: out of memory", conf_file);
	}
	return st;
}
