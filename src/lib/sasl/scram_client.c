/* scram_client.c - SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677),
 * client side, and the -PLUS forms: gs2 header "p=TYPE," with the
 * channel's data in c=; plain SCRAM says "y," when it could have bound
 * (the server offered no -PLUS), "n," without TLS.
 *
 * After verifying the server's v= it returns SASL_DONE with an empty
 * out: in SMTP the server-final arrives in a 334 (RFC 4954 has no
 * "additional data with success"), so the glue answers that 334 with an
 * empty line and then expects 235. */
#include "sasl/sasl.h"
#include "sasl/scram_common.h"

#include "util/b64.h"
#include "util/buf.h"

enum { SCRAM_C_START, SCRAM_C_WAIT_FIRST, SCRAM_C_WAIT_FINAL, SCRAM_C_END };

struct scram_client {
	int st;
	struct sasl_scram_conv conv;
	uint8_t server_sig[SASL_KEY_MAX];
	const uint8_t *cbdata;		/* "p=": the bound data (in s->cb); else NULL */
	size_t cblen;
};

int
sasl_scram_client_start(struct sasl_sess *s)
{
	struct scram_client *st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	s->state = st;
	return sasl_scram_conv_init(&st->conv, s->mech->digest);
}

void
sasl_scram_client_free(struct sasl_sess *s)
{
	struct scram_client *st = s->state;
	if (st == NULL)
		return;
	sasl_scram_conv_free(&st->conv);
	OPENSSL_cleanse(st, sizeof *st);
	free(st);
	s->state = NULL;
}

/* gs2-cbind-flag "," into the gs2 header: "p=TYPE" for -PLUS (the
 * data for c= is kept), "y" when TLS could bind but the mechanism does
 * not, "n" without TLS.  0, or -1 with *why_r. */
static int
scram_client_flag(struct sasl_sess *s, struct scram_client *st, const char **why_r)
{
	const struct sasl_cb *cb = s->has_cb ? &s->cb : NULL;
	const char *type = sasl_scram_cb_pick(cb);
	if (!sasl_mech_binds_channel(s->mech)) {
		if (buf_addstr(&st->conv.gs2, type != NULL ? "y," : "n,") == BUF_OK)
			return 0;
		*why_r = "SCRAM: cannot build the gs2 header";
		return -1;
	}
	if (type == NULL) {
		*why_r = "SCRAM: -PLUS needs TLS channel binding data";
		return -1;
	}
	st->cbdata = sasl_scram_cb_data(cb, span_of(type), &st->cblen);
	if (buf_printf(&st->conv.gs2, "p=%s,", type) != BUF_OK) {
		*why_r = "SCRAM: cannot build the gs2 header";
		return -1;
	}
	return 0;
}

/* client-first-message = gs2-header client-first-message-bare
 * gs2-header = "n" "," [ "a=" saslname ] ","
 * client-first-message-bare = "n=" saslname ",r=" c-nonce */
static enum sasl_rc
scram_client_first(struct sasl_sess *s, struct scram_client *st, struct buf *out,
		   const char **why_r)
{
	char *user = NULL, *zid = NULL;
	if (s->password[0] == '\0') {
		*why_r = "SCRAM: empty password";
		return SASL_FAIL;
	}
	/* RFC 5802 section 5.1: "the client SHOULD prepare the username
	 * using the SASLprep profile ... If the preparation of the username
	 * fails or results in an empty string, the client SHOULD abort". */
	if (sasl_saslprep_span((const uint8_t *)s->authcid, strlen(s->authcid),
			       SASL_NAME_MAX, &user, why_r) < 0
	    || (s->authzid != NULL
		&& sasl_saslprep_span((const uint8_t *)s->authzid, strlen(s->authzid),
				      SASL_NAME_MAX, &zid, why_r) < 0)) {
		str_wipe_free(&user);
		return SASL_FAIL;
	}
	int rc = scram_client_flag(s, st, why_r);
	if (rc < 0) {
		str_wipe_free(&user);
		str_wipe_free(&zid);
		return SASL_FAIL;
	}
	if (rc == BUF_OK && zid != NULL)
		rc = buf_addstr(&st->conv.gs2, "a=") == BUF_OK
			? sasl_scram_name_encode(&st->conv.gs2, zid) : -1;
	rc = rc == BUF_OK ? buf_addch(&st->conv.gs2, ',') : rc;
	rc = rc == BUF_OK ? sasl_scram_nonce_new(s, &st->conv.nonce) : rc;
	rc = rc == BUF_OK ? buf_addstr(&st->conv.auth, "n=") : rc;
	rc = rc == BUF_OK ? sasl_scram_name_encode(&st->conv.auth, user) : rc;
	rc = rc == BUF_OK ? buf_printf(&st->conv.auth, ",r=%s", buf_cstr(&st->conv.nonce)) : rc;
	rc = rc == BUF_OK ? buf_add(out, st->conv.gs2.p, st->conv.gs2.len) : rc;
	rc = rc == BUF_OK ? buf_add(out, st->conv.auth.p, st->conv.auth.len) : rc;
	str_wipe_free(&user);
	str_wipe_free(&zid);
	if (rc != BUF_OK) {
		*why_r = "SCRAM: cannot build client-first-message";
		return SASL_TEMPFAIL;
	}
	st->st = SCRAM_C_WAIT_FIRST;
	return SASL_MORE;
}

