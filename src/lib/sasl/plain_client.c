/* plain_client.c - PLAIN (RFC 4616), client side: one message,
 * [authzid] NUL authcid NUL passwd, then wait for the verdict. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include "util/buf.h"

enum { PLAIN_C_START, PLAIN_C_SENT };

struct plain_client {
	int st;
};

int
sasl_plain_client_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct plain_client));
	return s->state != NULL ? 0 : -1;
}

void
sasl_plain_client_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

static enum sasl_rc
plain_client_message(struct sasl_sess *s, struct buf *out, const char **why_r)
{
	const char *z = s->authzid != NULL ? s->authzid : "";
	size_t nlen = strlen(s->authcid), plen = strlen(s->password);
	/* RFC 4616 section 2: authcid and passwd are 1*SAFE (non-empty) and
	 * at most 255 octets each as the server sees them; no NUL inside,
	 * which strings cannot hold anyway. */
	if (nlen == 0 || plen == 0) {
		*why_r = "empty user name or password";
		return SASL_FAIL;
	}
	if (nlen > SASL_NAME_MAX || strlen(z) > SASL_NAME_MAX || plen > SASL_PASS_MAX) {
		*why_r = "user name or password too long";
		return SASL_FAIL;
	}
	if (buf_addstr(out, z) != BUF_OK || buf_addch(out, 0) != BUF_OK
	    || buf_addstr(out, s->authcid) != BUF_OK || buf_addch(out, 0) != BUF_OK
	    || buf_addstr(out, s->password) != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}

enum sasl_rc
sasl_plain_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct plain_client *st = s->state;
	if (st->st == PLAIN_C_START) {
		/* RFC 4954 section 4: without an initial response the server
		 * sends an empty challenge; anything else is not PLAIN. */
		if (in != NULL && inlen != 0) {
			*why_r = "PLAIN: unexpected non-empty challenge";
			return SASL_BADSYNTAX;
		}
		st->st = PLAIN_C_SENT;
		return plain_client_message(s, out, why_r);
	}
	*why_r = "PLAIN: challenge after the message was sent";
	return SASL_BADSYNTAX;
}
