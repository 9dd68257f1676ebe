/* sasl_mech.h - for mechanism writers: what a mechanism is.
 *
 * A mechanism is one const struct sasl_mech; the registry lists them
 * strongest first, and policy (TLS only? initial response?) is derived
 * from its flags rather than from its name. */
#ifndef POSTERN_SASL_MECH_H
#define POSTERN_SASL_MECH_H

#include "sasl/sasl.h"

enum sasl_mech_flag {
	SASL_MECH_SENDS_PASSWORD = 1 << 0,	/* plaintext on the wire: TLS only */
	SASL_MECH_CLIENT_FIRST = 1 << 1,	/* has an initial response */
	SASL_MECH_FORBIDS_INITIAL = 1 << 2,	/* an initial response is an error */
	SASL_MECH_USES_TOKEN = 1 << 3,		/* a bearer token, not a password */
	SASL_MECH_CHANNEL_BINDING = 1 << 4,	/* -PLUS: TLS with binding data only */
	SASL_MECH_EXTERNAL = 1 << 5,		/* identity from TLS, not from a store */
};

/* Each side's start allocates s->state (0, or -1 on allocation failure);
 * step runs under the checks of sasl_step() in sess.c (size cap, not
 * after an end); free wipes and releases s->state (NULL-safe). */
typedef int sasl_start_fn(struct sasl_sess *s);
typedef enum sasl_rc sasl_step_fn(struct sasl_sess *s, const uint8_t *in, size_t inlen,
				  struct buf *out, const char **why_r);
typedef void sasl_free_fn(struct sasl_sess *s);

struct sasl_mech {
	const char *name;		/* upper case, as in EHLO */
	unsigned flags;			/* enum sasl_mech_flag */
	int strength;			/* higher is stronger */
	enum sasl_cred_kind cred_kind;
	const char *digest;		/* SCRAM: OpenSSL digest name; else NULL */
	sasl_start_fn *client_start;
	sasl_step_fn *client_step;
	sasl_free_fn *client_free;
	sasl_start_fn *server_start;
	sasl_step_fn *server_step;
	sasl_free_fn *server_free;
};

extern const struct sasl_mech sasl_plain_mech;
extern const struct sasl_mech sasl_login_mech;
extern const struct sasl_mech sasl_cram_md5_mech;
extern const struct sasl_mech sasl_scram_sha1_mech;
extern const struct sasl_mech sasl_scram_sha256_mech;
extern const struct sasl_mech sasl_scram_sha1_plus_mech;
extern const struct sasl_mech sasl_scram_sha256_plus_mech;
extern const struct sasl_mech sasl_external_mech;
extern const struct sasl_mech sasl_oauthbearer_mech;
extern const struct sasl_mech sasl_xoauth2_mech;

#endif
