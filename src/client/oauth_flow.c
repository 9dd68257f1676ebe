/* oauth_flow.c - getting an account's first token: the device
 * authorization flow (RFC 8628) or the authorization code flow with
 * PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252 section 7.3).
 * Interactive by nature: the user reads what we print to stdout. */
#include "client/oauth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/b64url.h"
#include "util/buf.h"
#include "util/str.h"

/* RFC 8628 3.5: "If no value is provided, clients MUST use 5 as the default." */
#define DEVICE_INTERVAL_DEFAULT 5
/* How long the loopback listener waits for the browser. */
#define PKCE_WAIT_SEC 300

/* Client id and secret onto a form. */
static int
form_client(char **form, const struct client_account *a)
{
	if (oauth_form_add(form, "client_id", a->oauth_client_id) < 0)
		return -1;
	return a->oauth_client_secret ? oauth_form_add(form, "client_secret", a->oauth_client_secret)
				      : 0;
}

static void
form_free(char **form)
{
	if (*form) {
		OPENSSL_cleanse(*form, strlen(*form));
		free(*form);
		*form = NULL;
	}
}

/* Polls the token endpoint until the user has approved (RFC 8628 3.4/3.5). */
static int
device_poll(const struct client_account *a, const struct oauth_endpoints *e, const char *code,
	    long interval, long expires_in, struct oauth_tokens *t, char **err_r)
{
	time_t end = time(NULL) + expires_in;
	while (time(NULL) < end) {
		(void)sleep((unsigned)interval);
		char *form = NULL, *why = NULL;
		json_t *ans = NULL;
		long st = -1;
		if (oauth_form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code") == 0
		    && oauth_form_add(&form, "device_code", code) == 0 && form_client(&form, a) == 0)
			st = oauth_http_post(e->token, form, &ans, &why);
		form_free(&form);
		const char *err = json_string_value(json_object_get(ans, "error"));
		if (st == 200) {
			int rc = oauth_tokens_take(t, ans, time(NULL), err_r);
			json_decref(ans);
			return rc;
		}
		if (err != NULL && strcmp(err, "authorization_pending") == 0) {
			json_decref(ans);
			continue;
		}
		if (err != NULL && strcmp(err, "slow_down") == 0) {
			interval += 5;	/* RFC 8628 3.5: "MUST be increased by 5 seconds" */
			json_decref(ans);
			continue;
		}
		*err_r = why ? why : oauth_http_error(ans, st);	/* expired_token, access_denied ... */
		json_decref(ans);
		return -1;
	}
	*err_r = str_printf("the device code expired before the sign-in was completed");
	return -1;
}

static int
device_flow(const struct client_account *a, const struct oauth_endpoints *e,
	    struct oauth_tokens *t, char **err_r)
{
	char *form = NULL, *why = NULL;
	json_t *ans = NULL;
	long st = -1;
	if (form_client(&form, a) == 0 && oauth_form_add(&form, "scope", e->scope) == 0)
		st = oauth_http_post(e->device, form, &ans, &why);
	form_free(&form);
	const char *code = json_string_value(json_object_get(ans, "device_code"));
	const char *user_code = json_string_value(json_object_get(ans, "user_code"));
	/* Google says verification_url, RFC 8628 verification_uri. */
	const char *uri = json_string_value(json_object_get(ans, "verification_uri"));
	if (uri == NULL)
		uri = json_string_value(json_object_get(ans, "verification_url"));
	if (st != 200 || code == NULL || user_code == NULL || uri == NULL) {
		*err_r = why ? why : oauth_http_error(ans, st);
		json_decref(ans);
		return -1;
	}
	json_int_t iv = json_integer_value(json_object_get(ans, "interval"));
	json_int_t ex = json_integer_value(json_object_get(ans, "expires_in"));
	printf("To sign in, open %s and enter the code %s\n", uri, user_code);
	(void)fflush(stdout);
	int rc = device_poll(a, e, code, iv > 0 && iv < 300 ? (long)iv : DEVICE_INTERVAL_DEFAULT,
			     ex > 0 && ex < 86400 ? (long)ex : 900, t, err_r);
	json_decref(ans);
	return rc;
}

/* A fresh random base64url string from n bytes. */
static char *
random_b64url(size_t n)
{
	uint8_t raw[64];
	struct buf b;
	buf_init(&b, 128);
	char *s = NULL;
	if (n <= sizeof raw && RAND_bytes(raw, (int)n) == 1 && b64url_encode(&b, raw, n) == BUF_OK)
		s = strdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* RFC 7636 4.2: code_challenge = BASE64URL(SHA256(ASCII(code_verifier))). */
static char *
pkce_challenge(const char *verifier)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	struct buf b;
	buf_init(&b, 64);
	char *s = NULL;
	if (EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL) == 1
	    && b64url_encode(&b, md, mdlen) == BUF_OK)
		s = strdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* Listens on 127.0.0.1 on a port the kernel picks (RFC 8252 7.3). */
static int
loopback_listen(unsigned *port_r)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 4) != 0
	    || getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	*port_r = ntohs(sin.sin_port);
	return fd;
}

