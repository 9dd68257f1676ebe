/* sess.c - session life cycle and the checks every step goes through,
 * so that no mechanism can forget them: the message size cap, no step
 * after the end, credentials supplied before resuming. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include <openssl/rand.h>

#include "util/buf.h"

/* Copies the channel binding data (NULL: no TLS). */
static void
sess_take_cb(struct sasl_sess *s, const struct sasl_cb *cb)
{
	if (cb == NULL)
		return;
	s->cb = *cb;
	if (s->cb.end_point_len > sizeof s->cb.end_point)
		s->cb.end_point_len = 0;
	s->has_cb = true;
}

static struct sasl_sess *
sess_new(const struct sasl_mech *m, bool server)
{
	struct sasl_sess *s = calloc(1, sizeof *s);
	if (s != NULL) {
		s->mech = m;
		s->server = server;
	}
	return s;
}

struct sasl_sess *
sasl_client_new(const struct sasl_mech *m, const struct sasl_client_params *p)
{
	struct sasl_sess *s = sess_new(m, false);
	if (s == NULL)
		return NULL;
	s->authcid = str_dup(p->authcid != NULL ? p->authcid : "");
	s->password = str_dup(p->password != NULL ? p->password : "");
	if (p->authzid != NULL && p->authzid[0] != '\0')
		s->authzid = str_dup(p->authzid);
	if (s->authcid == NULL || s->password == NULL
	    || (p->authzid != NULL && p->authzid[0] != '\0' && s->authzid == NULL)
	    || m->client_start(s) < 0)
		sasl_sess_free(&s);
	return s;
}

struct sasl_sess *
sasl_server_new(const struct sasl_mech *m, const struct sasl_server_params *p)
{
	struct sasl_sess *s = sess_new(m, true);
	if (s == NULL)
		return NULL;
	const char *host = p != NULL && p->hostname != NULL ? p->hostname : "localhost";
	s->hostname = str_dup(host);
	s->fake_iter = p != NULL && p->fake_iterations != 0 ? p->fake_iterations
							     : SASL_SCRAM_FAKE_ITER_DEFAULT;
	bool key = p != NULL && p->fake_salt_key != NULL && p->fake_salt_key_len != 0;
	if (key && (s->fake_key = malloc(p->fake_salt_key_len)) != NULL) {
		memcpy(s->fake_key, p->fake_salt_key, p->fake_salt_key_len);
		s->fake_key_len = p->fake_salt_key_len;
	}
	if (p != NULL) {
		sess_take_cb(s, p->cb);
		s->plus_offered = p->plus_offered;
		if (p->external_user != NULL && p->external_user[0] != '\0'
		    && (s->external_user = str_dup(p->external_user)) == NULL)
			sasl_sess_free(&s);
		if (s == NULL)
			return NULL;
	}
	if (s->hostname == NULL || (key && s->fake_key == NULL) || m->server_start(s) < 0)
		sasl_sess_free(&s);
	return s;
}

void
sasl_sess_free(struct sasl_sess **sp)
{
	struct sasl_sess *s = *sp;
	if (s == NULL)
		return;
	if (s->server)
		s->mech->server_free(s);
	else
		s->mech->client_free(s);
	str_wipe_free(&s->authcid);
	str_wipe_free(&s->authzid);
	str_wipe_free(&s->password);
	str_wipe_free(&s->hostname);
	str_wipe_free(&s->test_nonce);
	str_wipe_free(&s->peer_error);
	str_wipe_free(&s->external_user);
	if (s->fake_key != NULL) {
		OPENSSL_cleanse(s->fake_key, s->fake_key_len);
		free(s->fake_key);
	}
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
	*sp = NULL;
}

