/* introspect.h - reading an OAuth 2.0 token introspection answer (RFC
 * 7662 section 2.2) as an OAUTHBEARER/XOAUTH2 token verdict.  Pure: no
 * I/O, no clock, no global state (the HTTP request is the auth
 * process's, src/store/store_oauth_http.c).
 *
 * The answer is a JSON object; "active" (REQUIRED) must be true; then
 * the claims as for a JWT (oauth/claims.h): iss and aud only when the
 * policy names them, exp and nbf when present (with the policy's
 * leeway), the user from the policy's claim or else "username". */
#ifndef POSTERN_OAUTH_INTROSPECT_H
#define POSTERN_OAUTH_INTROSPECT_H

#include <stddef.h>
#include <time.h>

#include "oauth/jwt.h"

/* Longest answer read: a token's metadata is a few hundred bytes; 64 KiB
 * leaves room for generous scopes and custom claims. */
#define INTROSPECT_BODY_MAX 65536

/* Judges body[0..n) at time now.  JWT_OK fills *r (r->exp 0: the answer
 * had no exp); JWT_MALFORMED for anything but a JSON object with a
 * boolean "active"; JWT_INACTIVE when active is false; else the claims'
 * result.  *why_r is a static reason on every result but JWT_OK. */
enum jwt_rc introspect_parse(const char *body, size_t n, const struct jwt_policy *p, time_t now,
			     struct jwt_result *r, const char **why_r);

#endif
