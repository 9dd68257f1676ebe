/* tls_certs.c - the server's certificates into its SSL_CTX (issue 16
 * item 3).  Every tls_certificate/tls_key pair goes into the one
 * context, each into OpenSSL's slot for its key type, and OpenSSL picks
 * one per handshake from the client's signature_algorithms (TLS 1.3,
 * and TLS 1.2 with the cipher's authentication): an ECDSA P-256
 * signature costs a seventh of an RSA-2048 one, RSA stays for the
 * clients that know nothing else.
 *
 * The files are read here, not with SSL_CTX_use_certificate_chain_file
 * and SSL_CTX_use_PrivateKey_file: those put a key into the slot of the
 * key's own type, so the ECDSA pair's tls_key naming the RSA key would
 * pass every check OpenSSL makes (the RSA key matches the RSA
 * certificate) and leave the ECDSA certificate without its key, and a
 * second certificate of a type would silently replace the first.  Read
 * first, every pair is checked as a pair and against the others, with
 * FILE:LINE and the paths, before anything goes into the context. */
#include "server/session.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* One pair as read from its files. */
struct tls_pem {
	X509 *cert;
	STACK_OF(X509) *chain;	/* the certificates after the first; may be empty */
	EVP_PKEY *key;
	int type;		/* EVP_PKEY_get_base_id of the certificate's key */
};

/* The words an administrator knows for a key type: OpenSSL's slot
 * names. */
static const char *
tls_certs_type_name(int type)
{
	switch (type) {
	case EVP_PKEY_RSA: return "RSA";
	case EVP_PKEY_RSA_PSS: return "RSA-PSS";
	case EVP_PKEY_EC: return "ECDSA";
	case EVP_PKEY_ED25519: return "Ed25519";
	case EVP_PKEY_ED448: return "Ed448";
	case EVP_PKEY_DSA: return "DSA";
	default: return OBJ_nid2sn(type);
	}
}

/* Opens path for reading; else "FILE:LINE: KEY PATH: strerror". */
static FILE *
tls_certs_open(const struct config *cfg, unsigned line, const char *key, const char *path,
	       char **err_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		(void)!asprintf(err_r, "%s:%u: %s %s: %s", cfg->path, line, key, path,
				strerror(errno));
	return f;
}

/* The chain file: the server's certificate first (PEM, "TRUSTED
 * CERTIFICATE" too, as SSL_CTX_use_certificate_chain_file), then its
 * intermediates up to the end of the file. */
static int
tls_certs_read_chain(FILE *f, struct tls_pem *p)
{
	p->cert = PEM_read_X509_AUX(f, NULL, NULL, NULL);
	if (p->cert == NULL || (p->chain = sk_X509_new_null()) == NULL)
		return -1;
	X509 *ca;
	while ((ca = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(p->chain, ca) <= 0) {
			X509_free(ca);
			return -1;
		}
	}
	/* The end of the file is "no start line"; anything else is a
	 * broken certificate in the chain. */
	unsigned long e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
	return -1;
}

/* Reads the pair t into p; on error *err_r names the line and file. */
static int
tls_certs_read(const struct config *cfg, const struct config_tls_pair *t, struct tls_pem *p,
	       char **err_r)
{
	FILE *f = tls_certs_open(cfg, t->certificate_line, "tls_certificate", t->certificate,
				 err_r);
	if (f == NULL)
		return -1;
	ERR_clear_error();
	int rc = tls_certs_read_chain(f, p);
	(void)fclose(f);	/* read only */
	if (rc < 0) {
		(void)!asprintf(err_r, "%s:%u: tls_certificate %s: %s", cfg->path,
				t->certificate_line, t->certificate, tls_reason());
		return -1;
	}
	p->type = EVP_PKEY_get_base_id(X509_get0_pubkey(p->cert));
	if ((f = tls_certs_open(cfg, t->key_line, "tls_key", t->key, err_r)) == NULL)
		return -1;
	p->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	(void)fclose(f);
	if (p->key == NULL) {
		(void)!asprintf(err_r, "%s:%u: tls_key %s: %s", cfg->path, t->key_line, t->key,
				tls_reason());
		return -1;
	}
	return 0;
}

/* Pair i against itself and the pairs before it: one certificate per
 * key type (OpenSSL has one slot per type), and the key of the pair
 * matches the pair's certificate.  A key that matches another pair's
 * certificate is named as such: the lines are out of order. */