/* server-first-message = [reserved-mext ","] nonce "," salt ","
 *                        iteration-count ["," extensions] */
static enum sasl_rc
scram_client_parse_first(struct scram_client *st, struct span in, struct span *nonce_r,
			 uint8_t *salt, size_t *salt_len, unsigned *iter, const char **why_r)
{
	struct span v;
	if (sasl_scram_peek(in) == 'm') {
		*why_r = "SCRAM: mandatory extension not supported";
		return SASL_FAIL;
	}
	if (sasl_scram_attr(&in, 'r', nonce_r) < 0 || sasl_scram_attr(&in, 's', &v) < 0) {
		*why_r = "SCRAM: server-first-message needs r= then s=";
		return SASL_BADSYNTAX;
	}
	long n = sasl_scram_b64(v, salt, 0, SASL_SALT_MAX);
	if (n < 0) {
		*why_r = "SCRAM: bad salt";
		return SASL_BADSYNTAX;
	}
	*salt_len = (size_t)n;
	if (sasl_scram_attr(&in, 'i', &v) < 0 || sasl_scram_iter(v, iter) < 0
	    || sasl_scram_extensions(in, why_r) < 0) {
		*why_r = "SCRAM: bad or missing i= in server-first-message";
		return SASL_BADSYNTAX;
	}
	/* RFC 5802 section 5.1: the server nonce part is appended to ours;
	 * a nonce that does not start with ours is another conversation. */
	const struct buf *ours = &st->conv.nonce;
	if (nonce_r->n <= ours->len || memcmp(nonce_r->p, ours->p, ours->len) != 0
	    || !sasl_scram_nonce_valid(*nonce_r)) {
		*why_r = "SCRAM: server nonce does not extend ours";
		return SASL_FAIL;
	}
	/* RFC 5802 section 5.1 asks for at least 4096 iterations; fewer
	 * makes a stolen StoredKey cheap to brute-force. */
	if (*iter < SASL_SCRAM_ITER_MIN) {
		*why_r = "iteration count too low";
		return SASL_FAIL;
	}
	if (*iter > SASL_SCRAM_ITER_MAX) {
		*why_r = "iteration count too high";
		return SASL_FAIL;
	}
	return SASL_MORE;
}

/* ClientProof := ClientKey XOR HMAC(StoredKey, AuthMessage), and the
 * ServerSignature we will expect, from the full AuthMessage. */
static int
scram_client_proof(struct sasl_sess *s, struct scram_client *st, const uint8_t *salt,
		   size_t salt_len, unsigned iter, uint8_t *proof, const char **why_r)
{
	uint8_t salted[SASL_KEY_MAX], ckey[SASL_KEY_MAX], skey_stored[SASL_KEY_MAX];
	uint8_t server_key[SASL_KEY_MAX], sig[SASL_KEY_MAX];
	int rc = sasl_scram_salted(st->conv.md, s->password, salt, salt_len, iter, salted, why_r);
	if (rc == 0 && (sasl_derive_scram_keys(st->conv.md, salted, st->conv.len, ckey, skey_stored,
					       server_key) < 0
			|| sasl_scram_hmac(st->conv.md, skey_stored, st->conv.len, st->conv.auth.p,
					   st->conv.auth.len, sig) < 0
			|| sasl_scram_hmac(st->conv.md, server_key, st->conv.len, st->conv.auth.p,
					   st->conv.auth.len, st->server_sig) < 0)) {
		*why_r = "SCRAM: key computation failed";
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < st->conv.len; i++)
		proof[i] = ckey[i] ^ sig[i];
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(skey_stored, sizeof skey_stored);
	OPENSSL_cleanse(server_key, sizeof server_key);
	OPENSSL_cleanse(sig, sizeof sig);
	return rc;
}