enum sasl_rc
sasl_step(struct sasl_sess *s, const uint8_t *in, size_t inlen, struct buf *out,
	  const char **why_r)
{
	*why_r = NULL;
	if (s->ended) {
		*why_r = "authentication exchange already ended";
		return SASL_BADSYNTAX;
	}
	if (s->awaiting_cred && !s->have_cred) {
		/* A caller bug, not the peer's: say so, and fail safe. */
		*why_r = "sasl_step() before sasl_cred_supply()";
		s->ended = true;
		return SASL_TEMPFAIL;
	}
	if (s->awaiting_cred && in != NULL) {
		*why_r = "message while waiting for credentials";
		s->ended = true;
		return SASL_BADSYNTAX;
	}
	if (in != NULL && inlen > SASL_MSG_MAX) {
		*why_r = "SASL message too long";
		s->ended = true;
		return SASL_BADSYNTAX;
	}
	s->awaiting_cred = false;
	sasl_step_fn *step = s->server ? s->mech->server_step : s->mech->client_step;
	enum sasl_rc rc = step(s, in, inlen, out, why_r);
	if (rc == SASL_NEED_CRED)
		s->awaiting_cred = true;
	else
		sasl_sess_cred_wipe(s);
	if (rc != SASL_MORE && rc != SASL_NEED_CRED)
		s->ended = true;
	if (*why_r == NULL && rc != SASL_MORE && rc != SASL_DONE && rc != SASL_NEED_CRED)
		*why_r = "authentication failed";
	return rc;
}

const struct sasl_mech *
sasl_sess_mech(const struct sasl_sess *s)
{
	return s->mech;
}

const char *
sasl_sess_authcid(const struct sasl_sess *s)
{
	return s->authcid;
}

const char *
sasl_sess_authzid(const struct sasl_sess *s)
{
	return s->authzid;
}

const char *
sasl_sess_peer_error(const struct sasl_sess *s)
{
	return s->peer_error;
}

void
sasl_sess_set_cb(struct sasl_sess *s, const struct sasl_cb *cb)
{
	sess_take_cb(s, cb);
}

void
sasl_sess_set_test_nonce(struct sasl_sess *s, const char *nonce)
{
	/* Only the nonce: the fake-salt key stays (freeing it here left a
	 * dangling pointer that sasl_sess_free() freed again). */
	str_wipe_free(&s->test_nonce);
	s->test_nonce = str_dup(nonce);
}

const struct sasl_cred_request *
sasl_cred_request(const struct sasl_sess *s)
{
	return s->awaiting_cred ? &s->req : NULL;
}

void
sasl_cred_supply(struct sasl_sess *s, const struct sasl_cred_answer *a)
{
	if (!s->awaiting_cred)
		return;
	s->cred = *a;
	if (s->cred.salt_len > SASL_SALT_MAX)
		s->cred.salt_len = SASL_SALT_MAX;
	if (s->cred.key_len > SASL_KEY_MAX)
		s->cred.key_len = SASL_KEY_MAX;
	s->have_cred = true;
}

enum sasl_rc
sasl_sess_need_cred(struct sasl_sess *s, enum sasl_cred_kind kind, const char *password)
{
	s->req.kind = kind;
	s->req.authcid = s->authcid;
	s->req.password = (const uint8_t *)password;
	s->req.password_len = password != NULL ? strlen(password) : 0;
	s->have_cred = false;
	return SASL_NEED_CRED;
}

void
sasl_sess_cred_wipe(struct sasl_sess *s)
{
	OPENSSL_cleanse(&s->cred, sizeof s->cred);
	memset(&s->req, 0, sizeof s->req);
	s->have_cred = false;
}

enum sasl_rc
sasl_sess_check_authzid(struct sasl_sess *s, const uint8_t *p, size_t n,
			const char **why_r)
{
	if (n == 0)
		return SASL_DONE;
	char *z;
	if (sasl_saslprep_span(p, n, SASL_NAME_MAX, &z, why_r) < 0)
		return SASL_BADSYNTAX;
	/* RFC 4616 section 2: "the server ... verifies that the authentication
	 * identity is permitted to act as the authorization identity".  No
	 * proxy authorization is configured, so only oneself is permitted. */
	bool same = strcmp(z, s->authcid) == 0;
	str_wipe_free(&s->authzid);
	s->authzid = z;
	if (!same) {
		*why_r = "authorization identity not permitted";
		return SASL_FAIL;
	}
	return SASL_DONE;
}

int
sasl_sess_random(uint8_t *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}
