/* claims.h - the claims check that a signed JWT (jwt.c) and an RFC 7662
 * introspection answer (introspect.c) share: iss, aud, exp, nbf and the
 * user, on a jansson object.  Internal to src/lib/oauth. */
#ifndef POSTERN_OAUTH_CLAIMS_H
#define POSTERN_OAUTH_CLAIMS_H

#include <jansson.h>

#include "oauth/jwt.h"

/* Introspection (RFC 7662 section 2.2): iss, aud and exp are OPTIONAL
 * members, so they are checked only when present or configured, and
 * the user may come from "username" when the configured claim is absent. */
#define CLAIMS_INTROSPECTION 0x1u

/* Checks the claims object c against p at time now (flags above; 0 for
 * a JWT, where iss, aud and exp are required).  JWT_OK fills *r (r->exp
 * is 0 when an introspection answer had no exp); any other result sets
 * *why_r to a static reason. */
enum jwt_rc oauth_claims_check(const json_t *c, const struct jwt_policy *p, time_t now,
			       unsigned flags, struct jwt_result *r, const char **why_r);

#endif
