/* scram_server.c - SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677),
 * server side, and their -PLUS forms with channel binding
 * (tls-exporter, RFC 9266; tls-server-end-point, RFC 5929): the data
 * comes from the network process (sasl_server_params.cb), which holds
 * the TLS connection.
 *
 * The store gives StoredKey and ServerKey, never the password.  An
 * unknown user gets a made-up salt and fails only at the proof, so the
 * first exchange does not tell who exists.  The server-final "v=" goes
 * out as SASL_MORE (a 334 in SMTP); the client's empty answer to it
 * gives SASL_DONE. */
#include "sasl/sasl.h"
#include "sasl/scram_common.h"

#include "util/b64.h"
#include "util/buf.h"

enum { SCRAM_S_START, SCRAM_S_WAIT_FIRST, SCRAM_S_WAIT_CRED, SCRAM_S_WAIT_FINAL,
       SCRAM_S_WAIT_ACK };

/* Length of the made-up salt for unknown users: what `postern passwd`
 * stores (16 bytes), so that it looks no different. */
#define SCRAM_FAKE_SALT 16

struct scram_server {
	int st;
	struct sasl_scram_conv conv;
	enum sasl_cred_kind kind;
	bool fake;			/* unknown user: fail at the proof */
	const uint8_t *cbdata;		/* "p=": the bound data (in s->cb); else NULL */
	size_t cblen;
	uint8_t stored_key[SASL_KEY_MAX];
	uint8_t server_key[SASL_KEY_MAX];
};

int
sasl_scram_server_start(struct sasl_sess *s)
{
	struct scram_server *st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	st->kind = s->mech->cred_kind;
	s->state = st;
	return sasl_scram_conv_init(&st->conv, s->mech->digest);
}

void
sasl_scram_server_free(struct sasl_sess *s)
{
	struct scram_server *st = s->state;
	if (st == NULL)
		return;
	sasl_scram_conv_free(&st->conv);
	OPENSSL_cleanse(st, sizeof *st);
	free(st);
	s->state = NULL;
}

/* gs2-cbind-flag "p=" cb-name: the client binds.  RFC 5802 section 6:
 * only a -PLUS mechanism binds, and only to a type we have data for. */
static enum sasl_rc
scram_server_gs2_bind(struct sasl_sess *s, struct scram_server *st, struct span *in,
		      const char **why_r)
{
	struct span name;
	if (sasl_scram_attr(in, 'p', &name) < 0) {
		*why_r = "SCRAM: bad p= in gs2 header";
		return SASL_BADSYNTAX;
	}
	if (!sasl_mech_binds_channel(s->mech)) {
		/* RFC 5802 section 6: "p" is for the -PLUS variants only. */
		*why_r = "SCRAM: channel binding requested with a non-PLUS mechanism";
		return SASL_FAIL;
	}
	st->cbdata = sasl_scram_cb_data(s->has_cb ? &s->cb : NULL, name, &st->cblen);
	if (st->cbdata == NULL) {
		*why_r = "SCRAM: unsupported channel binding type";
		return SASL_FAIL;
	}
	return SASL_MORE;
}

/* gs2-cbind-flag "n" (the client cannot bind) or "y" (it could, but
 * thinks we cannot). */
static enum sasl_rc
scram_server_gs2_nobind(struct sasl_sess *s, struct span *in, const char **why_r)
{
	if (in->n < 2 || (in->p[0] != 'n' && in->p[0] != 'y') || in->p[1] != ',') {
		*why_r = "SCRAM: bad gs2 header";
		return SASL_BADSYNTAX;
	}
	if (sasl_mech_binds_channel(s->mech)) {
		/* RFC 5802 section 6: a -PLUS mechanism means "p". */
		*why_r = "SCRAM: -PLUS mechanism without channel binding";
		return SASL_FAIL;
	}
	/* RFC 5802 section 6: "If the flag is set to "y" and the server
	 * supports channel binding, the server MUST fail authentication.
	 * This is because if the client sets the channel binding flag to
	 * "y", then the client must have seen no SCRAM-*-PLUS mechanisms
	 * advertised by the server" - someone removed them on the way. */
	if (in->p[0] == 'y' && s->plus_offered) {
		*why_r = "SCRAM: client says we offer no channel binding, but we did (downgrade)";
		return SASL_FAIL;
	}
	span_skip(in, 2);
	return SASL_MORE;
}

/* gs2-header = gs2-cbind-flag "," [ authzid ] ","
 * gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 * Leaves the bare message in *in and the authzid (maybe empty) in *zid. */
