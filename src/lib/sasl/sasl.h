/* sasl.h - SASL mechanisms for both sides, with a step API and no I/O.
 *
 * The caller (SMTP server or client glue) owns the protocol: it sends
 * "AUTH MECH", "334 ...", base64, "235"/"535".  This library only turns
 * the peer's decoded bytes into our next decoded bytes.
 *
 * Client use:
 *	s = sasl_client_new(mech, &params);
 *	if (sasl_mech_client_first(mech))   rc = sasl_step(s, NULL, 0, &out, &why);  -> initial response
 *	on each 334 challenge:              rc = sasl_step(s, challenge, len, &out, &why);
 * Server use:
 *	s = sasl_server_new(mech, &params);
 *	rc = sasl_step(s, ir_or_NULL, len, &out, &why);   NULL = no initial response
 *	while rc == SASL_MORE: send out as 334, feed the answer to sasl_step.
 *	rc == SASL_NEED_CRED: look at sasl_cred_request(s), answer (possibly
 *	    later, from a callback) with sasl_cred_supply(s, &answer), then
 *	    call sasl_step(s, NULL, 0, &out, &why) to resume.
 *
 * SCRAM over SMTP (RFC 4954 has no "additional data with success"):
 *	server: the server-final "v=..." comes as SASL_MORE (send it in a
 *	    334); the client's empty answer then gives SASL_DONE.
 *	client: on "v=..." it verifies the server signature and returns
 *	    SASL_DONE with an empty out; the glue sends the empty line when
 *	    the server still sent 334, and expects 235.  Other client
 *	    mechanisms return SASL_MORE with their last message; 235 after
 *	    that is success (only SCRAM's client can verify the server).
 *
 * "in == NULL" means "no message"; "in != NULL, inlen == 0" is an empty
 * message (AUTH X = / an empty 334 answer).  Every sasl_step() appends
 * to out (decoded bytes); SASL_MORE with an empty out is a valid empty
 * challenge ("334 ").  why_r is set to a static string for a log line on
 * every result other than SASL_MORE/SASL_DONE; it never holds a secret.
 */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct sasl_mech;	/* a const definition per mechanism */
struct sasl_sess;

/* Largest decoded SASL message either side accepts: RFC 4954 section 4
 * asks for 12288-octet AUTH lines; base64 makes that 9216 bytes. */
#define SASL_MSG_MAX 9216
/* Longest user name / password the mechanisms accept (bytes). */
#define SASL_NAME_MAX 255
#define SASL_PASS_MAX 1024

enum sasl_rc {
	SASL_DONE,	/* success (server: client authenticated; client: server verified) */
	SASL_MORE,	/* send out, feed the peer's answer to sasl_step() */
	SASL_FAIL,	/* wrong credentials, or server signature mismatch (client) */
	SASL_TEMPFAIL,	/* backend trouble: try again later (454 4.7.0) */
	SASL_BADSYNTAX,	/* malformed peer message (501 5.5.2) */
	SASL_NEED_CRED,	/* server only: credentials needed, see sasl_cred_request() */
};

/* What the server side of a mechanism needs from a credential store. */
enum sasl_cred_kind {
	SASL_CRED_PASSWORD,	/* verify a plaintext password (PLAIN, LOGIN) */
	SASL_CRED_CRAM_MD5,	/* HMAC-MD5 inner/outer states of the secret */
	SASL_CRED_SCRAM_SHA1,	/* salt, iterations, StoredKey, ServerKey */
	SASL_CRED_SCRAM_SHA256,
	SASL_CRED_OAUTH_TOKEN,	/* verify a bearer token (OAUTHBEARER, XOAUTH2):
				 * request.authcid is the user the message names
				 * ("" when none), request.password the token;
				 * the answer names the token's user */
};

/* ---- the registry, strongest first ---- */

size_t sasl_mech_count(void);
const struct sasl_mech *sasl_mech_at(size_t i);	/* i < count, strongest first */
/* Whole-token, case-insensitive lookup; NULL when unknown. */
const struct sasl_mech *sasl_mech_find(const char *name, size_t len);
const char *sasl_mech_name(const struct sasl_mech *m);	/* upper case */
/* Rank: higher is stronger (SCRAM-SHA-256 > SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN). */
int sasl_mech_strength(const struct sasl_mech *m);
/* Sends the password in the clear: offer/use only on a protected channel. */
bool sasl_mech_sends_password(const struct sasl_mech *m);
/* The client speaks first (PLAIN, SCRAM): has an initial response. */
bool sasl_mech_client_first(const struct sasl_mech *m);
/* An initial response is a protocol error (CRAM-MD5: 501 5.7.0). LOGIN
 * is server-first but accepts the user name as initial response. */