static int
tls_certs_check(const struct config *cfg, const struct tls_pem *p, size_t i, size_t n,
		char **err_r)
{
	const struct config_tls_pair *t = &cfg->tls[i];
	for (size_t j = 0; j < i; j++) {
		if (p[j].type != p[i].type)
			continue;
		(void)!asprintf(err_r, "%s:%u: tls_certificate %s: a second %s certificate (the first: "
				"tls_certificate %s, line %u); one certificate per key type",
				cfg->path, t->certificate_line, t->certificate,
				tls_certs_type_name(p[i].type), cfg->tls[j].certificate,
				cfg->tls[j].certificate_line);
		return -1;
	}
	if (X509_check_private_key(p[i].cert, p[i].key) == 1)
		return 0;
	ERR_clear_error();
	for (size_t j = 0; j < n; j++) {
		if (j == i || p[j].cert == NULL || X509_check_private_key(p[j].cert, p[i].key) != 1)
			continue;
		ERR_clear_error();
		(void)!asprintf(err_r, "%s:%u: tls_key %s: does not match tls_certificate %s (line %u); "
				"it is the key of tls_certificate %s (line %u): the n-th tls_key goes "
				"with the n-th tls_certificate", cfg->path, t->key_line, t->key,
				t->certificate, t->certificate_line, cfg->tls[j].certificate,
				cfg->tls[j].certificate_line);
		return -1;
	}
	ERR_clear_error();
	(void)!asprintf(err_r, "%s:%u: tls_key %s: does not match tls_certificate %s (line %u)",
			cfg->path, t->key_line, t->key, t->certificate, t->certificate_line);
	return -1;
}

static void
tls_certs_free(struct tls_pem *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		X509_free(p[i].cert);
		sk_X509_pop_free(p[i].chain, X509_free);
		EVP_PKEY_free(p[i].key);
	}
}

/* ---- which certificate a resumed session had ----
 *
 * A resumed handshake sends no certificate, and OpenSSL leaves current
 * the one an SSL starts with (the last pair loaded), not the one of the
 * handshake that made the session.  tls-server-end-point (RFC 5929 4.1,
 * SCRAM-*-PLUS) is the hash of the certificate the client got, which it
 * keeps with the session: so the session carries our certificate's key
 * type (the key type picks the slot), in the ticket (gen callback) and in the session cache (tls_certs_handshake_done), and a
 * resumed handshake makes that certificate current again. */

/* The key type travels as 4 bytes, most significant first: it is a
 * NID (EVP_PKEY_EC is 408), too big for one byte. */
#define TLS_CERTS_TYPE_LEN 4

/* A resumed session carries the type already (OpenSSL copies it into
 * the session of each new ticket), and the current certificate may not
 * be its own yet: only a new handshake's type is recorded. */
static void
tls_certs_remember(SSL *ssl)
{
	X509 *cert = SSL_get_certificate(ssl);
	SSL_SESSION *sess = SSL_get_session(ssl);
	if (SSL_session_reused(ssl) || cert == NULL || sess == NULL)
		return;
	uint32_t type = (uint32_t)EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
	unsigned char b[TLS_CERTS_TYPE_LEN] = { (unsigned char)(type >> 24),
						(unsigned char)(type >> 16),
						(unsigned char)(type >> 8), (unsigned char)type };
	if (SSL_SESSION_set1_ticket_appdata(sess, b, sizeof b) != 1)
		ERR_clear_error();	/* out of memory: that session binds to the default */
}

/* OpenSSL calls it before it seals a session into a ticket. */
static int
tls_certs_ticket_gen(SSL *ssl, void *arg)
{
	(void)arg;
	tls_certs_remember(ssl);
	return 1;
}

void
tls_certs_handshake_done(SSL *ssl)
{
	if (ssl == NULL)
		return;
	if (!SSL_session_reused(ssl)) {
		tls_certs_remember(ssl);
		return;
	}
	void *data = NULL;
	size_t len = 0;
	if (SSL_SESSION_get0_ticket_appdata(SSL_get0_session(ssl), &data, &len) != 1 ||
	    len != TLS_CERTS_TYPE_LEN)
		return;
	const unsigned char *b = data;
	int type = (int)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
	long more = SSL_set_current_cert(ssl, SSL_CERT_SET_FIRST);
	while (more == 1) {
		X509 *cert = SSL_get_certificate(ssl);
		if (cert != NULL && EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == type)
			return;
		more = SSL_set_current_cert(ssl, SSL_CERT_SET_NEXT);
	}
	/* The pair is gone (a reload dropped it): the binding fails, as it
	 * must, since we no longer hold the certificate the client has. */
	ERR_clear_error();
}

int
tls_certs_load(SSL_CTX *ctx, const struct config *cfg, char **err_r)
{
	struct tls_pem p[CONFIG_TLS_PAIRS_MAX];
	size_t n = cfg->ntls;
	int rc = 0;
	memset(p, 0, sizeof p);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tls_certs_read(cfg, &cfg->tls[i], &p[i], err_r);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tls_certs_check(cfg, p, i, n, err_r);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* override 0: a slot already taken is an error; the checks
		 * above make it one we have said already. */
		if (SSL_CTX_use_cert_and_key(ctx, p[i].cert, p[i].key, p[i].chain, 0) != 1) {
			(void)!asprintf(err_r, "%s:%u: tls_certificate %s: %s", cfg->path,
					cfg->tls[i].certificate_line, cfg->tls[i].certificate,
					tls_reason());
			rc = -1;
		}
	}
	tls_certs_free(p, n);
	if (rc == 0 && SSL_CTX_set_session_ticket_cb(ctx, tls_certs_ticket_gen, NULL, NULL) != 1) {
		(void)!asprintf(err_r, "TLS: %s", tls_reason());
		rc = -1;
	}
	return rc;
}
