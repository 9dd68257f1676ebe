/* oauthbearer_client.c - OAUTHBEARER (RFC 7628), client side:
 *	"n,a=" user ",\x01auth=Bearer " token "\x01\x01"
 * (no channel binding; the user escaped as an RFC 5801 saslname).  A
 * challenge after that is the server's JSON error status: we keep it
 * and answer %x01, after which the server fails the exchange. */
#include "sasl/oauth_common.h"
#include "sasl/scram_common.h"

static int
oauthbearer_head(struct sasl_sess *s, struct buf *out)
{
	int rc = buf_addstr(out, "n,");
	if (rc == BUF_OK && s->authcid[0] != '\0') {
		rc = buf_addstr(out, "a=");
		if (rc == BUF_OK)
			rc = sasl_scram_name_encode(out, s->authcid);
	}
	return rc == BUF_OK ? buf_addstr(out, ",\x01") : rc;
}

enum sasl_rc
sasl_oauthbearer_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			     struct buf *out, const char **why_r)
{
	static const struct sasl_oauth_client_form form = { oauthbearer_head, false, 0x01 };
	return sasl_oauth_client_step(s, &form, in, inlen, out, why_r);
}
