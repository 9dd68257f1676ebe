/* fuzz_jwt.c - the JWT verifier (lib/oauth) and base64url.  The first
 * byte picks what the rest is: a JWKS document, a token checked against
 * a fixed JWKS (one P-256 key; corpus/jwt holds a token it signed, so
 * mutations reach the claims only where the fuzzer keeps the signature
 * valid, and the header and signature checks everywhere else), or
 * base64url text.  Properties: an accepted token names a user and has
 * not expired; a refusal always says why; base64url that decodes
 * re-encodes to itself. */
#include "fuzz.h"

#include "oauth/jwt.h"
#include "util/b64url.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_jwks[] =
	"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec1\","
	"\"x\":\"-6xhGNHpxqxNe1jWXQ7Gxs9wxHDRGNa82JDLCCC8sC4\","
	"\"y\":\"BTa2H-Z8dSAIAnqV2w6FBLhqgPRiVb84UhRSIE4-U1k\"}]}";
#define FUZZ_NOW 1700000000

static void
fuzz_token(const char *t, size_t n)
{
	static struct jwt_keys *keys;
	const char *why = NULL;
	if (keys == NULL)
		keys = jwt_keys_parse(fuzz_jwks, sizeof fuzz_jwks - 1, &why);
	FUZZ_CHECK(keys != NULL);
	struct jwt_policy p = { "https://issuer.example", "smtp.example.test", NULL, 0 };
	struct jwt_result r;
	enum jwt_rc rc = jwt_verify(keys, &p, t, n, FUZZ_NOW, &r, &why);
	if (rc == JWT_OK) {
		FUZZ_CHECK(r.user[0] != '\0');
		FUZZ_CHECK(r.exp + JWT_LEEWAY_DEFAULT + 1 >= FUZZ_NOW);
	} else {
		FUZZ_CHECK(why != NULL && r.user[0] == '\0');
	}
}

static void
fuzz_b64url(const char *t, size_t n)
{
	struct buf dec, enc;
	buf_init(&dec, n + 4);
	buf_init(&enc, n + 8);
	if (b64url_decode(&dec, t, n) == 0) {
		FUZZ_CHECK(b64url_encode(&enc, dec.p, dec.len) == BUF_OK);
		FUZZ_CHECK(enc.len == n && (n == 0 || memcmp(enc.p, t, n) == 0));
	}
	buf_free(&dec);
	buf_free(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = fuzz_copy(data + 1, size - 1, 0);
	const char *why = NULL;
	switch (data[0] % 3) {
	case 0: {
		struct jwt_keys *k = jwt_keys_parse(text, size - 1, &why);
		FUZZ_CHECK(k != NULL || why != NULL);
		FUZZ_CHECK(k == NULL || jwt_keys_count(k) > 0);
		jwt_keys_free(&k);
		break;
	}
	case 1:
		fuzz_token(text, size - 1);
		break;
	default:
		fuzz_b64url(text, size - 1);
		break;
	}
	free(text);
	return 0;
}
