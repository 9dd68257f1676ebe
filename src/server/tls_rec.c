/* tls_rec.c - TLS 1.3 record protection (RFC 8446 section 5) and its
 * key derivation (7.1-7.3), over buffers.  See tls_rec.h. */
#include "server/tls_rec.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

static const struct tls_rec_suite_def {
	uint16_t id;
	const char *cipher;	/* EVP name */
	const char *digest;	/* the suite's hash, for HKDF */
	size_t key_len, hash_len;
} tls_rec_suites[] = {
	[TLS_REC_AES_128_GCM] = { 0x1301, "AES-128-GCM", "SHA256", 16, 32 },
	[TLS_REC_AES_256_GCM] = { 0x1302, "AES-256-GCM", "SHA384", 32, 48 },
	[TLS_REC_CHACHA20] = { 0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32 },
};
_Static_assert(sizeof tls_rec_suites / sizeof *tls_rec_suites == TLS_REC__COUNT, "suites");

int
tls_rec_suite_of(uint16_t cipher_id)
{
	for (int i = 0; i < TLS_REC__COUNT; i++)
		if (tls_rec_suites[i].id == cipher_id)
			return i;
	return -1;
}

size_t
tls_rec_secret_len(enum tls_rec_suite suite)
{
	return tls_rec_suites[suite].hash_len;
}

/* The process's context for suite in one direction (enc 1: sealing),
 * made on first use with its cipher fetched once; NULL if OpenSSL
 * cannot.  XXX: process-wide state, on purpose (tls_rec.h): the
 * network process runs one thread, and a context per session would
 * cost more than the rest of an idle session. */
static EVP_CIPHER_CTX *
tls_rec_ctx(enum tls_rec_suite suite, int enc)
{
	static EVP_CIPHER_CTX *ctx[TLS_REC__COUNT][2];
	EVP_CIPHER_CTX **c = &ctx[suite][enc ? 1 : 0];
	if (*c != NULL)
		return *c;
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, tls_rec_suites[suite].cipher, NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (cipher == NULL || x == NULL || EVP_CipherInit_ex2(x, cipher, NULL, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(x);
		x = NULL;
	}
	EVP_CIPHER_free(cipher);	/* the context holds its own reference */
	*c = x;
	return x;
}

int
tls_rec_expand_label(enum tls_rec_suite suite, const uint8_t *secret, const char *label,
		     uint8_t *out, size_t outlen)
{
	/* 7.1: struct { uint16 length; opaque label<7..255> = "tls13 " +
	 * Label; opaque context<0..255>; } HkdfLabel; */
	static const char prefix[] = "tls13 ";
	size_t llen = strlen(label);
	uint8_t info[2 + 1 + sizeof prefix - 1 + 32 + 1];
	if (llen > 32 || outlen > 255)
		return -1;
	size_t i = 0;
	info[i++] = 0;
	info[i++] = (uint8_t)outlen;
	info[i++] = (uint8_t)(sizeof prefix - 1 + llen);
	memcpy(info + i, prefix, sizeof prefix - 1);
	i += sizeof prefix - 1;
	memcpy(info + i, label, llen);
	i += llen;
	info[i++] = 0;	/* empty context */

	const struct tls_rec_suite_def *def = &tls_rec_suites[suite];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t)def->digest,
						 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)secret,
						  def->hash_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, i),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	int ok = kctx != NULL && EVP_KDF_derive(kctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(kctx);	/* HKDF's context wipes its key */
	EVP_KDF_free(kdf);
	if (!ok)
		OPENSSL_cleanse(out, outlen);
	return ok ? 0 : -1;
}

int
tls_rec_set_secret(enum tls_rec_suite suite, struct tls_rec_dir *d, const uint8_t *secret)
{
	size_t hl = tls_rec_suites[suite].hash_len;
	memmove(d->secret, secret, hl);	/* tls_rec_update passes d->secret's update */
	d->seq = 0;
	if (tls_rec_expand_label(suite, d->secret, "key", d->key, tls_rec_suites[suite].key_len) < 0 ||
	    tls_rec_expand_label(suite, d->secret, "iv", d->iv, sizeof d->iv) < 0) {
		OPENSSL_cleanse(d, sizeof *d);
		return -1;
	}
	return 0;
}

