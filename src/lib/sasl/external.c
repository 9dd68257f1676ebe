/* external.c - EXTERNAL (RFC 4422 appendix A), both sides.
 *
 * The identity is established outside SASL: here by a TLS client
 * certificate that the network process verified and mapped to a user
 * (tls_client_map).  The one message is the authorization identity,
 * possibly empty ("AUTH EXTERNAL =").  The server knows the user from
 * sasl_server_params.external_user; without one EXTERNAL fails (it is
 * advertised only where there is one, so this is a client that did not
 * look). */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include "util/buf.h"

enum { EXTERNAL_START, EXTERNAL_WAIT, EXTERNAL_SENT };

struct external_state {
	int st;
};

static int
external_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct external_state));
	return s->state != NULL ? 0 : -1;
}

int
sasl_external_client_start(struct sasl_sess *s)
{
	return external_start(s);
}

int
sasl_external_server_start(struct sasl_sess *s)
{
	return external_start(s);
}

void
sasl_external_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

/* RFC 4422 appendix A.1: "The client sends the server an initial
 * response ... that contains the authorization identity" - empty to
 * act as the identity the certificate gives. */
enum sasl_rc
sasl_external_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			  struct buf *out, const char **why_r)
{
	struct external_state *st = s->state;
	if (st->st != EXTERNAL_START || (in != NULL && inlen != 0)) {
		*why_r = "EXTERNAL: unexpected challenge";
		return SASL_BADSYNTAX;
	}
	st->st = EXTERNAL_SENT;
	const char *z = s->authzid != NULL ? s->authzid : "";
	if (strlen(z) > SASL_NAME_MAX) {
		*why_r = "EXTERNAL: authorization identity too long";
		return SASL_FAIL;
	}
	if (buf_addstr(out, z) != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}

/* RFC 4422 appendix A.1: "If the client's message is non-empty, the
 * server ... verifies the client's authorization identity"; we let
 * nobody act for another (sasl_sess_check_authzid). */
enum sasl_rc
sasl_external_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			  struct buf *out, const char **why_r)
{
	struct external_state *st = s->state;
	if (st->st == EXTERNAL_START && in == NULL) {
		st->st = EXTERNAL_WAIT;	/* RFC 4954 section 4: empty challenge */
		return SASL_MORE;
	}
	if (in == NULL || memchr(in, '\0', inlen) != NULL || !sasl_saslprep_utf8_valid(in, inlen)) {
		*why_r = "EXTERNAL: malformed authorization identity";
		return SASL_BADSYNTAX;
	}
	if (s->external_user == NULL) {
		*why_r = "EXTERNAL: no verified and mapped client certificate";
		return SASL_FAIL;
	}
	s->authcid = str_dup(s->external_user);
	if (s->authcid == NULL) {
		*why_r = "out of memory";
		return SASL_TEMPFAIL;
	}
	(void)out;
	return sasl_sess_check_authzid(s, in, inlen, why_r);
}
