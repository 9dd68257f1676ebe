/* derive.c - stored secrets derived from a password (SCRAM keys, the
 * CRAM-MD5 HMAC context), and resuming that context on the server.
 *
 * OpenSSL 3 has no public EVP call that exports or imports an MD5
 * midstate, yet the CRAM-MD5 secret is exactly that: the MD5 states of
 * HMAC's inner and outer pads after their first 64-byte block (Dovecot's
 * {CRAM-MD5} format, so that no plaintext password is kept).  So this one
 * file uses the deprecated low-level MD5_CTX, whose fields A..D are the
 * state, and silences only the deprecation warnings here. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"
#include "sasl/scram_common.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>

/* RFC 2104: the key is padded to the block size (64 bytes for MD5). */
#define CRAM_BLOCK 64

int
sasl_derive_scram_keys(const EVP_MD *md, const uint8_t *salted, size_t len,
		       uint8_t *client_key, uint8_t *stored_key, uint8_t *server_key)
{
	unsigned n = 0;
	uint8_t ck[EVP_MAX_MD_SIZE];
	int ok = HMAC(md, salted, (int)len, (const uint8_t *)"Client Key", 10, ck, &n) != NULL
		&& n == len
		&& EVP_Digest(ck, len, stored_key, &n, md, NULL) && n == len
		&& HMAC(md, salted, (int)len, (const uint8_t *)"Server Key", 10, server_key, &n) != NULL
		&& n == len;
	if (ok && client_key != NULL)
		memcpy(client_key, ck, len);
	OPENSSL_cleanse(ck, sizeof ck);
	return ok ? 0 : -1;
}

int
sasl_scram_derive(const char *mdname, const char *password, const uint8_t *salt,
		  size_t salt_len, unsigned iterations, struct sasl_cred_answer *a,
		  const char **why_r)
{
	const EVP_MD *md = EVP_get_digestbyname(mdname);
	if (md == NULL || (size_t)EVP_MD_get_size(md) > SASL_KEY_MAX) {
		*why_r = "unknown SCRAM digest";
		return -1;
	}
	if (salt_len == 0 || salt_len > SASL_SALT_MAX || iterations == 0
	    || iterations > SASL_SCRAM_ITER_MAX) {
		*why_r = "bad SCRAM salt or iteration count";
		return -1;
	}
	size_t len = (size_t)EVP_MD_get_size(md);
	uint8_t salted[SASL_KEY_MAX];
	/* The same SaltedPassword the client computes (SASLprep, PBKDF2). */
	if (sasl_scram_salted(md, password, salt, salt_len, iterations, salted, why_r) < 0)
		return -1;
	int ok = sasl_derive_scram_keys(md, salted, len, NULL, a->stored_key, a->server_key) == 0;
	OPENSSL_cleanse(salted, sizeof salted);
	if (!ok) {
		*why_r = "SCRAM key derivation failed";
		return -1;
	}
	a->key_len = len;
	a->iterations = iterations;
	memmove(a->salt, salt, salt_len);
	a->salt_len = salt_len;
	return 0;
}

static void
cram_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
cram_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
		| (uint32_t)p[3] << 24;
}

/* MD5 state after one block of key XOR pad, written as A,B,C,D LE. */
static int
cram_pad_state(const uint8_t key[CRAM_BLOCK], uint8_t pad, uint8_t out[16])
{
	uint8_t block[CRAM_BLOCK];
	MD5_CTX ctx;
	for (size_t i = 0; i < CRAM_BLOCK; i++)
		block[i] = key[i] ^ pad;
	int ok = MD5_Init(&ctx) && MD5_Update(&ctx, block, sizeof block);
	if (ok) {
		cram_put_le32(out, ctx.A);
		cram_put_le32(out + 4, ctx.B);
		cram_put_le32(out + 8, ctx.C);
		cram_put_le32(out + 12, ctx.D);
	}
	OPENSSL_cleanse(block, sizeof block);
	OPENSSL_cleanse(&ctx, sizeof ctx);
	return ok ? 0 : -1;
}

/* RFC 2104 section 2: the HMAC key, zero-padded to B bytes; "applications
 * that use keys longer than B bytes will first hash the key". */
static int
cram_key(const uint8_t *pw, size_t n, uint8_t key[CRAM_BLOCK])
{
	memset(key, 0, CRAM_BLOCK);
	if (n > CRAM_BLOCK)
		return EVP_Digest(pw, n, key, NULL, EVP_md5(), NULL) ? 0 : -1;
	memcpy(key, pw, n);
	return 0;
}

/* The password is used as is, without SASLprep: RFC 2195 predates it and
 * Dovecot's {CRAM-MD5} scheme hashes the raw bytes, which we match. */
int
sasl_cram_md5_derive(const char *password, uint8_t out[32])
{
	uint8_t key[CRAM_BLOCK];
	int rc = cram_key((const uint8_t *)password, strlen(password), key);
	if (rc == 0)
		rc = cram_pad_state(key, 0x5c, out);		/* outer */
	if (rc == 0)
		rc = cram_pad_state(key, 0x36, out + 16);	/* inner */
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

/* Continues an MD5 state that has hashed exactly one block. */
static int
cram_resume(const uint8_t state[16], const uint8_t *p, size_t n, uint8_t md[16])
{
	MD5_CTX ctx;
	int ok = MD5_Init(&ctx);
	ctx.A = cram_get_le32(state);
	ctx.B = cram_get_le32(state + 4);
	ctx.C = cram_get_le32(state + 8);
	ctx.D = cram_get_le32(state + 12);
	ctx.Nl = CRAM_BLOCK * 8;	/* bit count so far */
	ctx.Nh = 0;
	ok = ok && MD5_Update(&ctx, p, n) && MD5_Final(md, &ctx);
	OPENSSL_cleanse(&ctx, sizeof ctx);
	return ok ? 0 : -1;
}

int
sasl_derive_cram_md5_resume(const uint8_t secret[32], const uint8_t *chal,
			    size_t n, uint8_t digest[16])
{
	uint8_t inner[16];
	/* HMAC = H(K ^ opad, H(K ^ ipad, text)); both first blocks are done. */
	int rc = cram_resume(secret + 16, chal, n, inner);
	if (rc == 0)
		rc = cram_resume(secret, inner, sizeof inner, digest);
	OPENSSL_cleanse(inner, sizeof inner);
	return rc;
}
