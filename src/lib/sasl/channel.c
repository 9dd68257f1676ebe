/* channel.c - channel binding data of a TLS connection (RFC 5056), for
 * SCRAM-*-PLUS on both sides: tls-exporter (RFC 9266) and
 * tls-server-end-point (RFC 5929).  tls-unique (RFC 5929 section 3) is
 * not offered: it is unsafe without the extended master secret and
 * undefined for TLS 1.3 (RFC 9266 section 1). */
#include "sasl/sasl.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* RFC 9266 section 2: "TLS-Exporter(label="EXPORTER-Channel-Binding",
 * context_value="", key_length=32)", and section 3: only for TLS 1.3
 * (for 1.2 it would need the extended master secret). */
static void
cb_exporter(SSL *ssl, struct sasl_cb *cb)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	if (SSL_version(ssl) != TLS1_3_VERSION)
		return;
	cb->has_exporter = SSL_export_keying_material(ssl, cb->exporter, sizeof cb->exporter,
						      label, sizeof label - 1, NULL, 0, 1) == 1;
}

/* RFC 5929 section 4.1: the hash of the server's certificate, with "the
 * hash function ... used in the certificate's signatureAlgorithm", but
 * "if the certificate's signatureAlgorithm uses ... MD5 or SHA-1, then
 * use SHA-256".  A signature without a separate hash (Ed25519) gives no
 * binding of this type. */
static void
cb_end_point(X509 *cert, struct sasl_cb *cb)
{
	int mdnid = NID_undef;
	if (cert == NULL || X509_get_signature_info(cert, &mdnid, NULL, NULL, NULL) != 1)
		return;
	if (mdnid == NID_md5 || mdnid == NID_sha1)
		mdnid = NID_sha256;
	const EVP_MD *md = EVP_get_digestbynid(mdnid);
	unsigned n = 0;
	if (md == NULL || EVP_MD_get_size(md) > (int)sizeof cb->end_point
	    || X509_digest(cert, md, cb->end_point, &n) != 1)
		return;
	cb->end_point_len = n;
}

bool
sasl_cb_from_ssl(const void *ssl_v, bool server, struct sasl_cb *cb_r)
{
	SSL *ssl = (SSL *)(uintptr_t)ssl_v;	/* OpenSSL's getters take no const */
	memset(cb_r, 0, sizeof *cb_r);
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return false;
	cb_exporter(ssl, cb_r);
	cb_end_point(server ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl), cb_r);
	return cb_r->has_exporter || cb_r->end_point_len > 0;
}