int
tls_rec_update(enum tls_rec_suite suite, struct tls_rec_dir *d)
{
	uint8_t next[TLS_REC_SECRET_MAX];
	int rc = tls_rec_expand_label(suite, d->secret, "traffic upd", next,
				      tls_rec_suites[suite].hash_len);
	if (rc == 0)
		rc = tls_rec_set_secret(suite, d, next);
	else
		OPENSSL_cleanse(d, sizeof *d);
	OPENSSL_cleanse(next, sizeof next);
	return rc;
}

/* 5.3: "the padded sequence number is XORed with either the static
 * client_write_iv or server_write_iv". */
static void
tls_rec_nonce(const struct tls_rec_dir *d, uint8_t nonce[TLS_REC_IV])
{
	memcpy(nonce, d->iv, TLS_REC_IV);
	for (int i = 0; i < 8; i++)
		nonce[TLS_REC_IV - 1 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

static void
tls_rec_header(uint8_t hdr[TLS_REC_HDR], size_t len)
{
	hdr[0] = TLS_REC_APPDATA;	/* 5.2: opaque_type, always 23 */
	hdr[1] = 3;			/* legacy_record_version 0x0303 */
	hdr[2] = 3;
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
}

/* AEAD over n bytes at in into out (may be in), with the record's
 * header as additional data; the tag goes to / comes from tag.
 * Returns true when it worked (when opening: the tag matched). */
static bool
tls_rec_aead(const struct tls_rec *r, const struct tls_rec_dir *d, int enc, const uint8_t *hdr,
	     const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = tls_rec_ctx(r->suite, enc);
	uint8_t nonce[TLS_REC_IV];
	int outl = 0, finl = 0;
	if (c == NULL || n > TLS_REC_CIPHER_MAX)
		return false;
	tls_rec_nonce(d, nonce);
	bool ok = EVP_CipherInit_ex2(c, NULL, d->key, nonce, enc, NULL) == 1 &&
		  EVP_CipherUpdate(c, NULL, &outl, hdr, TLS_REC_HDR) == 1 &&
		  EVP_CipherUpdate(c, out, &outl, in, (int)n) == 1 && (size_t)outl == n &&
		  (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TLS_REC_TAG, tag) == 1) &&
		  EVP_CipherFinal_ex(c, out + n, &finl) == 1 && finl == 0 &&
		  (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TLS_REC_TAG, tag) == 1);
	OPENSSL_cleanse(nonce, sizeof nonce);
	return ok;
}

size_t
tls_rec_seal(struct tls_rec *r, uint8_t type, const uint8_t *in, size_t n, uint8_t *out)
{
	if (n > TLS_REC_PLAIN_MAX || r->wr.seq >= TLS_REC_SEQ_LIMIT)
		return 0;
	size_t inner = n + 1;	/* TLSInnerPlaintext: content, type, no zeros */
	tls_rec_header(out, inner + TLS_REC_TAG);
	uint8_t *body = out + TLS_REC_HDR;
	memmove(body, in, n);
	body[n] = type;
	if (!tls_rec_aead(r, &r->wr, 1, out, body, inner, body, body + inner)) {
		OPENSSL_cleanse(body, inner);
		return 0;
	}
	r->wr.seq++;
	return TLS_REC_SEALED(n);
}

static enum tls_rec_rc
tls_rec_fail(struct tls_rec_in *in, uint8_t alert, const char *why)
{
	in->alert = alert;
	in->why = why;
	return TLS_REC_FAIL;
}

/* A handshake message after the handshake.  4.6.3: KeyUpdate is the
 * only one a client sends us (we ask for no post-handshake
 * authentication and accept no early data); 5.1: "Handshake messages
 * MUST NOT span key changes": the record holds exactly the KeyUpdate. */
static enum tls_rec_rc
tls_rec_handshake(struct tls_rec *r, const uint8_t *p, size_t n, struct tls_rec_in *in)
{
	enum { KEY_UPDATE = 24 };
	if (n != 5 || p[0] != KEY_UPDATE || p[1] != 0 || p[2] != 0 || p[3] != 1)
		return tls_rec_fail(in, TLS_ALERT_UNEXPECTED_MESSAGE, "handshake message after the handshake");
	if (p[4] > 1)	/* update_not_requested(0), update_requested(1) */
		return tls_rec_fail(in, TLS_ALERT_DECODE_ERROR, "bad KeyUpdate");
	if (tls_rec_update(r->suite, &r->rd) < 0)
		return tls_rec_fail(in, TLS_ALERT_INTERNAL_ERROR, "cannot update the read key");
	in->update_requested = p[4] == 1;
	return TLS_REC_UPDATED;
}

