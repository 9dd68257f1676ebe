/* claims.c - iss, aud, exp, nbf and the user of a token's claims, for a
 * signed JWT (RFC 7519 section 4.1) and an introspection answer (RFC
 * 7662 section 2.2) alike (claims.h). */
#include "oauth/claims.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool
claims_aud_has(const json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	size_t i;
	const json_t *v;
	json_array_foreach(aud, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

/* A user name: 1..255 bytes, no control characters.  (jansson refuses
 * \u0000 in strings unless asked, so the length is strlen's too.) */
static bool
claims_user_ok(const json_t *u)
{
	const char *s = json_string_value(u);
	size_t n = json_string_length(u);
	if (s == NULL || n == 0 || n > JWT_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* A NumericDate as time_t; clamped, since a double out of time_t's
 * range does not convert (and no token lives past year 10000). */
static time_t
claims_time(const json_t *v)
{
	double d = json_number_value(v);
	if (!(d > 0))
		return 0;
	return d > 253402300799.0 ? (time_t)253402300799 : (time_t)d;
}

/* iss and aud: required for a JWT; for introspection, checked when the
 * policy names them (then a missing member fails too). */
static enum jwt_rc
claims_iss_aud(const json_t *c, const struct jwt_policy *p, bool optional, const char **why_r)
{
	const char *iss = json_string_value(json_object_get(c, "iss"));
	if ((!optional || p->issuer != NULL)
	    && (iss == NULL || p->issuer == NULL || strcmp(iss, p->issuer) != 0)) {
		*why_r = "iss is not the configured issuer";
		return JWT_BAD_ISSUER;
	}
	if ((!optional || p->audience != NULL)
	    && (p->audience == NULL || !claims_aud_has(json_object_get(c, "aud"), p->audience))) {
		*why_r = "aud does not name this server";
		return JWT_BAD_AUDIENCE;
	}
	return JWT_OK;
}

enum jwt_rc
oauth_claims_check(const json_t *c, const struct jwt_policy *p, time_t now, unsigned flags,
		   struct jwt_result *r, const char **why_r)
{
	bool intro = (flags & CLAIMS_INTROSPECTION) != 0;
	long leeway = p->leeway > 0 ? p->leeway : JWT_LEEWAY_DEFAULT;
	const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
	const json_t *user = json_object_get(c, p->user_claim ? p->user_claim : "email");
	double t = (double)now;
	enum jwt_rc rc = claims_iss_aud(c, p, intro, why_r);
	if (rc != JWT_OK)
		return rc;
	/* A JWT without an end would be good forever; an introspection
	 * answer without exp is good now (the server asked just now). */
	if ((!intro || exp != NULL)
	    && (!json_is_number(exp) || t > json_number_value(exp) + (double)leeway)) {
		*why_r = json_is_number(exp) ? "token expired" : "token has no exp";
		return JWT_EXPIRED;
	}
	if (nbf != NULL && (!json_is_number(nbf) || t + (double)leeway < json_number_value(nbf))) {
		*why_r = "token not valid yet (nbf)";
		return JWT_NOT_YET_VALID;
	}
	if (intro && user == NULL)
		user = json_object_get(c, "username");
	if (!claims_user_ok(user)) {
		*why_r = "the user claim is missing or not a usable name";
		return JWT_NO_USER;
	}
	(void)snprintf(r->user, sizeof r->user, "%s", json_string_value(user));
	r->exp = exp != NULL ? claims_time(exp) : 0;
	return JWT_OK;
}
