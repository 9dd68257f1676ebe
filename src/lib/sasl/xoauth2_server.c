/* xoauth2_server.c - XOAUTH2 (Google's pre-RFC 7628 form), server side.
 *
 *	message = "user=" user %x01 "auth=Bearer " token %x01 %x01
 * in that order and nothing else; a failure is a base64 JSON challenge
 * ({"status":"400",...}, as Gmail sends) that the client answers with
 * an empty line. */
#include "sasl/oauth_common.h"

static enum sasl_rc
xoauth2_parse(struct sasl_sess *s, const uint8_t *msg, size_t n, const char **why_r)
{
	struct span in = { (const char *)msg, n }, user, token;
	if (memchr(msg, '\0', n) != NULL || !span_istarts(in, "user=")) {
		*why_r = "XOAUTH2: message does not start with user=";
		return SASL_BADSYNTAX;
	}
	span_skip(&in, 5);
	long sep = span_chr(in, '\x01');
	if (sep <= 0) {
		*why_r = "XOAUTH2: empty or unterminated user";
		return SASL_BADSYNTAX;
	}
	user = (struct span){ in.p, (size_t)sep };
	span_skip(&in, (size_t)sep + 1);
	if (!span_istarts(in, "auth=") || in.n < 7 || in.p[in.n - 1] != '\x01'
	    || in.p[in.n - 2] != '\x01') {
		*why_r = "XOAUTH2: auth= missing or not ended by two %x01";
		return SASL_BADSYNTAX;
	}
	struct span auth = { in.p + 5, in.n - 7 };
	if (sasl_oauth_bearer(auth, &token, why_r) < 0)
		return SASL_BADSYNTAX;
	if (sasl_saslprep_span((const uint8_t *)user.p, user.n, SASL_NAME_MAX, &s->authcid,
			       why_r) < 0)
		return SASL_BADSYNTAX;
	return sasl_oauth_server_ask(s, token, why_r);
}

enum sasl_rc
sasl_xoauth2_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
                         struct buf *out, const char **why_r)
{
	return sasl_oauth_server_step(s, xoauth2_parse, in, inlen, out, why_r);
}