/* The decrypted TLSInnerPlaintext p[0..n) (5.4): strip the zero
 * padding, the last non-zero byte is the content type. */
static enum tls_rec_rc
tls_rec_inner(struct tls_rec *r, const uint8_t *p, size_t n, struct tls_rec_in *in)
{
	/* 5.4: "The presence of padding does not change the overall
	 * record size limitations: the full encoded TLSInnerPlaintext
	 * MUST NOT exceed 2^14 + 1 octets." */
	if (n > TLS_REC_PLAIN_MAX + 1)
		return tls_rec_fail(in, TLS_ALERT_RECORD_OVERFLOW, "record too long");
	while (n > 0 && p[n - 1] == 0)
		n--;
	if (n == 0)	/* 5.4: "... MUST terminate ... unexpected_message" */
		return tls_rec_fail(in, TLS_ALERT_UNEXPECTED_MESSAGE, "record without content type");
	uint8_t type = p[--n];
	switch (type) {
	case TLS_REC_APPDATA:
		in->data = p;
		in->n = n;
		return TLS_REC_DATA;
	case TLS_REC_ALERT:
		if (n != 2)
			return tls_rec_fail(in, TLS_ALERT_DECODE_ERROR, "bad alert");
		in->alert = p[1];
		in->why = p[1] == TLS_ALERT_CLOSE_NOTIFY ? "close_notify" : "alert from the client";
		return TLS_REC_CLOSED;
	case TLS_REC_HANDSHAKE:
		return tls_rec_handshake(r, p, n, in);
	default:
		return tls_rec_fail(in, TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected content type");
	}
}

enum tls_rec_rc
tls_rec_open(struct tls_rec *r, uint8_t *buf, size_t len, struct tls_rec_in *in)
{
	memset(in, 0, sizeof *in);
	if (len < TLS_REC_HDR)
		return TLS_REC_MORE;
	size_t body = (size_t)buf[3] << 8 | buf[4];
	/* 5.1/5.2: after the handshake every record is opaque_type 23
	 * with legacy_record_version 0x0303. */
	if (buf[0] != TLS_REC_APPDATA)
		return tls_rec_fail(in, TLS_ALERT_UNEXPECTED_MESSAGE, "record type not application_data");
	if (buf[1] != 3 || buf[2] != 3)
		return tls_rec_fail(in, TLS_ALERT_PROTOCOL_VERSION, "record version not 0x0303");
	if (body > TLS_REC_CIPHER_MAX)	/* 5.2: "MUST ... record_overflow" */
		return tls_rec_fail(in, TLS_ALERT_RECORD_OVERFLOW, "record longer than 2^14+256");
	if (body < 1 + TLS_REC_TAG)
		return tls_rec_fail(in, TLS_ALERT_DECODE_ERROR, "record shorter than its tag");
	if (len - TLS_REC_HDR < body)
		return TLS_REC_MORE;
	if (r->rd.seq >= TLS_REC_SEQ_LIMIT)
		return tls_rec_fail(in, TLS_ALERT_INTERNAL_ERROR, "too many records for one key");
	size_t n = body - TLS_REC_TAG;
	uint8_t *p = buf + TLS_REC_HDR;
	in->used = TLS_REC_HDR + body;
	if (!tls_rec_aead(r, &r->rd, 0, buf, p, n, p, p + n))	/* 5.2: bad_record_mac */
		return tls_rec_fail(in, TLS_ALERT_BAD_RECORD_MAC, "record authentication failed");
	r->rd.seq++;
	return tls_rec_inner(r, p, n, in);
}

void
tls_rec_wipe(struct tls_rec *r)
{
	OPENSSL_cleanse(r, sizeof *r);
}

const char *
tls_rec_alert_name(uint8_t alert)
{
	switch (alert) {
	case TLS_ALERT_CLOSE_NOTIFY: return "close_notify";
	case TLS_ALERT_UNEXPECTED_MESSAGE: return "unexpected_message";
	case TLS_ALERT_BAD_RECORD_MAC: return "bad_record_mac";
	case TLS_ALERT_RECORD_OVERFLOW: return "record_overflow";
	case TLS_ALERT_DECODE_ERROR: return "decode_error";
	case TLS_ALERT_PROTOCOL_VERSION: return "protocol_version";
	case TLS_ALERT_INTERNAL_ERROR: return "internal_error";
	case 90: return "user_canceled";
	default: return "other";
	}
}
