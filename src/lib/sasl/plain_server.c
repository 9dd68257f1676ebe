/* plain_server.c - PLAIN (RFC 4616), server side. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include "util/buf.h"

enum { PLAIN_S_START, PLAIN_S_WAIT_MSG, PLAIN_S_WAIT_CRED };

struct plain_server {
	int st;
};

int
sasl_plain_server_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct plain_server));
	return s->state != NULL ? 0 : -1;
}

void
sasl_plain_server_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

/* RFC 4616 section 2:
 *	message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 * exactly two NULs; authcid and passwd non-empty, at most 255 octets
 * (ours: SASL_NAME_MAX / SASL_PASS_MAX). */
static enum sasl_rc
plain_server_parse(struct sasl_sess *s, const uint8_t *in, size_t n, const char **why_r)
{
	const uint8_t *nul1 = memchr(in, '\0', n);
	const uint8_t *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - in)) : NULL;
	if (nul2 == NULL) {
		*why_r = "PLAIN: message needs two NUL separators";
		return SASL_BADSYNTAX;
	}
	const uint8_t *user = nul1 + 1, *pass = nul2 + 1;
	size_t zlen = (size_t)(nul1 - in), ulen = (size_t)(nul2 - user);
	size_t plen = n - (size_t)(pass - in);
	if (memchr(pass, '\0', plen) != NULL) {
		*why_r = "PLAIN: NUL inside the password";
		return SASL_BADSYNTAX;
	}
	if (zlen > SASL_NAME_MAX || !sasl_saslprep_utf8_valid(in, zlen)) {
		*why_r = "PLAIN: bad authorization identity";
		return SASL_BADSYNTAX;
	}
	/* "The server MUST ... prepare authcid and passwd with SASLprep." */
	if (sasl_saslprep_span(user, ulen, SASL_NAME_MAX, &s->authcid, why_r) < 0
	    || sasl_saslprep_span(pass, plen, SASL_PASS_MAX, &s->password, why_r) < 0)
		return SASL_BADSYNTAX;
	enum sasl_rc rc = sasl_sess_check_authzid(s, in, zlen, why_r);
	if (rc != SASL_DONE)
		return rc;
	return sasl_sess_need_cred(s, SASL_CRED_PASSWORD, s->password);
}

/* Shared with LOGIN: the store's verdict on a plaintext password. */
enum sasl_rc
sasl_plain_server_verdict(struct sasl_sess *s, const char **why_r)
{
	str_wipe_free(&s->password);
	switch (s->cred.status) {
	case SASL_CRED_OK:
		return SASL_DONE;
	case SASL_CRED_TEMPFAIL:
		*why_r = "credential store unavailable";
		return SASL_TEMPFAIL;
	case SASL_CRED_NOUSER:
		*why_r = "unknown user";
		return SASL_FAIL;
	case SASL_CRED_NOSECRET:
		*why_r = "user has no password";
		return SASL_FAIL;
	case SASL_CRED_BADPASS:
	default:
		*why_r = "wrong password";
		return SASL_FAIL;
	}
}

enum sasl_rc
sasl_plain_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct plain_server *st = s->state;
	switch (st->st) {
	case PLAIN_S_START:
	case PLAIN_S_WAIT_MSG:
		if (in == NULL && st->st == PLAIN_S_START) {
			/* RFC 4954 section 4: no initial response, so an
			 * empty challenge ("334 "). */
			st->st = PLAIN_S_WAIT_MSG;
			return SASL_MORE;
		}
		if (in == NULL) {
			*why_r = "PLAIN: no message";
			return SASL_BADSYNTAX;
		}
		st->st = PLAIN_S_WAIT_CRED;
		return plain_server_parse(s, in, inlen, why_r);
	default:
		return sasl_plain_server_verdict(s, why_r);
	}
}
