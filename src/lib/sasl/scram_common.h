/* scram_common.h - SCRAM (RFC 5802, RFC 7677) pieces shared by both
 * sides: attribute parsing over spans, saslname escapes, nonces, and the
 * key arithmetic.  Parameterised by the digest, so SCRAM-SHA-1 and
 * SCRAM-SHA-256 are one implementation. */
#ifndef POSTERN_SASL_SCRAM_COMMON_H
#define POSTERN_SASL_SCRAM_COMMON_H

#include "sasl/sasl_impl.h"
#include "util/buf.h"
#include "util/span.h"

/* RFC 5802 section 5.1: the client nonce is random; 24 bytes of
 * randomness (192 bits) base64 encode to 32 printable characters. */
#define SASL_SCRAM_NONCE_BYTES 24
/* Base64 of our own messages' pieces never exceeds a SASL message. */
#define SASL_SCRAM_AUTHMSG_MAX ((size_t)3 * SASL_MSG_MAX)

/* What both sides keep through one exchange. */
struct sasl_scram_conv {
	const EVP_MD *md;
	size_t len;		/* digest size */
	struct buf gs2;		/* the client's gs2 header */
	struct buf nonce;	/* client: its own nonce; server: the combined one */
	struct buf auth;	/* AuthMessage, built as the messages pass */
};

/* The data of the channel binding type name in cb, or NULL when cb is
 * NULL, the type is unknown or its data is absent; *len_r its length. */
const uint8_t *sasl_scram_cb_data(const struct sasl_cb *cb, struct span name, size_t *len_r);
/* The type a client binds with: tls-exporter when there is its data
 * (TLS 1.3, RFC 9266 section 3: the default there), else
 * tls-server-end-point; NULL when cb has neither. */
const char *sasl_scram_cb_pick(const struct sasl_cb *cb);
/* c= : appends base64(gs2-header || cbind-data) to out (RFC 5802
 * section 7: cbind-input = gs2-header [ cbind-data ]). */
int sasl_scram_cbind_input(struct buf *out, const struct buf *gs2, const uint8_t *data,
			   size_t len);

/* Sets up c for the mechanism's digest; 0, or -1 when OpenSSL lacks it
 * (c is still safe to free). */
int sasl_scram_conv_init(struct sasl_scram_conv *c, const char *digest);
/* Releases the buffers; c's owner wipes the rest. */
void sasl_scram_conv_free(struct sasl_scram_conv *c);

/* Whole-message checks: valid UTF-8, no NUL (value-char excludes it). */
bool sasl_scram_msg_valid(const uint8_t *in, size_t n);
/* Takes "X=value" off the front of *in, and the ',' after it if any.
 * Returns 0, or -1 when the next attribute is not name or is empty. */
int sasl_scram_attr(struct span *in, char name, struct span *val_r);
/* Peeks at the next attribute's name (0 when at the end). */
char sasl_scram_peek(struct span in);
/* The rest must be extensions, "attr-val *(',' attr-val)" (ignored).
 * Returns 0, or -1 with *why_r. */
int sasl_scram_extensions(struct span in, const char **why_r);
/* saslname: =2C and =3D are ',' and '='; any other '=' is an error.
 * Writes the SASLprep'd name to *out_r.  Returns 0 or -1 with *why_r. */
int sasl_scram_name_decode(struct span v, char **out_r, const char **why_r);
/* Appends name with ',' and '=' escaped. */
int sasl_scram_name_encode(struct buf *out, const char *name);
/* printable = %x21-2B / %x2D-7E, at least one. */
bool sasl_scram_nonce_valid(struct span v);
/* Appends a fresh nonce (the test nonce when set).  0 or -1. */
int sasl_scram_nonce_new(struct sasl_sess *s, struct buf *out);
/* Base64 value decoding to exactly want bytes (want != 0), or to 1..max
 * bytes (want == 0); returns the length, or -1. */
long sasl_scram_b64(struct span v, uint8_t *out, size_t want, size_t max);
/* i= : decimal digits, no leading zero; -1 when not a number. */
int sasl_scram_iter(struct span v, unsigned *out);
/* HMAC(key, msg) into out (EVP_MD_get_size bytes); 0 or -1. */
int sasl_scram_hmac(const EVP_MD *md, const uint8_t *key, size_t keylen,
		    const void *msg, size_t msglen, uint8_t *out);
/* SaltedPassword := Hi(Normalize(password), salt, i); 0 or -1 with *why_r. */
int sasl_scram_salted(const EVP_MD *md, const char *password, const uint8_t *salt,
		      size_t salt_len, unsigned iter, uint8_t *out, const char **why_r);

#endif