bool sasl_mech_forbids_initial(const struct sasl_mech *m);
enum sasl_cred_kind sasl_mech_cred_kind(const struct sasl_mech *m);
/* Carries a bearer token, not a password (OAUTHBEARER, XOAUTH2): a
 * client uses it only when configured to, never by preference. */
bool sasl_mech_uses_token(const struct sasl_mech *m);
/* A -PLUS mechanism (RFC 5802 section 6): binds the exchange to the TLS
 * channel, so it runs only over TLS with channel binding data. */
bool sasl_mech_binds_channel(const struct sasl_mech *m);
/* EXTERNAL (RFC 4422 appendix A): the identity comes from outside the
 * exchange (a verified TLS client certificate); no store is asked. */
bool sasl_mech_external(const struct sasl_mech *m);

/* ---- channel binding (RFC 5056) ---- */

/* RFC 9266 section 2: tls-exporter is 32 bytes of
 * TLS-Exporter("EXPORTER-Channel-Binding", "", 32). */
#define SASL_CB_EXPORTER_LEN 32
/* RFC 5929 section 4.1: tls-server-end-point is a hash of the server's
 * certificate; the longest hash OpenSSL knows is 64 bytes (SHA-512). */
#define SASL_CB_END_POINT_MAX 64

/* The channel binding data of one TLS connection, as both ends compute
 * it.  A type whose data is absent (no TLS 1.3: no exporter; a
 * certificate signed without a hash, such as Ed25519: no end point)
 * cannot be used. */
struct sasl_cb {
	uint8_t exporter[SASL_CB_EXPORTER_LEN];
	bool has_exporter;			/* TLS 1.3 only (RFC 9266 section 3) */
	uint8_t end_point[SASL_CB_END_POINT_MAX];
	size_t end_point_len;			/* 0: none */
};

/* Fills cb from an established TLS connection (ssl is an SSL *; void
 * here so that this header needs no OpenSSL).  server: ssl is the
 * server's end (the end point is its own certificate), else the
 * client's (the peer's certificate).  Returns true when at least one
 * binding type is available. */
bool sasl_cb_from_ssl(const void *ssl, bool server, struct sasl_cb *cb_r);
/* RFC 5056 names: "tls-exporter", "tls-server-end-point". */
#define SASL_CB_NAME_EXPORTER "tls-exporter"
#define SASL_CB_NAME_END_POINT "tls-server-end-point"

/* ---- sessions ---- */

struct sasl_client_params {
	const char *authcid;	/* user name, UTF-8 */
	const char *password;	/* copied; the copy is wiped on free; the
				 * access token for OAUTHBEARER/XOAUTH2 */
	const char *authzid;	/* NULL or "" for none */
};

struct sasl_server_params {
	const char *hostname;	/* for the CRAM-MD5 challenge */
	/* SCRAM, unknown user: the made-up salt is HMAC-SHA-256(this key,
	 * mechanism name and user name).  Give one key that outlives the
	 * process (postern: a key file, store_fake_key_load()) so that
	 * repeated attempts for an unknown user see one stable salt, even
	 * across restarts, as they would for a real user.  NULL: a key per session (existence then leaks
	 * to whoever tries twice).  Copied into the session, wiped on free. */
	const uint8_t *fake_salt_key;
	size_t fake_salt_key_len;
	/* SCRAM, unknown user: the iteration count announced, which must be
	 * what real users' entries hold.  0: SASL_SCRAM_FAKE_ITER_DEFAULT,
	 * what `postern passwd` writes. */
	unsigned fake_iterations;
	/* The TLS channel's binding data; NULL without TLS.  Copied. */
	const struct sasl_cb *cb;
	/* A -PLUS mechanism was offered to this client: plain SCRAM with
	 * the "y" flag is then a downgrade and fails (RFC 5802 section 6). */
	bool plus_offered;
	/* EXTERNAL: the user the TLS client certificate maps to; NULL or
	 * "" when there is none (EXTERNAL then fails).  Copied. */
	const char *external_user;
};
/* The iteration count `postern passwd` stores (RFC 7677's floor). */
#define SASL_SCRAM_FAKE_ITER_DEFAULT 4096u

/* Return NULL on allocation failure only. */
struct sasl_sess *sasl_client_new(const struct sasl_mech *m, const struct sasl_client_params *p);
struct sasl_sess *sasl_server_new(const struct sasl_mech *m, const struct sasl_server_params *p);
/* Wipes every secret the session held; NULL-safe; sets *sp = NULL. */
void sasl_sess_free(struct sasl_sess **sp);

