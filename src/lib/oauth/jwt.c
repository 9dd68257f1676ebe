/* jwt.c - verifying a JWS-signed JWT (RFC 7519, RFC 7515 compact form).
 * Order matters: the header's alg is checked against the two we allow
 * before any key is chosen, the signature before any claim is believed,
 * and the claims (RFC 7519 section 4.1) last. */
#include "oauth/jwt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "oauth/claims.h"
#include "util/b64url.h"
#include "util/buf.h"

static const char *const jwt_rc_names[] = {
	"ok", "malformed", "bad_alg", "unknown_key", "bad_signature", "expired",
	"not_yet_valid", "bad_issuer", "bad_audience", "no_user", "inactive",
};
_Static_assert(sizeof jwt_rc_names / sizeof *jwt_rc_names == JWT_RC__COUNT, "jwt_rc_names");

const char *
jwt_rc_name(enum jwt_rc rc)
{
	return (unsigned)rc < JWT_RC__COUNT ? jwt_rc_names[rc] : "?";
}

/* The three parts of the compact serialisation. */
struct jwt_parts {
	const char *p[3];
	size_t n[3];
};

static int
jwt_split(const char *t, size_t n, struct jwt_parts *parts)
{
	size_t at = 0;
	for (int i = 0; i < 3; i++) {
		const char *dot = i < 2 ? memchr(t + at, '.', n - at) : NULL;
		size_t end = dot != NULL ? (size_t)(dot - t) : n;
		if (i < 2 && dot == NULL)
			return -1;
		parts->p[i] = t + at;
		parts->n[i] = end - at;
		at = end + (i < 2 ? 1 : 0);
	}
	/* A JWE has five parts: the third holds no '.' here. */
	return memchr(parts->p[2], '.', parts->n[2]) == NULL ? 0 : -1;
}

/* base64url JSON object; NULL when it is not one. */
static json_t *
jwt_json(const char *p, size_t n)
{
	struct buf raw;
	buf_init(&raw, JWT_TOKEN_MAX);
	json_t *j = NULL;
	if (n > 0 && b64url_decode(&raw, p, n) == 0 && raw.len > 0)
		j = json_loadb((const char *)raw.p, raw.len, JSON_REJECT_DUPLICATES, NULL);
	buf_free(&raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* RFC 7518 3.4: the JWS signature is r || s, 32 octets each for ES256;
 * EVP wants a DER ECDSA-Sig-Value. */
static int
jwt_es256_der(const uint8_t *sig, size_t n, struct buf *der)
{
	if (n != 64)
		return -1;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	int rc = -1;
	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;	/* owned by es now */
		uint8_t *p = NULL;
		int len = i2d_ECDSA_SIG(es, &p);
		if (len > 0 && buf_add(der, p, (size_t)len) == BUF_OK)
			rc = 0;
		OPENSSL_free(p);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

static enum jwt_rc
jwt_check_sig(EVP_PKEY *key, bool es256, const struct jwt_parts *parts, const char **why_r)
{
	struct buf sig, der;
	buf_init(&sig, 1024);
	buf_init(&der, 128);
	enum jwt_rc rc = JWT_BAD_SIGNATURE;
	*why_r = "signature does not verify";
	if (b64url_decode(&sig, parts->p[2], parts->n[2]) != 0 || sig.len == 0) {
		*why_r = "signature is not base64url";
	} else if (es256 && jwt_es256_der(sig.p, sig.len, &der) < 0) {
		*why_r = "ES256 signature is not 64 bytes of r||s";
	} else {
		const struct buf *s = es256 ? &der : &sig;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		/* The signing input: the first two parts and the dot, as sent. */
		size_t inlen = parts->n[0] + 1 + parts->n[1];
		if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
		    && EVP_DigestVerify(ctx, s->p, s->len, (const uint8_t *)parts->p[0], inlen) == 1)
			rc = JWT_OK;
		EVP_MD_CTX_free(ctx);
	}
	buf_free(&sig);
	buf_free(&der);
	return rc;
}

/* The header: alg, kid, crit; then the key and the signature. */
static enum jwt_rc
jwt_check_header(const struct jwt_keys *k, const struct jwt_parts *parts, const char **why_r)
{
	json_t *h = jwt_json(parts->p[0], parts->n[0]);
	if (h == NULL) {
		*why_r = "header is not a base64url JSON object";
		return JWT_MALFORMED;
	}
	const char *alg = json_string_value(json_object_get(h, "alg"));
	const json_t *kid = json_object_get(h, "kid");
	bool rs = alg != NULL && strcmp(alg, "RS256") == 0;
	bool es = alg != NULL && strcmp(alg, "ES256") == 0;
	enum jwt_rc rc = JWT_OK;
	if (!rs && !es) {
		*why_r = "alg is not RS256 or ES256 (none and HS256 are refused)";
		rc = JWT_BAD_ALG;
	} else if (json_object_get(h, "crit") != NULL) {
		/* RFC 7515 4.1.11: we understand no extension. */
		*why_r = "header has crit extensions";
		rc = JWT_BAD_ALG;
	} else if (kid != NULL && !json_is_string(kid)) {
		*why_r = "kid is not a string";
		rc = JWT_MALFORMED;
	} else {
		EVP_PKEY *key = jwt_keys_find(k, json_string_value(kid), rs ? "RSA" : "EC");
		if (key == NULL) {
			*why_r = kid != NULL ? "no key with the token's kid" : "no single key fits a token without kid";
			rc = JWT_UNKNOWN_KEY;
		} else {
			rc = jwt_check_sig(key, es, parts, why_r);
		}
	}
	json_decref(h);
	return rc;
}

enum jwt_rc
jwt_verify(const struct jwt_keys *k, const struct jwt_policy *p, const char *token, size_t n,
	   time_t now, struct jwt_result *r, const char **why_r)
{
	struct jwt_parts parts;
	memset(r, 0, sizeof *r);
	if (n > JWT_TOKEN_MAX || jwt_split(token, n, &parts) < 0) {
		*why_r = "not a JWS compact token (three parts)";
		return JWT_MALFORMED;
	}
	enum jwt_rc rc = jwt_check_header(k, &parts, why_r);
	if (rc != JWT_OK)
		return rc;
	json_t *c = jwt_json(parts.p[1], parts.n[1]);
	if (c == NULL) {
		*why_r = "payload is not a base64url JSON object";
		return JWT_MALFORMED;
	}
	rc = oauth_claims_check(c, p, now, 0, r, why_r);
	json_decref(c);
	return rc;
}
