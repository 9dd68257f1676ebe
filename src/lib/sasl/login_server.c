/* login_server.c - LOGIN, server side: "Username:", "Password:", then the
 * store's verdict.  No RFC defines LOGIN; draft-murchison-sasl-login
 * describes what clients expect. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include "util/buf.h"

enum { LOGIN_S_START, LOGIN_S_WAIT_USER, LOGIN_S_WAIT_PASS, LOGIN_S_WAIT_CRED };

struct login_server {
	int st;
};

int
sasl_login_server_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct login_server));
	return s->state != NULL ? 0 : -1;
}

void
sasl_login_server_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

static enum sasl_rc
login_server_prompt(struct buf *out, const char *prompt, const char **why_r)
{
	if (buf_addstr(out, prompt) != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}

enum sasl_rc
sasl_login_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct login_server *st = s->state;
	if (st->st == LOGIN_S_START && in == NULL) {
		st->st = LOGIN_S_WAIT_USER;
		return login_server_prompt(out, "Username:", why_r);
	}
	if (st->st == LOGIN_S_WAIT_CRED)
		return sasl_plain_server_verdict(s, why_r);
	if (in == NULL) {
		*why_r = "LOGIN: no message";
		return SASL_BADSYNTAX;
	}
	if (st->st == LOGIN_S_START || st->st == LOGIN_S_WAIT_USER) {
		/* A message in the first step is the user name given as
		 * initial response (Python smtplib, swaks LOGIN-INITIAL). */
		if (sasl_saslprep_span(in, inlen, SASL_NAME_MAX, &s->authcid, why_r) < 0)
			return SASL_BADSYNTAX;
		st->st = LOGIN_S_WAIT_PASS;
		return login_server_prompt(out, "Password:", why_r);
	}
	if (sasl_saslprep_span(in, inlen, SASL_PASS_MAX, &s->password, why_r) < 0)
		return SASL_BADSYNTAX;
	st->st = LOGIN_S_WAIT_CRED;
	return sasl_sess_need_cred(s, SASL_CRED_PASSWORD, s->password);
}
