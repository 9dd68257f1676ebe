/* oauth_common.c - the parts OAUTHBEARER (RFC 7628) and XOAUTH2 share.
 * The error status is JSON built with jansson, never by hand: the
 * store's fields are copied in as strings and jansson escapes them. */
#include "sasl/oauth_common.h"

#include <jansson.h>

int
sasl_oauth_start(struct sasl_sess *s, bool xoauth2)
{
	struct sasl_oauth *st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	st->xoauth2 = xoauth2;
	s->state = st;
	return 0;
}

int
sasl_oauthbearer_client_start(struct sasl_sess *s)
{
	return sasl_oauth_start(s, false);
}

int
sasl_oauthbearer_server_start(struct sasl_sess *s)
{
	return sasl_oauth_start(s, false);
}

int
sasl_xoauth2_client_start(struct sasl_sess *s)
{
	return sasl_oauth_start(s, true);
}

int
sasl_xoauth2_server_start(struct sasl_sess *s)
{
	return sasl_oauth_start(s, true);
}

void
sasl_oauth_free(struct sasl_sess *s)
{
	struct sasl_oauth *st = s->state;
	if (st != NULL) {
		str_wipe_free(&st->token);
		free(st);
	}
	s->state = NULL;
}

static bool
oauth_tokchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	       || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool
sasl_oauth_b64token(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && oauth_tokchar(p[i]))
		i++;
	if (i == 0)
		return false;
	while (i < n && p[i] == '=')
		i++;
	return i == n;
}

int
sasl_oauth_bearer(struct span v, struct span *token_r, const char **why_r)
{
	if (!span_istarts(v, "Bearer ")) {
		*why_r = "auth value is not \"Bearer\" and a token";
		return -1;
	}
	span_skip(&v, 6);
	while (v.n > 0 && v.p[0] == ' ')
		span_skip(&v, 1);
	if (!sasl_oauth_b64token(v.p, v.n)) {
		*why_r = "the bearer token has characters RFC 6750 does not allow";
		return -1;
	}
	*token_r = v;
	return 0;
}

enum sasl_rc
sasl_oauth_server_ask(struct sasl_sess *s, struct span token, const char **why_r)
{
	struct sasl_oauth *st = s->state;
	if (s->authcid == NULL)
		s->authcid = strdup("");
	st->token = strndup(token.p, token.n);
	if (s->authcid == NULL || st->token == NULL) {
		*why_r = "out of memory";
		return SASL_TEMPFAIL;
	}
	st->st = OAUTH_WAIT_CRED;
	return sasl_sess_need_cred(s, SASL_CRED_OAUTH_TOKEN, st->token);
}

/* The answer's string field, "" when it is not NUL-terminated. */
static const char *
field(const char *p, size_t size)
{
	return memchr(p, '\0', size) != NULL ? p : "";
}

static const char *
nonempty(const char *p, size_t size)
{
	const char *f = field(p, size);
	return f[0] != '\0' ? f : NULL;
}

/* RFC 7628 section 3.2.2 (OAUTHBEARER), or Gmail's XOAUTH2 form
 * {"status":"400","schemes":"Bearer","scope":...}.  "s*" leaves out a
 * member whose value is NULL. */
static int
oauth_error_json(const struct sasl_sess *s, struct buf *out)
{
	const struct sasl_oauth *st = s->state;
	const struct sasl_cred_answer *a = &s->cred;
	const char *scope = nonempty(a->oauth_scope, sizeof a->oauth_scope);
	json_t *j;
	if (st->xoauth2) {
		j = json_pack("{s:s, s:s, s:s*}", "status", "400", "schemes", "Bearer",
			      "scope", scope);
	} else {
		const char *status = nonempty(a->oauth_status, sizeof a->oauth_status);
		j = json_pack("{s:s, s:s*, s:s*}", "status", status ? status : "invalid_token",
			      "scope", scope, "openid-configuration",
			      nonempty(a->oauth_openid_config, sizeof a->oauth_openid_config));
	}
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int rc = text != NULL ? buf_addstr(out, text) : -1;
	free(text);
	return rc == BUF_OK ? 0 : -1;
}

/* The store's OK is not enough: the user the message names must be the
 * user the token was issued to (a token for A never logs in B). */
static enum sasl_rc
oauth_accept(struct sasl_sess *s, const char **why_r)
{
	const struct sasl_cred_answer *a = &s->cred;
	const char *user = field(a->token_user, sizeof a->token_user);
	if (user[0] == '\0') {
		*why_r = "the credential store named no user for the token";
		return SASL_TEMPFAIL;
	}
	if (s->authcid[0] != '\0' && strcmp(s->authcid, user) != 0)
		return SASL_FAIL;
	char *copy = strdup(user);
	if (copy == NULL) {
		*why_r = "out of memory";
		return SASL_TEMPFAIL;
	}
	str_wipe_free(&s->authcid);
	s->authcid = copy;
	return SASL_DONE;
}

/* DONE with s->authcid = the token's user; TEMPFAIL; or MORE with the
 * error challenge in out. */
