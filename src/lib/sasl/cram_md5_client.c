/* cram_md5_client.c - CRAM-MD5 (RFC 2195), client side. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include <openssl/hmac.h>

#include "util/buf.h"

struct cram_client {
	bool answered;
};

int
sasl_cram_md5_client_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct cram_client));
	return s->state != NULL ? 0 : -1;
}

void
sasl_cram_md5_client_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

/* RFC 2195 section 2: "The data encoded in the second ready response
 * contains the user name, a space, and a digest. ... the digest is
 * computed by applying the keyed MD5 algorithm from [KEYED-MD5] where
 * the key is a shared secret and the digested text is the timestamp". */
enum sasl_rc
sasl_cram_md5_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			  struct buf *out, const char **why_r)
{
	struct cram_client *st = s->state;
	if (st->answered) {
		*why_r = "CRAM-MD5: challenge after the response was sent";
		return SASL_BADSYNTAX;
	}
	if (in == NULL || inlen == 0) {
		*why_r = "CRAM-MD5: empty challenge";
		return SASL_BADSYNTAX;
	}
	if (s->authcid[0] == '\0' || strlen(s->authcid) > SASL_NAME_MAX
	    || strlen(s->password) > SASL_PASS_MAX) {
		*why_r = "CRAM-MD5: empty or too long user name or password";
		return SASL_FAIL;
	}
	st->answered = true;
	uint8_t md[16];
	unsigned mdlen = 0;
	if (HMAC(EVP_md5(), s->password, (int)strlen(s->password), in, inlen, md, &mdlen) == NULL
	    || mdlen != sizeof md) {
		*why_r = "CRAM-MD5: HMAC failed";
		return SASL_TEMPFAIL;
	}
	int rc = buf_addstr(out, s->authcid);
	rc = rc == BUF_OK ? buf_addch(out, ' ') : rc;
	for (size_t i = 0; i < sizeof md && rc == BUF_OK; i++)
		rc = buf_printf(out, "%02x", md[i]);
	OPENSSL_cleanse(md, sizeof md);
	if (rc != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}
