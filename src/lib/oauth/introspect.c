/* introspect.c - an RFC 7662 introspection answer as a verdict
 * (introspect.h).  JSON through jansson, duplicates refused as in jwt.c:
 * two "active" members must not mean whichever a reader picks. */
#include "oauth/introspect.h"

#include <string.h>

#include "oauth/claims.h"

enum jwt_rc
introspect_parse(const char *body, size_t n, const struct jwt_policy *p, time_t now,
		 struct jwt_result *r, const char **why_r)
{
	memset(r, 0, sizeof *r);
	json_t *j = n > 0 && n <= INTROSPECT_BODY_MAX
			    ? json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
	enum jwt_rc rc;
	const json_t *active = json_object_get(j, "active");
	if (!json_is_object(j) || !json_is_boolean(active)) {
		/* RFC 7662 2.2: "active" is REQUIRED and a boolean. */
		*why_r = "introspection answer is not a JSON object with a boolean active";
		rc = JWT_MALFORMED;
	} else if (!json_is_true(active)) {
		*why_r = "introspection: token is not active";
		rc = JWT_INACTIVE;
	} else {
		rc = oauth_claims_check(j, p, now, CLAIMS_INTROSPECTION, r, why_r);
	}
	json_decref(j);
	return rc;
}
