/* store_oauth_http.c - one RFC 7662 introspection request with libcurl,
 * on a worker thread of the auth process (store_oauth_impl.h).
 *
 * RFC 7662 section 2.1: POST application/x-www-form-urlencoded with
 * token= and token_type_hint=, the client authenticated as the
 * authorization server wants (we send HTTP Basic with the form-encoded
 * id and secret, RFC 6749 section 2.3.1).  Bounded: INTROSPECT_BODY_MAX
 * bytes of answer, OAUTH_HTTP_TIMEOUT_MS in all, no redirect, no proxy
 * (the endpoint is the site's own authorization server).  Nothing here
 * logs: a worker thread only fills the job, store_oauth.c logs on the
 * loop. */
#include "store/store_oauth_impl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "oauth/introspect.h"
#include "util/buf.h"
#include "util/str.h"

/* A client waits for AUTH; an endpoint that has not answered in 10 s is
 * down for our purposes (454, the client retries later). */
#define OAUTH_HTTP_TIMEOUT_MS 10000L
#define OAUTH_HTTP_CONNECT_MS 5000L

int
oauth_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

const char *
oauth_http_url_why_not(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *why = NULL;
	if (u == NULL)
		why = "out of memory";
	else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
		 || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
		 || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		why = "not a URL";
	else if (strcasecmp(scheme, "https") == 0)
		why = NULL;
	else if (strcasecmp(scheme, "http") != 0)
		why = "not an http or https URL";
	/* The client secret and users' tokens cross this connection. */
	else if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "[::1]") != 0
		 && strcasecmp(host, "localhost") != 0)
		why = "http is allowed to a loopback address only; use https";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

static size_t
http_collect(char *p, size_t size, size_t n, void *arg)
{
	/* Over the cap: returning less than given makes curl fail. */
	return buf_add(arg, p, size * n) == BUF_OK ? size * n : 0;
}

/* "token=...&token_type_hint=access_token" into form (wiped by the
 * caller); the id and secret form-encoded for Basic.  0 or -1. */
static int
http_encode(CURL *h, const struct oauth_job *j, struct buf *form, char **id_r, char **secret_r)
{
	char *t = curl_easy_escape(h, j->token, 0);
	*id_r = curl_easy_escape(h, j->client_id, 0);
	*secret_r = curl_easy_escape(h, j->secret, 0);
	int rc = t != NULL && *id_r != NULL && *secret_r != NULL
			 && buf_printf(form, "token=%s&token_type_hint=access_token", t) == BUF_OK
		 ? 0 : -1;
	if (t != NULL) {
		OPENSSL_cleanse(t, strlen(t));
		curl_free(t);
	}
	return rc;
}

static void
http_free_escaped(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		curl_free(*p);
	}
	*p = NULL;
}

/* The POST; the answer into body.  A CURLcode. */
static CURLcode
http_post(CURL *h, const struct oauth_job *j, struct buf *body, long *status_r)
{
	struct buf form;
	/* The token is at most SASL_MSG_MAX bytes; %XX triples it. */
	buf_init(&form, (size_t)4 * SASL_MSG_MAX);
	char *id = NULL, *secret = NULL;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
	if (hdr != NULL && http_encode(h, j, &form, &id, &secret) == 0) {
		(void)curl_easy_setopt(h, CURLOPT_URL, j->url);
		(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		(void)curl_easy_setopt(h, CURLOPT_PROXY, "");
		(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		(void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, OAUTH_HTTP_TIMEOUT_MS);
		(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, OAUTH_HTTP_CONNECT_MS);
		(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "postern/" POSTERN_VERSION);
		(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		(void)curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		(void)curl_easy_setopt(h, CURLOPT_USERNAME, id);
		(void)curl_easy_setopt(h, CURLOPT_PASSWORD, secret);
		(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, buf_cstr(&form));
		(void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)form.len);
		(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_collect);
		(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
		rc = curl_easy_perform(h);
		if (rc == CURLE_OK)
			(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_r);
	}
	curl_slist_free_all(hdr);
	http_free_escaped(&id);
	http_free_escaped(&secret);
	buf_wipe_free(&form);
	return rc;
}

void
oauth_job_run(struct store_job *sj)
{
	struct oauth_job *j = (struct oauth_job *)sj;
	struct buf body;
	buf_init(&body, INTROSPECT_BODY_MAX);
	j->verdict = OAUTH_V_TEMP;
	j->why = "cannot start libcurl";
	CURL *h = curl_easy_init();
	if (h != NULL) {
		j->curl_rc = (int)http_post(h, j, &body, &j->http_status);
		j->why = "introspection endpoint unreachable";
		curl_easy_cleanup(h);
	}
	if (j->curl_rc == CURLE_OK && j->http_status == 200) {
		j->rc = introspect_parse(buf_cstr(&body), body.len, &j->policy, j->now, &j->res,
					 &j->why);
		/* An answer we cannot read is the endpoint's trouble, not
		 * the client's: 454, and the log says why. */
		j->verdict = j->rc == JWT_OK ? OAUTH_V_OK
			     : j->rc == JWT_MALFORMED ? OAUTH_V_TEMP : OAUTH_V_BAD;
	} else if (j->curl_rc == CURLE_OK) {
		j->why = "introspection endpoint answered an error";
	}
	buf_wipe_free(&body);
}
