/* sasl_impl.h - internals shared by the mechanism files: the session,
 * the per-side entry points of each mechanism, and helpers. */
#ifndef POSTERN_SASL_IMPL_H
#define POSTERN_SASL_IMPL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sasl/sasl.h"
#include "sasl/sasl_mech.h"
#include "util/str.h"

/* RFC 5802 section 5.1 only sets a floor (4096); this ceiling keeps a
 * hostile server from making a client burn minutes of CPU. */
#define SASL_SCRAM_ITER_MAX 10000000u
/* RFC 5802 section 5.1: "at least 4096" iterations. */
#define SASL_SCRAM_ITER_MIN 4096u

struct sasl_sess {
	const struct sasl_mech *mech;
	bool server;
	bool ended;		/* DONE/FAIL/TEMPFAIL/BADSYNTAX returned */
	bool awaiting_cred;	/* NEED_CRED returned, no answer yet */
	bool have_cred;		/* sasl_cred_supply() called, not consumed */
	/* Client: the parameters (copies).  Server: the identities taken
	 * from the wire after SASLprep, NULL until known. */
	char *authcid;
	char *authzid;
	char *password;		/* client copy; PLAIN/LOGIN server: prepared */
	char *hostname;		/* server */
	char *test_nonce;
	char *peer_error;	/* client: the server's error message (OAUTHBEARER) */
	uint8_t *fake_key;	/* server: copy of params->fake_salt_key */
	size_t fake_key_len;
	unsigned fake_iter;	/* server: never 0 */
	struct sasl_cb cb;	/* the channel's binding data (params->cb) */
	bool has_cb;		/* params->cb was given: the session runs over TLS */
	bool plus_offered;	/* server: a -PLUS mechanism was offered */
	char *external_user;	/* server, EXTERNAL: the certificate's user */
	struct sasl_cred_request req;
	struct sasl_cred_answer cred;	/* wiped once consumed */
	void *state;		/* the mechanism's own */
};

/* saslprep.c */
bool sasl_saslprep_utf8_valid(const uint8_t *p, size_t n);
/* SASLprep of a wire span: refuses empty, longer than max (before and
 * after preparation), NUL inside, invalid UTF-8, what SASLprep refuses. */
int sasl_saslprep_span(const uint8_t *p, size_t n, size_t max, char **out_r,
		       const char **why_r);

/* derive.c */
int sasl_derive_scram_keys(const EVP_MD *md, const uint8_t *salted, size_t len,
			   uint8_t *client_key, uint8_t *stored_key, uint8_t *server_key);
/* HMAC-MD5 digest of chal from the 32-byte stored context. */
int sasl_derive_cram_md5_resume(const uint8_t secret[32], const uint8_t *chal,
				size_t n, uint8_t digest[16]);

/* sess.c */
/* Makes s wait for credentials: fills the request and returns NEED_CRED. */
enum sasl_rc sasl_sess_need_cred(struct sasl_sess *s, enum sasl_cred_kind kind,
				 const char *password);
/* Takes the supplied answer's status (the answer stays in s->cred until
 * sasl_sess_cred_wipe()). */
void sasl_sess_cred_wipe(struct sasl_sess *s);
/* Server: the authzid rule shared by PLAIN and SCRAM.  Takes the wire
 * bytes (may be empty), stores s->authzid; returns DONE when allowed,
 * FAIL or BADSYNTAX with *why_r otherwise.  s->authcid must be set. */
enum sasl_rc sasl_sess_check_authzid(struct sasl_sess *s, const uint8_t *p, size_t n,
				     const char **why_r);
/* Fills n random bytes; -1 on RAND failure. */
int sasl_sess_random(uint8_t *p, size_t n);

/* plain_server.c: the verdict on a plaintext password (PLAIN, LOGIN). */
enum sasl_rc sasl_plain_server_verdict(struct sasl_sess *s, const char **why_r);

/* Per-side entry points, referenced by the const mechanism definitions. */
sasl_start_fn sasl_plain_client_start, sasl_plain_server_start;
sasl_step_fn sasl_plain_client_step, sasl_plain_server_step;
sasl_free_fn sasl_plain_client_free, sasl_plain_server_free;
sasl_start_fn sasl_login_client_start, sasl_login_server_start;
sasl_step_fn sasl_login_client_step, sasl_login_server_step;
sasl_free_fn sasl_login_client_free, sasl_login_server_free;
sasl_start_fn sasl_cram_md5_client_start, sasl_cram_md5_server_start;
sasl_step_fn sasl_cram_md5_client_step, sasl_cram_md5_server_step;
sasl_free_fn sasl_cram_md5_client_free, sasl_cram_md5_server_free;
sasl_start_fn sasl_scram_client_start, sasl_scram_server_start;
sasl_step_fn sasl_scram_client_step, sasl_scram_server_step;
sasl_free_fn sasl_scram_client_free, sasl_scram_server_free;
sasl_start_fn sasl_oauthbearer_client_start, sasl_oauthbearer_server_start;
sasl_step_fn sasl_oauthbearer_client_step, sasl_oauthbearer_server_step;
sasl_start_fn sasl_xoauth2_client_start, sasl_xoauth2_server_start;
sasl_step_fn sasl_xoauth2_client_step, sasl_xoauth2_server_step;
sasl_start_fn sasl_external_client_start, sasl_external_server_start;
sasl_step_fn sasl_external_client_step, sasl_external_server_step;
sasl_free_fn sasl_external_free;
/* oauth_common.c: one state and one free for both token mechanisms. */
sasl_free_fn sasl_oauth_free;

#endif
