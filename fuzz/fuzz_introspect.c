/* fuzz_introspect.c - the RFC 7662 introspection answer reader
 * (lib/oauth/introspect.c), which reads what an authorization server
 * sends to the auth process.  The first byte picks the policy: issuer
 * and audience configured, or neither (then iss and aud are not
 * looked at), and the user claim "email" or "sub"; the rest is the
 * answer.  Properties: an accepted answer was active, names a user and
 * has not expired; a refusal always says why and names no user. */
#include "fuzz.h"

#include "oauth/introspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1700000000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = fuzz_copy(data + 1, size - 1, 0);
	struct jwt_policy p = { NULL, NULL, NULL, 0 };
	if (data[0] & 1) {
		p.issuer = "https://issuer.example";
		p.audience = "smtp.example.test";
	}
	if (data[0] & 2)
		p.user_claim = "sub";
	struct jwt_result r;
	const char *why = NULL;
	enum jwt_rc rc = introspect_parse(text, size - 1, &p, FUZZ_NOW, &r, &why);
	if (rc == JWT_OK) {
		FUZZ_CHECK(r.user[0] != '\0' && strlen(r.user) <= JWT_USER_MAX);
		FUZZ_CHECK(r.exp == 0 || r.exp + JWT_LEEWAY_DEFAULT + 1 >= FUZZ_NOW);
		FUZZ_CHECK(memmem(text, size - 1, "true", 4) != NULL);
	} else {
		FUZZ_CHECK(why != NULL && r.user[0] == '\0');
	}
	free(text);
	return 0;
}
