/* jwt.h - checking a signed JWT (RFC 7519) against keys from a JWKS
 * document (RFC 7517), as an OAUTHBEARER/XOAUTH2 token verifier.  Pure:
 * no I/O, no clock (the caller passes now), no global state.
 *
 *	keys = jwt_keys_parse(jwks_text, len, &why);
 *	struct jwt_policy p = { .issuer = ..., .audience = ... };
 *	struct jwt_result r;
 *	if (jwt_verify(keys, &p, token, len, time(NULL), &r, &why) == JWT_OK)
 *		-> r.user authenticated until r.exp
 *
 * Accepted: JWS compact serialisation, alg RS256 (RSA >= 2048 bits) or
 * ES256 (P-256, raw r||s signature, RFC 7518 section 3.4); nothing else,
 * so "none", HS256 (the public-key-as-HMAC-secret confusion) and every
 * other algorithm are refused before any key is touched. */
#ifndef POSTERN_OAUTH_JWT_H
#define POSTERN_OAUTH_JWT_H

#include <stddef.h>
#include <time.h>

struct jwt_keys;	/* the usable keys of one JWKS document */

/* Longest token looked at (a SASL message holds at most 9216 bytes). */
#define JWT_TOKEN_MAX 8192
/* Clock skew allowed on exp and nbf when the policy says 0. */
#define JWT_LEEWAY_DEFAULT 60
#define JWT_USER_MAX 255

enum jwt_rc {
	JWT_OK,
	JWT_MALFORMED,		/* not three base64url parts of JSON objects */
	JWT_BAD_ALG,		/* alg is not RS256/ES256, or crit is present */
	JWT_UNKNOWN_KEY,	/* no key with that kid (and type) */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,		/* now > exp + leeway, or no exp */
	JWT_NOT_YET_VALID,	/* now + leeway < nbf */
	JWT_BAD_ISSUER,
	JWT_BAD_AUDIENCE,
	JWT_NO_USER,		/* the user claim is missing or not a usable name */
	JWT_INACTIVE,		/* introspection (introspect.h): "active" is not true */
	JWT_RC__COUNT,
};

struct jwt_policy {
	const char *issuer;	/* required: iss must equal it */
	const char *audience;	/* required: aud (string or array) must hold it */
	const char *user_claim;	/* NULL: "email" */
	long leeway;		/* seconds; 0: JWT_LEEWAY_DEFAULT */
};

struct jwt_result {
	char user[JWT_USER_MAX + 1];
	time_t exp;		/* for a cache: valid until then */
};

/* Parses a JWKS document {"keys":[...]}: RSA keys (n, e) and EC P-256
 * keys (crv, x, y); keys for other types, curves or "use" than "sig"
 * are skipped, a malformed key of a known type is an error.  Returns a
 * new set owned by the caller (jwt_keys_free), or NULL with *why_r. */
struct jwt_keys *jwt_keys_parse(const char *json, size_t len, const char **why_r);
/* NULL-safe; sets *kp = NULL. */
void jwt_keys_free(struct jwt_keys **kp);
/* Number of usable keys parsed. */
size_t jwt_keys_count(const struct jwt_keys *k);

/* Verifies token[0..n) at time now.  JWT_OK fills *r; any other result
 * sets *why_r to a static reason naming what failed (never the token). */
enum jwt_rc jwt_verify(const struct jwt_keys *k, const struct jwt_policy *p, const char *token,
		       size_t n, time_t now, struct jwt_result *r, const char **why_r);
/* "ok", "malformed", "bad_alg", ... (tests and logs). */
const char *jwt_rc_name(enum jwt_rc rc);

/* jwk.c, for jwt.c: the key for kid (NULL: the only key of the type)
 * of type kty ("RSA" or "EC"); borrowed, NULL when none. */
struct evp_pkey_st;
struct evp_pkey_st *jwt_keys_find(const struct jwt_keys *k, const char *kid, const char *kty);

#endif