static enum sasl_rc
oauth_server_verdict(struct sasl_sess *s, struct buf *out, const char **why_r)
{
	struct sasl_oauth *st = s->state;
	str_wipe_free(&st->token);
	enum sasl_rc rc = SASL_FAIL;
	switch (s->cred.status) {
	case SASL_CRED_OK:
		rc = oauth_accept(s, why_r);
		st->fail_why = "the token was issued to another user";
		break;
	case SASL_CRED_TEMPFAIL:
		*why_r = "token verifier unavailable";
		return SASL_TEMPFAIL;
	case SASL_CRED_NOUSER:
	case SASL_CRED_NOSECRET:
		st->fail_why = "unknown user";
		break;
	case SASL_CRED_BADPASS:
	default:
		st->fail_why = "invalid token";
		break;
	}
	if (rc != SASL_FAIL)
		return rc;
	/* RFC 7628 section 3.2.2: failure is an error challenge first. */
	if (oauth_error_json(s, out) < 0) {
		*why_r = "cannot build the error status";
		return SASL_TEMPFAIL;
	}
	st->st = OAUTH_WAIT_DUMMY;
	return SASL_MORE;
}

/* The client's answer to the error challenge ends the exchange: FAIL
 * (RFC 7628 3.2.3: the server "MUST fail the authentication").  The
 * answer is %x01 (OAUTHBEARER) or an empty line (XOAUTH2), and either
 * is taken for either mechanism: msmtp 1.8.23 answers OAUTHBEARER's
 * error with an empty line, and a 501 for that would hide the refusal. */
static enum sasl_rc
oauth_server_dummy(struct sasl_sess *s, const uint8_t *in, size_t n, const char **why_r)
{
	const struct sasl_oauth *st = s->state;
	bool ok = n == 0 || (n == 1 && in[0] == 0x01);
	*why_r = ok ? st->fail_why : "unexpected answer to the error status";
	return ok ? SASL_FAIL : SASL_BADSYNTAX;
}

enum sasl_rc
sasl_oauth_server_step(struct sasl_sess *s, sasl_oauth_parse_fn *parse,
		       const uint8_t *in, size_t inlen, struct buf *out, const char **why_r)
{
	struct sasl_oauth *st = s->state;
	switch (st->st) {
	case OAUTH_START:
	case OAUTH_WAIT_MSG:
		if (in == NULL && st->st == OAUTH_START) {
			/* RFC 4954 section 4: no initial response, so an
			 * empty challenge ("334 "). */
			st->st = OAUTH_WAIT_MSG;
			return SASL_MORE;
		}
		if (in == NULL) {
			*why_r = "no message";
			return SASL_BADSYNTAX;
		}
		return parse(s, in, inlen, why_r);
	case OAUTH_WAIT_CRED:
		return oauth_server_verdict(s, out, why_r);
	default:
		return oauth_server_dummy(s, in, in != NULL ? inlen : 0, why_r);
	}
}

/* Checks user and token before anything is sent. */
static int
oauth_client_check(const struct sasl_sess *s, bool need_user, const char **why_r)
{
	size_t ulen = strlen(s->authcid);
	if (need_user && ulen == 0) {
		*why_r = "no user name to send with the token";
		return -1;
	}
	/* %x01 separates the pairs: a user name must not hold one. */
	if (ulen > SASL_NAME_MAX || memchr(s->authcid, 0x01, ulen) != NULL) {
		*why_r = "the user name cannot be sent in a token message";
		return -1;
	}
	if (!sasl_oauth_b64token(s->password, strlen(s->password))) {
		*why_r = "the access token is empty or has characters a bearer token cannot hold";
		return -1;
	}
	return 0;
}

static enum sasl_rc
oauth_client_message(struct sasl_sess *s, const struct sasl_oauth_client_form *f,
		     struct buf *out, const char **why_r)
{
	if (oauth_client_check(s, f->need_user, why_r) < 0)
		return SASL_FAIL;
	int rc = f->head(s, out);
	if (rc == BUF_OK)
		rc = buf_addstr(out, "auth=Bearer ");
	if (rc == BUF_OK)
		rc = buf_addstr(out, s->password);
	if (rc == BUF_OK)
		rc = buf_addstr(out, "\x01\x01");
	if (rc != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}

enum sasl_rc
sasl_oauth_client_step(struct sasl_sess *s, const struct sasl_oauth_client_form *f,
		       const uint8_t *in, size_t inlen, struct buf *out, const char **why_r)
{
	struct sasl_oauth *st = s->state;
	if (st->st == OAUTH_START) {
		/* RFC 4954: without an initial response, an empty 334 first. */
		if (in != NULL && inlen != 0) {
			*why_r = "unexpected non-empty challenge before the token was sent";
			return SASL_BADSYNTAX;
		}
		st->st = OAUTH_SENT;
		return oauth_client_message(s, f, out, why_r);
	}
	if (st->st != OAUTH_SENT) {
		*why_r = "challenge after the answer to the error status";
		return SASL_BADSYNTAX;
	}
	str_wipe_free(&s->peer_error);
	s->peer_error = strndup(in != NULL ? (const char *)in : "", inlen);	/* stops at a NUL */
	/* The caller shows it: no control characters from the peer. */
	for (char *p = s->peer_error; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	st->st = OAUTH_ANSWERED;
	if (f->answer >= 0 && buf_addch(out, (char)f->answer) != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}