enum sasl_rc sasl_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
		       struct buf *out, const char **why_r);

const struct sasl_mech *sasl_sess_mech(const struct sasl_sess *s);
/* Server: the authenticated (authentication) identity after SASL_DONE,
 * or the claimed one while SASL_NEED_CRED; NULL before it is known. */
const char *sasl_sess_authcid(const struct sasl_sess *s);
/* Server: the requested authorization identity, NULL when none. */
const char *sasl_sess_authzid(const struct sasl_sess *s);
/* Client: the error the server sent instead of a verdict (OAUTHBEARER
 * and XOAUTH2: the RFC 7628 JSON status, as received), for the caller
 * to show or decode; NULL when none came. */
const char *sasl_sess_peer_error(const struct sasl_sess *s);

/* Client: the TLS channel's binding data (copied), before the first
 * step; without it the session runs as without TLS.  SCRAM-*-PLUS binds
 * with tls-exporter when present, else tls-server-end-point; plain
 * SCRAM sends "y" (RFC 5802 section 6: we could bind, but the server
 * offered no -PLUS) when cb has any data, else "n". */
void sasl_sess_set_cb(struct sasl_sess *s, const struct sasl_cb *cb);

/* Tests only: use this nonce (SCRAM client nonce / server nonce part,
 * CRAM-MD5 challenge text) instead of a random one. Copied. */
void sasl_sess_set_test_nonce(struct sasl_sess *s, const char *nonce);

/* ---- server-side credential exchange ---- */

struct sasl_cred_request {
	enum sasl_cred_kind kind;
	const char *authcid;		/* user name after SASLprep */
	const uint8_t *password;	/* SASL_CRED_PASSWORD: the password;
					 * SASL_CRED_OAUTH_TOKEN: the token; borrowed */
	size_t password_len;
};

enum sasl_cred_status {
	SASL_CRED_OK,
	SASL_CRED_NOUSER,	/* unknown user (SCRAM then fails with a fake salt) */
	SASL_CRED_BADPASS,	/* SASL_CRED_PASSWORD: the password is wrong;
				 * SASL_CRED_OAUTH_TOKEN: the token is not valid */
	SASL_CRED_TEMPFAIL,	/* the store could not be read */
	SASL_CRED_NOSECRET,	/* user exists but has no secret of this kind */
};

#define SASL_SALT_MAX 64
#define SASL_KEY_MAX 32	/* SHA-256 */

struct sasl_cred_answer {
	enum sasl_cred_status status;
	uint8_t cram_md5[32];		/* outer then inner MD5 state, Dovecot layout */
	unsigned iterations;		/* SCRAM */
	uint8_t salt[SASL_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SASL_KEY_MAX];
	uint8_t server_key[SASL_KEY_MAX];
	size_t key_len;			/* 20 (SHA-1) or 32 (SHA-256) */
	/* SASL_CRED_OAUTH_TOKEN, OK: the user the token was issued to. */
	char token_user[SASL_NAME_MAX + 1];
	/* SASL_CRED_OAUTH_TOKEN, BADPASS: the RFC 7628 section 3.2.2 error
	 * fields ("" for absent; status "" means "invalid_token"). */
	char oauth_status[32];
	char oauth_scope[256];
	char oauth_openid_config[256];
};

/* Valid while the session is in SASL_NEED_CRED. */
const struct sasl_cred_request *sasl_cred_request(const struct sasl_sess *s);
/* Copies the answer into the session; the caller wipes its own copy. */
void sasl_cred_supply(struct sasl_sess *s, const struct sasl_cred_answer *a);

/* ---- deriving stored secrets from a password (for the credential store) ---- */

/* SCRAM: SaltedPassword = PBKDF2(SASLprep(password), salt, iterations);
 * fills stored_key/server_key/key_len of a. md is "SHA1" or "SHA256".
 * Returns 0, or -1 with *why_r set (e.g. password refused by SASLprep). */
int sasl_scram_derive(const char *md, const char *password, const uint8_t *salt,
		      size_t salt_len, unsigned iterations, struct sasl_cred_answer *a,
		      const char **why_r);
/* CRAM-MD5: the 32-byte HMAC-MD5 context (outer, inner) of the password. */
int sasl_cram_md5_derive(const char *password, uint8_t out[32]);

/* SASLprep (RFC 4013) through libidn's stringprep.  Writes a new
 * NUL-terminated string to *out_r (free with free() after wiping).
 * Returns 0, or -1 with *why_r set for prohibited or unassigned input. */
int sasl_saslprep(const char *in, char **out_r, const char **why_r);

#endif
