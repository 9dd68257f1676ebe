/* fuzz_sasl.h - the toy credential store of the SASL harnesses: one
 * user "user" with password "pencil".  Derived secrets are computed
 * once per process (PBKDF2 at 4096 rounds would otherwise dominate
 * every execution). */
#ifndef POSTERN_FUZZ_SASL_H
#define POSTERN_FUZZ_SASL_H

#include "fuzz.h"

#include "sasl/sasl.h"
#include "util/buf.h"

#define FUZZ_USER "user"
#define FUZZ_PASS "pencil"

static const uint8_t fuzz_salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t fuzz_fake_key[32] = { 42 };

/* Answers the session's pending request like a file store would. */
static inline void
fuzz_sasl_answer(struct sasl_sess *s)
{
	static struct sasl_cred_answer sha1, sha256;
	static uint8_t cram[32];
	static bool ready;
	const char *why = NULL;
	if (!ready) {
		FUZZ_CHECK(sasl_scram_derive("SHA1", FUZZ_PASS, fuzz_salt, sizeof fuzz_salt, 4096,
					     &sha1, &why) == 0);
		FUZZ_CHECK(sasl_scram_derive("SHA256", FUZZ_PASS, fuzz_salt, sizeof fuzz_salt,
					     4096, &sha256, &why) == 0);
		FUZZ_CHECK(sasl_cram_md5_derive(FUZZ_PASS, cram) == 0);
		sha1.status = sha256.status = SASL_CRED_OK;
		sha1.iterations = sha256.iterations = 4096;
		memcpy(sha1.salt, fuzz_salt, sizeof fuzz_salt);
		memcpy(sha256.salt, fuzz_salt, sizeof fuzz_salt);
		sha1.salt_len = sha256.salt_len = sizeof fuzz_salt;
		ready = true;
	}
	const struct sasl_cred_request *r = sasl_cred_request(s);
	FUZZ_CHECK(r != NULL);
	FUZZ_CHECK(r->authcid != NULL);
	struct sasl_cred_answer a;
	memset(&a, 0, sizeof a);
	if (r->kind == SASL_CRED_OAUTH_TOKEN) {
		/* A verifier judges the token alone and names its user;
		 * the mechanism compares that with the claimed one. */
		bool same = r->password_len == strlen(FUZZ_PASS) &&
			    memcmp(r->password, FUZZ_PASS, r->password_len) == 0;
		a.status = same ? SASL_CRED_OK : SASL_CRED_BADPASS;
		memcpy(a.token_user, FUZZ_USER, sizeof FUZZ_USER);
		memcpy(a.oauth_scope, "smtp", 5);
	} else if (strcmp(r->authcid, FUZZ_USER) != 0) {
		a.status = SASL_CRED_NOUSER;
	} else if (r->kind == SASL_CRED_PASSWORD) {
		bool same = r->password_len == strlen(FUZZ_PASS) &&
			    memcmp(r->password, FUZZ_PASS, r->password_len) == 0;
		a.status = same ? SASL_CRED_OK : SASL_CRED_BADPASS;
	} else if (r->kind == SASL_CRED_CRAM_MD5) {
		a.status = SASL_CRED_OK;
		memcpy(a.cram_md5, cram, sizeof cram);
	} else {
		a = r->kind == SASL_CRED_SCRAM_SHA1 ? sha1 : sha256;
	}
	sasl_cred_supply(s, &a);
}

/* The TLS channel both ends of a harness see, for SCRAM-*-PLUS: the
 * tls-server-end-point data always, tls-exporter (TLS 1.3) when
 * exporter is set. */
static inline struct sasl_cb
fuzz_sasl_cb(bool exporter)
{
	struct sasl_cb cb;
	memset(&cb, 0, sizeof cb);
	memset(cb.exporter, 0x5a, sizeof cb.exporter);
	cb.has_exporter = exporter;
	memset(cb.end_point, 0xa5, 32);
	cb.end_point_len = 32;
	return cb;
}

/* The mechanism chosen by one input byte. */
static inline const struct sasl_mech *
fuzz_sasl_mech(uint8_t b)
{
	return sasl_mech_at(b % sasl_mech_count());
}

/* Server step with the toy store answering NEED_CRED. */
static inline enum sasl_rc
fuzz_sasl_server_step(struct sasl_sess *s, const uint8_t *in, size_t n, struct buf *out,
		      const char **why)
{
	enum sasl_rc rc = sasl_step(s, in, n, out, why);
	if (rc == SASL_NEED_CRED) {
		fuzz_sasl_answer(s);
		rc = sasl_step(s, NULL, 0, out, why);
		FUZZ_CHECK(rc != SASL_NEED_CRED);
	}
	return rc;
}

#endif
