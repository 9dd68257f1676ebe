/* auth_throttle.c - the auth process's calls into the AUTH throttle
 * (auth/throttle.h): ask before a credential check, tell after it, or
 * take the attempt back when nothing was checked.
 *
 * The throttle lives here, in the one auth process, so that its counts
 * are one set for every network process and survive their restarts;
 * only here is every attempt seen.  Times are CLOCK_MONOTONIC ms.
 *
 * The attempt tag: HMAC-SHA-256 under d->tag_key (random per process,
 * never stored) of user NUL password, made here because only here is
 * the password at hand (PLAIN and LOGIN).  It lets the throttle count a
 * stale saved password once; it is never logged, and wiped with the
 * request.
 *
 * Log lines (documented in README.md; contrib/fail2ban matches them):
 *   auth throttled: client=IP action=delay limit=LIMIT delay_ms=N user=NAME session=ID
 *   auth throttled: client=IP action=refuse limit=LIMIT user=NAME session=ID
 */
#include "auth/authd_impl.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sasl/sasl.h"
#include "util/log.h"

static uint64_t
now_ms(void)
{
	struct timespec ts = { 0, 0 };
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail for CLOCK_MONOTONIC */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The tag of a password request into r->tag; false (no tag) for other
 * kinds of request or when the HMAC fails. */
static bool
tag_make(struct auth_req *r, const struct sasl_cred_request *req)
{
	if (req->kind != SASL_CRED_PASSWORD || req->password == NULL)
		return false;
	bool ok = false;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			   OSSL_PARAM_construct_end() };
	size_t outl = 0;
	if (ctx != NULL && EVP_MAC_init(ctx, r->d->tag_key, sizeof r->d->tag_key, p) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)req->authcid, strlen(req->authcid) + 1) == 1 &&
	    EVP_MAC_update(ctx, req->password, req->password_len) == 1 &&
	    EVP_MAC_final(ctx, r->tag, &outl, sizeof r->tag) == 1 && outl == sizeof r->tag)
		ok = true;
	EVP_MAC_CTX_free(ctx);	/* clears its key and state */
	EVP_MAC_free(mac);
	return ok;
}

enum throttle_verdict
auth_throttle_check(struct auth_req *r, unsigned *delay_ms_r)
{
	const struct sasl_cred_request *req = sasl_cred_request(r->sasl);
	*delay_ms_r = 0;
	if (req == NULL || r->d->throttle == NULL || throttle_ip_parse(r->ip, &r->tip) < 0)
		return THROTTLE_ALLOW;	/* not an address we count (unit tests' socketpairs) */
	const char *limit = NULL;
	enum throttle_verdict v =
		throttle_check(r->d->throttle, &r->tip, req->authcid, now_ms(), delay_ms_r, &limit);
	/* a refusal counts nothing, so there is nothing to record later */
	r->counted = v != THROTTLE_REFUSE;
	r->has_tag = r->counted && tag_make(r, req);
	if (v == THROTTLE_ALLOW)
		return v;
	char user[LOG_SAFE_MAX];
	log_quote_str(user, sizeof user, req->authcid);
	if (v == THROTTLE_DELAY)
		log_warn("auth throttled: client=%s action=delay limit=%s delay_ms=%u user=%s"
			 " session=%016" PRIx64, r->ip, limit, *delay_ms_r, user, r->sid);
	else
		log_warn("auth throttled: client=%s action=refuse limit=%s user=%s session=%016" PRIx64,
			 r->ip, limit, user, r->sid);
	return v;
}

void
auth_throttle_record(struct auth_req *r, bool success)
{
	const char *user = r->sasl ? sasl_sess_authcid(r->sasl) : NULL;
	if (!r->counted || user == NULL)
		return;
	r->counted = false;
	bool counted = throttle_record(r->d->throttle, &r->tip, user, r->has_tag ? r->tag : NULL,
				       success, now_ms());
	OPENSSL_cleanse(r->tag, sizeof r->tag);
	r->has_tag = false;
	if (!counted)
		log_info("session=%016" PRIx64 " auth failure repeats an earlier one from client=%s:"
			 " counted once", r->sid, r->ip);
}

void
auth_throttle_cancel(struct auth_req *r)
{
	const char *user = r->sasl ? sasl_sess_authcid(r->sasl) : NULL;
	if (r->counted && user != NULL)
		throttle_cancel(r->d->throttle, &r->tip, user, now_ms());
	r->counted = false;
	r->has_tag = false;
	OPENSSL_cleanse(r->tag, sizeof r->tag);
}

/* Every 535 waits AUTH_FAIL_DELAY_MS plus up to as much again of
 * jitter, so that the time of the answer tells nothing about why it
 * failed (unknown user, wrong password).  Slowing repeated guesses is
 * the throttle's job, before the check. */
#define AUTH_FAIL_DELAY_MS 500u

uint32_t
auth_fail_delay(void)
{
	uint32_t jitter = 0;
	if (RAND_bytes((unsigned char *)&jitter, sizeof jitter) != 1)
		jitter = 0;	/* no jitter is still a delay */
	return AUTH_FAIL_DELAY_MS + jitter % AUTH_FAIL_DELAY_MS;
}
