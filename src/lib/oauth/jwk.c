/* jwk.c - JSON Web Keys (RFC 7517/7518 section 6) into OpenSSL keys.
 * The JSON is read by jansson; numbers come as base64url big-endian
 * octets (RFC 7518 6.3.1, 6.2.1), turned into EVP_PKEYs through
 * OSSL_PARAM_BLD, so no deprecated low-level RSA/EC calls are needed. */
#include "oauth/jwt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "util/b64url.h"
#include "util/buf.h"

/* A JWKS has a handful of keys; more is a sign of a wrong file. */
#define JWK_MAX 32
#define JWK_KID_MAX 256
/* RSA moduli up to 8192 bits. */
#define JWK_NUM_MAX 1024

struct jwk {
	char kid[JWK_KID_MAX + 1];	/* "" when the key has none */
	bool has_kid;
	bool rsa;			/* else EC P-256 */
	EVP_PKEY *pkey;
};

struct jwt_keys {
	size_t n;
	struct jwk k[JWK_MAX];
};

/* Decodes member name of o (base64url) into out; 0 or -1. */
static int
jwk_octets(const json_t *o, const char *name, struct buf *out)
{
	const char *v = json_string_value(json_object_get(o, name));
	if (v == NULL || v[0] == '\0')
		return -1;
	return b64url_decode(out, v, strlen(v)) == 0 ? 0 : -1;
}

static EVP_PKEY *
jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
	    || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* RFC 7518 6.3.1: n and e; RS256 needs at least 2048 bits (7518 3.3). */
static EVP_PKEY *
jwk_rsa(const json_t *o, const char **why_r)
{
	struct buf n, e;
	buf_init(&n, JWK_NUM_MAX);
	buf_init(&e, 16);
	EVP_PKEY *pkey = NULL;
	*why_r = "JWKS: RSA key without valid n and e";
	if (jwk_octets(o, "n", &n) == 0 && jwk_octets(o, "e", &e) == 0) {
		BIGNUM *bn = BN_bin2bn(n.p, (int)n.len, NULL), *be = BN_bin2bn(e.p, (int)e.len, NULL);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		if (bn != NULL && be != NULL && bld != NULL
		    && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
		    && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
			pkey = jwk_fromdata("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
		BN_free(bn);
		BN_free(be);
		if (pkey != NULL && EVP_PKEY_get_bits(pkey) < 2048) {
			*why_r = "JWKS: RSA key shorter than 2048 bits";
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
	}
	buf_free(&n);
	buf_free(&e);
	return pkey;
}

/* RFC 7518 6.2.1: crv P-256, x and y of 32 octets each. */
static EVP_PKEY *
jwk_ec(const json_t *o, const char **why_r)
{
	struct buf pt;
	buf_init(&pt, 72);	/* room for the decoder's padding slack */
	EVP_PKEY *pkey = NULL;
	*why_r = "JWKS: EC key without 32-byte x and y";
	/* The uncompressed point: 0x04 || x || y. */
	if (buf_addch(&pt, 0x04) == BUF_OK && jwk_octets(o, "x", &pt) == 0 && pt.len == 33
	    && jwk_octets(o, "y", &pt) == 0 && pt.len == 65) {
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		if (bld != NULL
		    && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0)
		    && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt.p, pt.len))
			pkey = jwk_fromdata("EC", bld);
		OSSL_PARAM_BLD_free(bld);
		if (pkey == NULL)
			*why_r = "JWKS: EC point not on P-256";
	}
	buf_free(&pt);
	return pkey;
}

/* One member of "keys": 1 added, 0 skipped, -1 error. */
static int
jwk_add(struct jwt_keys *ks, const json_t *o, const char **why_r)
{
	const char *kty = json_string_value(json_object_get(o, "kty"));
	const char *use = json_string_value(json_object_get(o, "use"));
	const char *crv = json_string_value(json_object_get(o, "crv"));
	const json_t *kid = json_object_get(o, "kid");
	if (!json_is_object(o) || kty == NULL) {
		*why_r = "JWKS: a key is not an object with kty";
		return -1;
	}
	bool rsa = strcmp(kty, "RSA") == 0;
	bool ec = strcmp(kty, "EC") == 0 && crv != NULL && strcmp(crv, "P-256") == 0;
	if ((!rsa && !ec) || (use != NULL && strcmp(use, "sig") != 0))
		return 0;	/* a key for something else: not ours to judge */
	if (ks->n == JWK_MAX) {
		*why_r = "JWKS: too many keys";
		return -1;
	}
	struct jwk *k = &ks->k[ks->n];
	if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) > JWK_KID_MAX)) {
		*why_r = "JWKS: kid is not a string of at most 256 bytes";
		return -1;
	}
	k->has_kid = kid != NULL;
	(void)snprintf(k->kid, sizeof k->kid, "%s", kid != NULL ? json_string_value(kid) : "");
	k->rsa = rsa;
	k->pkey = rsa ? jwk_rsa(o, why_r) : jwk_ec(o, why_r);
	if (k->pkey == NULL)
		return -1;
	ks->n++;
	return 1;
}

struct jwt_keys *
jwt_keys_parse(const char *json, size_t len, const char **why_r)
{
	json_error_t err;
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	const json_t *keys = json_object_get(doc, "keys");
	struct jwt_keys *ks = calloc(1, sizeof *ks);
	*why_r = "JWKS: not a JSON object with a \"keys\" array";
	bool ok = ks != NULL && json_is_array(keys);
	size_t i;
	const json_t *o;
	json_array_foreach(keys, i, o) {
		if (ok && jwk_add(ks, o, why_r) < 0)
			ok = false;
	}
	if (ok && ks->n == 0) {
		*why_r = "JWKS: no RSA or P-256 signing key";
		ok = false;
	}
	json_decref(doc);
	if (!ok)
		jwt_keys_free(&ks);
	return ks;
}

void
jwt_keys_free(struct jwt_keys **kp)
{
	struct jwt_keys *ks = *kp;
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->k[i].pkey);
	free(ks);
	*kp = NULL;
}

size_t
jwt_keys_count(const struct jwt_keys *k)
{
	return k->n;
}

struct evp_pkey_st *
jwt_keys_find(const struct jwt_keys *ks, const char *kid, const char *kty)
{
	bool rsa = strcmp(kty, "RSA") == 0;
	EVP_PKEY *found = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < ks->n; i++) {
		const struct jwk *k = &ks->k[i];
		if (k->rsa != rsa)
			continue;
		if (kid != NULL && k->has_kid && strcmp(k->kid, kid) == 0)
			return k->pkey;
		if (kid == NULL) {
			found = k->pkey;
			matches++;
		}
	}
	/* Without a kid only an unambiguous key will do. */
	return matches == 1 ? found : NULL;
}