static enum sasl_rc
scram_server_gs2(struct sasl_sess *s, struct scram_server *st, struct span *in,
		 struct span *zid, const char **why_r)
{
	zid->p = in->p;
	zid->n = 0;
	enum sasl_rc rc = in->n >= 2 && in->p[0] == 'p' && in->p[1] == '='
		? scram_server_gs2_bind(s, st, in, why_r) : scram_server_gs2_nobind(s, in, why_r);
	if (rc != SASL_MORE)
		return rc;
	if (sasl_scram_peek(*in) == 'a') {
		if (sasl_scram_attr(in, 'a', zid) < 0) {
			*why_r = "SCRAM: bad a= in gs2 header";
			return SASL_BADSYNTAX;
		}
		return SASL_MORE;	/* sasl_scram_attr took the ',' */
	}
	if (in->n == 0 || in->p[0] != ',') {
		*why_r = "SCRAM: bad gs2 header";
		return SASL_BADSYNTAX;
	}
	span_skip(in, 1);
	return SASL_MORE;
}

/* client-first-message-bare = [reserved-mext ","] username "," nonce
 *                             ["," extensions] */
static enum sasl_rc
scram_server_first(struct sasl_sess *s, struct scram_server *st, const uint8_t *in,
		   size_t n, const char **why_r)
{
	struct span msg = { (const char *)in, n }, zid, user, nonce;
	enum sasl_rc rc = scram_server_gs2(s, st, &msg, &zid, why_r);
	if (rc != SASL_MORE)
		return rc;
	if (buf_add(&st->conv.gs2, in, n - msg.n) != BUF_OK) {
		*why_r = "SCRAM: gs2 header too long";
		return SASL_BADSYNTAX;
	}
	if (sasl_scram_peek(msg) == 'm') {
		*why_r = "SCRAM: mandatory extension not supported";
		return SASL_FAIL;
	}
	struct span bare = msg;
	if (sasl_scram_attr(&msg, 'n', &user) < 0 || sasl_scram_attr(&msg, 'r', &nonce) < 0
	    || !sasl_scram_nonce_valid(nonce) || sasl_scram_extensions(msg, why_r) < 0) {
		*why_r = "SCRAM: client-first-message needs n= then r=";
		return SASL_BADSYNTAX;
	}
	if (sasl_scram_name_decode(user, &s->authcid, why_r) < 0)
		return SASL_BADSYNTAX;
	if (zid.n > 0) {
		char *z;
		if (sasl_scram_name_decode(zid, &z, why_r) < 0)
			return SASL_BADSYNTAX;
		rc = sasl_sess_check_authzid(s, (const uint8_t *)z, strlen(z), why_r);
		str_wipe_free(&z);
		if (rc != SASL_DONE)
			return rc;
	}
	if (buf_add(&st->conv.nonce, nonce.p, nonce.n) != BUF_OK
	    || buf_add(&st->conv.auth, bare.p, bare.n) != BUF_OK) {
		*why_r = "SCRAM: message too long";
		return SASL_BADSYNTAX;
	}
	st->st = SCRAM_S_WAIT_CRED;
	return sasl_sess_need_cred(s, st->kind, NULL);
}

/* A salt for a user who does not exist: HMAC-SHA-256 of the mechanism
 * and user names under the server's key (sasl_server_params), so that a
 * second attempt sees the same salt, as it would for a real user, and
 * SCRAM-SHA-1 and SCRAM-SHA-256 see different salts, as real entries do
 * (each has its own random salt).  Without a server key, one is drawn
 * for this session: stable salts then tell unknown users apart. */
static int
scram_server_fake_salt(const struct sasl_sess *s, uint8_t mac[EVP_MAX_MD_SIZE])
{
	uint8_t own[32];
	const uint8_t *key = s->fake_key;
	size_t keylen = s->fake_key_len;
	int rc = 0;
	if (key == NULL) {
		rc = sasl_sess_random(own, sizeof own);
		key = own;
		keylen = sizeof own;
	}
	/* NUL between the names: "SCRAM-SHA-1" + "x" never equals another
	 * pair; the mechanism name holds no NUL. */
	struct buf msg;
	buf_init(&msg, SASL_NAME_MAX * 2 + 64);
	if (rc == 0 && (buf_addstr(&msg, s->mech->name) != BUF_OK || buf_addch(&msg, '\0') != BUF_OK
			|| buf_addstr(&msg, s->authcid) != BUF_OK))
		rc = -1;
	if (rc == 0)
		rc = sasl_scram_hmac(EVP_sha256(), key, keylen, msg.p, msg.len, mac);
	buf_free(&msg);
	OPENSSL_cleanse(own, sizeof own);
	return rc;
}

