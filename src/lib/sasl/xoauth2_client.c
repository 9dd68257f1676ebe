/* xoauth2_client.c - XOAUTH2, client side:
 *	"user=" user "\x01auth=Bearer " token "\x01\x01"
 * A challenge after that is the server's base64 JSON error; we keep it
 * and answer with an empty line, after which the server fails. */
#include "sasl/oauth_common.h"

static int
xoauth2_head(struct sasl_sess *s, struct buf *out)
{
	int rc = buf_addstr(out, "user=");
	if (rc == BUF_OK)
		rc = buf_addstr(out, s->authcid);
	return rc == BUF_OK ? buf_addch(out, '\x01') : rc;
}

enum sasl_rc
sasl_xoauth2_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			 struct buf *out, const char **why_r)
{
	static const struct sasl_oauth_client_form form = { xoauth2_head, true, -1 };
	return sasl_oauth_client_step(s, &form, in, inlen, out, why_r);
}
