/* auth_throttle.c - the session's two calls into the AUTH throttle
 * (auth/throttle.h): ask before the credential check, tell after it
 * (or cancel, when nothing was checked).
 *
 * This is all the server knows of the throttle, so that it moves into
 * the auth process with these functions: the counts must be one
 * set for every network process, and only the auth process sees every
 * attempt.  Times are CLOCK_MONOTONIC milliseconds.
 *
 * The attempt tag: HMAC-SHA-256 under srv->auth_tag_key (random per
 * process, never stored) of user NUL password, made here because only
 * here is the password at hand (PLAIN and LOGIN).  It lets the throttle
 * count a stale saved password once, and it is never logged.
 *
 * Log lines (documented in README.md; contrib/fail2ban matches them):
 *   auth throttled: client=IP action=delay limit=LIMIT delay_ms=N user=NAME session=ID
 *   auth throttled: client=IP action=refuse limit=LIMIT user=NAME session=ID
 */
#include "server/session.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sasl/sasl.h"
#include "util/log.h"

static uint64_t
now_ms(void)
{
	struct timespec ts = { 0, 0 };
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail for CLOCK_MONOTONIC */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The tag of a password request into s->auth_tag; false (no tag) for
 * other kinds of request or when the HMAC fails. */
static bool
auth_tag_make(struct session *s, const struct sasl_cred_request *req)
{
	if (req->kind != SASL_CRED_PASSWORD || req->password == NULL)
		return false;
	bool ok = false;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			   OSSL_PARAM_construct_end() };
	size_t outl = 0;
	if (ctx != NULL &&
	    EVP_MAC_init(ctx, s->srv->auth_tag_key, sizeof s->srv->auth_tag_key, p) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)req->authcid, strlen(req->authcid) + 1) == 1 &&
	    EVP_MAC_update(ctx, req->password, req->password_len) == 1 &&
	    EVP_MAC_final(ctx, s->auth_tag, &outl, sizeof s->auth_tag) == 1 &&
	    outl == sizeof s->auth_tag)
		ok = true;
	EVP_MAC_CTX_free(ctx);	/* clears its key and state */
	EVP_MAC_free(mac);
	return ok;
}

enum throttle_verdict
auth_throttle_check(struct session *s, unsigned *delay_ms_r)
{
	const struct sasl_cred_request *req = sasl_cred_request(s->sasl);
	struct throttle_ip ip;
	*delay_ms_r = 0;
	if (req == NULL || s->srv->throttle == NULL || throttle_ip_parse(s->ip, &ip) < 0)
		return THROTTLE_ALLOW;	/* not an address we count (tests' socketpairs) */
	const char *limit = NULL;
	enum throttle_verdict v =
		throttle_check(s->srv->throttle, &ip, req->authcid, now_ms(), delay_ms_r, &limit);
	/* a refusal counts nothing, so there is nothing to record later */
	s->auth_checked = v != THROTTLE_REFUSE;
	s->auth_has_tag = s->auth_checked && auth_tag_make(s, req);
	if (v == THROTTLE_ALLOW)
		return v;
	char user[LOG_SAFE_MAX];
	log_safe(user, sizeof user, req->authcid, strlen(req->authcid));
	if (v == THROTTLE_DELAY)
		log_warn("auth throttled: client=%s action=delay limit=%s delay_ms=%u user=%s"
			 " session=%016" PRIx64, s->ip, limit, *delay_ms_r, user, s->id);
	else
		log_warn("auth throttled: client=%s action=refuse limit=%s user=%s session=%016" PRIx64,
			 s->ip, limit, user, s->id);
	return v;
}

void
auth_throttle_record(struct session *s, bool success)
{
	struct throttle_ip ip;
	const char *user = s->sasl ? sasl_sess_authcid(s->sasl) : NULL;
	if (!s->auth_checked || user == NULL || throttle_ip_parse(s->ip, &ip) < 0)
		return;
	s->auth_checked = false;
	bool counted = throttle_record(s->srv->throttle, &ip, user,
				       s->auth_has_tag ? s->auth_tag : NULL, success, now_ms());
	OPENSSL_cleanse(s->auth_tag, sizeof s->auth_tag);
	s->auth_has_tag = false;
	if (!counted)
		log_info("session=%016" PRIx64 " auth failure repeats an earlier one from client=%s:"
			 " counted once", s->id, s->ip);
}

void
auth_throttle_cancel(struct session *s)
{
	struct throttle_ip ip;
	const char *user = s->sasl ? sasl_sess_authcid(s->sasl) : NULL;
	if (s->auth_checked && user != NULL && throttle_ip_parse(s->ip, &ip) == 0)
		throttle_cancel(s->srv->throttle, &ip, user, now_ms());
	s->auth_checked = false;
	s->auth_has_tag = false;
	OPENSSL_cleanse(s->auth_tag, sizeof s->auth_tag);
}
