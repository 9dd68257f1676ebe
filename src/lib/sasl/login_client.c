/* login_client.c - LOGIN (draft-murchison-sasl-login), client side:
 * answer the first challenge with the user name, the second with the
 * password, whatever their text ("Username:" is only customary). */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include "util/buf.h"

enum { LOGIN_C_USER, LOGIN_C_PASS, LOGIN_C_SENT };

struct login_client {
	int st;
};

int
sasl_login_client_start(struct sasl_sess *s)
{
	s->state = calloc(1, sizeof(struct login_client));
	return s->state != NULL ? 0 : -1;
}

void
sasl_login_client_free(struct sasl_sess *s)
{
	free(s->state);
	s->state = NULL;
}

enum sasl_rc
sasl_login_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct login_client *st = s->state;
	const char *answer;
	size_t max;
	switch (st->st) {
	case LOGIN_C_USER:
		/* in == NULL: the caller sends the user name as initial
		 * response, which LOGIN servers accept (LOGIN-INITIAL). */
		answer = s->authcid;
		max = SASL_NAME_MAX;
		break;
	case LOGIN_C_PASS:
		answer = s->password;
		max = SASL_PASS_MAX;
		break;
	default:
		*why_r = "LOGIN: challenge after the password was sent";
		return SASL_BADSYNTAX;
	}
	if (answer[0] == '\0' || strlen(answer) > max) {
		*why_r = "LOGIN: empty or too long user name or password";
		return SASL_FAIL;
	}
	st->st++;
	if (buf_addstr(out, answer) != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}