static int
scram_server_fake(struct sasl_sess *s, struct scram_server *st)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	int rc = scram_server_fake_salt(s, mac);
	if (rc == 0) {
		memcpy(s->cred.salt, mac, SCRAM_FAKE_SALT);
		s->cred.salt_len = SCRAM_FAKE_SALT;
		s->cred.iterations = s->fake_iter;
		/* Keys nobody knows the preimage of: the proof cannot match. */
		rc = sasl_sess_random(st->stored_key, sizeof st->stored_key);
		st->fake = true;
	}
	OPENSSL_cleanse(mac, sizeof mac);
	return rc;
}

static enum sasl_rc
scram_server_cred(struct sasl_sess *s, struct scram_server *st, const char **why_r)
{
	const struct sasl_cred_answer *a = &s->cred;
	if (a->status == SASL_CRED_TEMPFAIL) {
		*why_r = "credential store unavailable";
		return SASL_TEMPFAIL;
	}
	if (a->status == SASL_CRED_OK && (a->key_len != st->conv.len || a->salt_len == 0
					  || a->iterations < 1
					  || a->iterations > SASL_SCRAM_ITER_MAX)) {
		*why_r = "credential store gave a malformed SCRAM secret";
		return SASL_TEMPFAIL;
	}
	if (a->status == SASL_CRED_OK) {
		memcpy(st->stored_key, a->stored_key, st->conv.len);
		memcpy(st->server_key, a->server_key, st->conv.len);
	} else if (scram_server_fake(s, st) < 0) {
		*why_r = "SCRAM: no random bytes";
		return SASL_TEMPFAIL;
	}
	return SASL_MORE;
}

/* server-first-message = nonce "," salt "," iteration-count */
static enum sasl_rc
scram_server_send_first(struct sasl_sess *s, struct scram_server *st, struct buf *out,
			const char **why_r)
{
	enum sasl_rc rc = scram_server_cred(s, st, why_r);
	if (rc != SASL_MORE)
		return rc;
	size_t mark = out->len;
	int brc = sasl_scram_nonce_new(s, &st->conv.nonce) == 0 ? BUF_OK : BUF_NOMEM;
	brc = brc == BUF_OK ? buf_printf(out, "r=%s,s=", buf_cstr(&st->conv.nonce)) : brc;
	brc = brc == BUF_OK ? b64_encode(out, s->cred.salt, s->cred.salt_len) : brc;
	brc = brc == BUF_OK ? buf_printf(out, ",i=%u", s->cred.iterations) : brc;
	brc = brc == BUF_OK ? buf_addch(&st->conv.auth, ',') : brc;
	brc = brc == BUF_OK ? buf_add(&st->conv.auth, out->p + mark, out->len - mark) : brc;
	if (brc != BUF_OK) {
		*why_r = "SCRAM: cannot build server-first-message";
		return SASL_TEMPFAIL;
	}
	st->st = SCRAM_S_WAIT_FINAL;
	return SASL_MORE;
}

/* client-final-message = "c=" base64 "," "r=" nonce ["," extensions]
 *                        "," "p=" base64
 * Fills proof; *wo_proof_len is the length before ",p=". */
static enum sasl_rc
scram_server_parse_final(struct scram_server *st, struct span msg, uint8_t *proof,
			 size_t *wo_proof_len, const char **why_r)
{
	size_t total = msg.n;
	struct span v, nonce;
	uint8_t cb[SASL_MSG_MAX];
	if (sasl_scram_attr(&msg, 'c', &v) < 0 || sasl_scram_attr(&msg, 'r', &nonce) < 0) {
		*why_r = "SCRAM: client-final-message needs c= then r=";
		return SASL_BADSYNTAX;
	}
	/* RFC 5802 section 7: c= is base64(gs2-header [cbind-data]): the
	 * header of client-first again, then, for "p=", the channel's data
	 * as we see it; a man in the middle sees another channel. */
	long cblen = sasl_scram_b64(v, cb, 0, sizeof cb);
	const struct buf *gs2 = &st->conv.gs2;
	if (cblen < 0 || (size_t)cblen != gs2->len + st->cblen || memcmp(cb, gs2->p, gs2->len) != 0) {
		*why_r = "SCRAM: channel binding (c=) does not match the gs2 header";
		return SASL_FAIL;
	}
	if (st->cblen > 0 && CRYPTO_memcmp(cb + gs2->len, st->cbdata, st->cblen) != 0) {
		*why_r = "SCRAM: channel binding data differ (another TLS channel)";
		return SASL_FAIL;
	}
	if (nonce.n != st->conv.nonce.len || memcmp(nonce.p, st->conv.nonce.p, nonce.n) != 0) {
		*why_r = "SCRAM: nonce mismatch";
		return SASL_FAIL;
	}
	/* proof is the last attribute; extensions may sit before it. */
	for (;;) {
		size_t before = total - msg.n;
		char name = sasl_scram_peek(msg);
		if (name == 'p') {
			if (sasl_scram_attr(&msg, 'p', &v) < 0 || msg.n != 0
			    || sasl_scram_b64(v, proof, st->conv.len, 0) < 0) {
				*why_r = "SCRAM: bad proof (p=)";
				return SASL_BADSYNTAX;
			}
			*wo_proof_len = before - 1;	/* without the ',' */
			return SASL_MORE;
		}
		struct span ext;
		if (name == 0 || name == '?' || name == 'm'
		    || sasl_scram_attr(&msg, name, &ext) < 0) {
			*why_r = "SCRAM: client-final-message without proof";
			return SASL_BADSYNTAX;
		}
	}
}