/* The value of name in the query of "GET /path?query HTTP/1.1" (malloc'd, decoded). */
static char *
query_param(const char *req, const char *name)
{
	const char *q = strchr(req, '?'), *end = strchr(req, ' ');
	end = end ? strchr(end + 1, ' ') : NULL;
	size_t nlen = strlen(name);
	for (const char *p = q ? q + 1 : NULL; p != NULL && (end == NULL || p < end);) {
		size_t len = strcspn(p, "& \r\n");
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			int outlen = 0;
			char *v = curl_easy_unescape(NULL, p + nlen + 1, (int)(len - nlen - 1), &outlen);
			char *r = v ? strndup(v, (size_t)outlen) : NULL;
			curl_free(v);
			return r;
		}
		p = p[len] == '&' ? p + len + 1 : NULL;
	}
	return NULL;
}

/* Accepts the browser's one redirect; returns the request line's
 * code after checking state (constant time), or NULL with *err_r. */
static char *
pkce_wait(int lfd, const char *state, char **err_r)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	if (poll(&pfd, 1, PKCE_WAIT_SEC * 1000) != 1) {
		*err_r = str_printf("no redirect from the browser within %d s", PKCE_WAIT_SEC);
		return NULL;
	}
	int fd = accept(lfd, NULL, NULL);
	char req[8192];
	ssize_t n = fd >= 0 ? recv(fd, req, sizeof req - 1, 0) : -1;
	req[n > 0 ? n : 0] = '\0';
	char *got = query_param(req, "state"), *code = query_param(req, "code");
	char *err = query_param(req, "error");
	bool ok = got && code && strlen(got) == strlen(state)
		  && CRYPTO_memcmp(got, state, strlen(state)) == 0;
	static const char page[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
				   "\r\npostern: sign-in complete; you can close this window.\r\n";
	if (fd >= 0) {
		(void)send(fd, page, sizeof page - 1, MSG_NOSIGNAL);
		(void)close(fd);
	}
	if (!ok) {
		*err_r = err ? str_printf("the authorization server answered %s", err)
			     : str_printf("the redirect had no code or a wrong state");
		free(code);
		code = NULL;
	}
	free(got);
	free(err);
	return code;
}

static char *
authorize_url(const struct client_account *a, const struct oauth_endpoints *e,
	      const char *redirect, const char *state, const char *challenge)
{
	char *q = NULL;
	if (oauth_form_add(&q, "response_type", "code") < 0
	    || oauth_form_add(&q, "client_id", a->oauth_client_id) < 0
	    || oauth_form_add(&q, "redirect_uri", redirect) < 0
	    || oauth_form_add(&q, "scope", e->scope) < 0 || oauth_form_add(&q, "state", state) < 0
	    || oauth_form_add(&q, "code_challenge", challenge) < 0
	    || oauth_form_add(&q, "code_challenge_method", "S256") < 0) {
		free(q);
		return NULL;
	}
	char *url = str_printf("%s%c%s", e->authorize, strchr(e->authorize, '?') ? '&' : '?', q);
	free(q);
	return url;
}

static int
pkce_flow(const struct client_account *a, const struct oauth_endpoints *e,
	  struct oauth_tokens *t, char **err_r)
{
	unsigned port = 0;
	int lfd = loopback_listen(&port);
	char *verifier = random_b64url(32), *state = random_b64url(16);
	char *challenge = verifier ? pkce_challenge(verifier) : NULL;
	char *redirect = str_printf("http://127.0.0.1:%u/", port);
	char *url = lfd >= 0 && state && challenge && redirect
		    ? authorize_url(a, e, redirect, state, challenge) : NULL;
	char *code = NULL, *form = NULL, *why = NULL;
	json_t *ans = NULL;
	long st = -1;
	if (url == NULL) {
		*err_r = str_printf("cannot listen on 127.0.0.1 for the redirect");
	} else {
		printf("Open this URL in a browser to sign in:\n%s\n", url);
		(void)fflush(stdout);
		code = pkce_wait(lfd, state, err_r);
	}
	if (code && oauth_form_add(&form, "grant_type", "authorization_code") == 0
	    && oauth_form_add(&form, "code", code) == 0
	    && oauth_form_add(&form, "redirect_uri", redirect) == 0
	    && oauth_form_add(&form, "code_verifier", verifier) == 0 && form_client(&form, a) == 0)
		st = oauth_http_post(e->token, form, &ans, &why);
	int rc = -1;
	if (st == 200)
		rc = oauth_tokens_take(t, ans, time(NULL), err_r);
	else if (code) {
		*err_r = why ? why : oauth_http_error(ans, st);
		why = NULL;
	}
	free(why);
	json_decref(ans);
	form_free(&form);
	form_free(&code);
	form_free(&verifier);
	free(state);
	free(challenge);
	free(redirect);
	free(url);
	if (lfd >= 0)
		(void)close(lfd);
	return rc;
}

int
oauth_login(const struct client_account *a, const struct oauth_endpoints *e,
	    struct oauth_tokens *t, char **err_r)
{
	return e->device_flow ? device_flow(a, e, t, err_r) : pkce_flow(a, e, t, err_r);
}