static enum sasl_rc
scram_client_final(struct sasl_sess *s, struct scram_client *st, const uint8_t *in,
		   size_t n, struct buf *out, const char **why_r)
{
	struct span nonce;
	uint8_t salt[SASL_SALT_MAX], proof[SASL_KEY_MAX];
	size_t salt_len = 0;
	unsigned iter = 0;
	enum sasl_rc rc = scram_client_parse_first(st, (struct span){ (const char *)in, n },
						   &nonce, salt, &salt_len, &iter, why_r);
	if (rc != SASL_MORE)
		return rc;
	/* client-final-message-without-proof = "c=" base64(gs2-header) ",r=" nonce */
	size_t mark = out->len;
	int brc = buf_addstr(out, "c=");
	brc = brc == BUF_OK ? sasl_scram_cbind_input(out, &st->conv.gs2, st->cbdata, st->cblen) : brc;
	brc = brc == BUF_OK ? buf_printf(out, ",r=%.*s", (int)nonce.n, nonce.p) : brc;
	/* AuthMessage := client-first-message-bare + "," +
	 *                server-first-message + "," + client-final-without-proof */
	brc = brc == BUF_OK ? buf_addch(&st->conv.auth, ',') : brc;
	brc = brc == BUF_OK ? buf_add(&st->conv.auth, in, n) : brc;
	brc = brc == BUF_OK ? buf_addch(&st->conv.auth, ',') : brc;
	brc = brc == BUF_OK ? buf_add(&st->conv.auth, out->p + mark, out->len - mark) : brc;
	if (brc != BUF_OK) {
		*why_r = "SCRAM: message too long";
		return SASL_BADSYNTAX;
	}
	if (scram_client_proof(s, st, salt, salt_len, iter, proof, why_r) < 0)
		return SASL_FAIL;
	brc = buf_addstr(out, ",p=");
	brc = brc == BUF_OK ? b64_encode(out, proof, st->conv.len) : brc;
	OPENSSL_cleanse(proof, sizeof proof);
	if (brc != BUF_OK) {
		*why_r = "output buffer too small";
		return SASL_TEMPFAIL;
	}
	st->st = SCRAM_C_WAIT_FINAL;
	return SASL_MORE;
}

/* server-final-message = (server-error / verifier) ["," extensions] */
static enum sasl_rc
scram_client_verify(struct scram_client *st, const uint8_t *in, size_t n, const char **why_r)
{
	struct span rest = { (const char *)in, n }, v;
	uint8_t sig[SASL_KEY_MAX];
	if (sasl_scram_peek(rest) == 'e') {
		*why_r = "SCRAM: server reported an error (e=)";
		return SASL_FAIL;
	}
	if (sasl_scram_attr(&rest, 'v', &v) < 0 || sasl_scram_extensions(rest, why_r) < 0
	    || sasl_scram_b64(v, sig, st->conv.len, 0) < 0) {
		*why_r = "SCRAM: bad server-final-message";
		return SASL_BADSYNTAX;
	}
	/* RFC 5802 section 5: "The client then authenticates the server by
	 * computing the ServerSignature and comparing it to the value sent
	 * by the server." */
	bool ok = CRYPTO_memcmp(sig, st->server_sig, st->conv.len) == 0;
	OPENSSL_cleanse(st->server_sig, sizeof st->server_sig);
	if (!ok) {
		*why_r = "server signature mismatch";
		return SASL_FAIL;
	}
	st->st = SCRAM_C_END;
	return SASL_DONE;
}

enum sasl_rc
sasl_scram_client_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct scram_client *st = s->state;
	if (st->st == SCRAM_C_START) {
		/* A server that got no initial response sends "334 " first. */
		if (in != NULL && inlen != 0) {
			*why_r = "SCRAM: unexpected challenge before client-first";
			return SASL_BADSYNTAX;
		}
		return scram_client_first(s, st, out, why_r);
	}
	if (st->st == SCRAM_C_END || in == NULL || !sasl_scram_msg_valid(in, inlen)) {
		*why_r = "SCRAM: unexpected or malformed server message";
		return SASL_BADSYNTAX;
	}
	if (st->st == SCRAM_C_WAIT_FIRST)
		return scram_client_final(s, st, in, inlen, out, why_r);
	return scram_client_verify(st, in, inlen, why_r);
}