/* RFC 5802 section 3: the server verifies ClientProof by computing
 * ClientSignature, XORing it into ClientProof to recover ClientKey, and
 * checking that H(ClientKey) equals StoredKey. */
static enum sasl_rc
scram_server_verify(struct scram_server *st, uint8_t *proof, struct buf *out,
		    const char **why_r)
{
	const struct sasl_scram_conv *c = &st->conv;
	uint8_t sig[SASL_KEY_MAX], stored[SASL_KEY_MAX];
	unsigned n = 0;
	enum sasl_rc rc = SASL_FAIL;
	*why_r = "SCRAM: digest failed";
	if (sasl_scram_hmac(c->md, st->stored_key, c->len, c->auth.p, c->auth.len, sig) == 0) {
		for (size_t i = 0; i < c->len; i++)
			proof[i] ^= sig[i];	/* now ClientKey */
		if (EVP_Digest(proof, c->len, stored, &n, c->md, NULL) && n == c->len) {
			bool ok = CRYPTO_memcmp(stored, st->stored_key, c->len) == 0;
			*why_r = st->fake ? "unknown user" : "wrong password";
			rc = ok && !st->fake ? SASL_MORE : SASL_FAIL;
		}
	}
	if (rc == SASL_MORE) {
		if (sasl_scram_hmac(c->md, st->server_key, c->len, c->auth.p,
				    c->auth.len, sig) < 0
		    || buf_addstr(out, "v=") != BUF_OK || b64_encode(out, sig, c->len) != BUF_OK) {
			*why_r = "SCRAM: cannot build server-final-message";
			rc = SASL_TEMPFAIL;
		} else {
			*why_r = NULL;
			st->st = SCRAM_S_WAIT_ACK;
		}
	}
	OPENSSL_cleanse(sig, sizeof sig);
	OPENSSL_cleanse(stored, sizeof stored);
	return rc;
}

static enum sasl_rc
scram_server_final(struct scram_server *st, const uint8_t *in, size_t n, struct buf *out,
		   const char **why_r)
{
	uint8_t proof[SASL_KEY_MAX];
	size_t wo_proof = 0;
	enum sasl_rc rc = scram_server_parse_final(st, (struct span){ (const char *)in, n },
						   proof, &wo_proof, why_r);
	if (rc == SASL_MORE) {
		if (buf_addch(&st->conv.auth, ',') != BUF_OK
		    || buf_add(&st->conv.auth, in, wo_proof) != BUF_OK) {
			*why_r = "SCRAM: message too long";
			rc = SASL_BADSYNTAX;
		} else {
			rc = scram_server_verify(st, proof, out, why_r);
		}
	}
	OPENSSL_cleanse(proof, sizeof proof);
	return rc;
}

enum sasl_rc
sasl_scram_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r)
{
	struct scram_server *st = s->state;
	if (st->st == SCRAM_S_START && in == NULL) {
		/* No initial response: RFC 4954 section 4 empty challenge. */
		st->st = SCRAM_S_WAIT_FIRST;
		return SASL_MORE;
	}
	if (st->st == SCRAM_S_WAIT_CRED)
		return scram_server_send_first(s, st, out, why_r);
	if (in == NULL || !sasl_scram_msg_valid(in, inlen)) {
		*why_r = "SCRAM: missing or malformed client message";
		return SASL_BADSYNTAX;
	}
	switch (st->st) {
	case SCRAM_S_START:
	case SCRAM_S_WAIT_FIRST:
		return scram_server_first(s, st, in, inlen, why_r);
	case SCRAM_S_WAIT_FINAL:
		return scram_server_final(st, in, inlen, out, why_r);
	default:
		/* The answer to our v= 334 carries no data. */
		if (inlen != 0) {
			*why_r = "SCRAM: data after server-final-message";
			return SASL_BADSYNTAX;
		}
		return SASL_DONE;
	}
}
