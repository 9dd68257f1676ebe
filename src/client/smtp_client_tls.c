/* smtp_client_tls.c - the client's TLS: context, handshake through a
 * bufferevent_openssl filter, certificate and host name verification,
 * fingerprint pinning, and what we tell the user when it fails. */
#include "client/smtp_client_impl.h"

#include <arpa/inet.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

void smtp_client_hook_bev(struct smtp_client *c);

/* msmtp's tls_cert_file + tls_key_file: a client certificate (for the
 * EXTERNAL mechanism, or a server that asks for one). */
static int
client_cert(struct smtp_client *c)
{
	const char *cert = c->o.tls_cert_file, *key = c->o.tls_key_file;
	if (cert == NULL && key == NULL)
		return 0;
	const char *key_name = "tls_cert_file", *bad = NULL;
	if (cert == NULL || key == NULL) {
		key_name = cert ? "tls_key_file" : "tls_cert_file";
		bad = "(not set; tls_cert_file and tls_key_file go together)";
	} else if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1) {
		bad = cert;
	} else if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1 ||
		   SSL_CTX_check_private_key(c->ctx) != 1) {
		key_name = "tls_key_file";
		bad = key;
	}
	if (bad == NULL)
		return 0;
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;
	smtp_client_fail(c, SMTP_FAIL_TLS, NULL, NULL, "client certificate: %s %s: %s", key_name, bad,
			 why ? why : "cannot read it");
	ERR_clear_error();
	return -1;
}

int
smtp_client_tls_ctx(struct smtp_client *c)
{
	if (c->o.ssl_ctx) {
		c->ctx = c->o.ssl_ctx;
		c->own_ctx = false;
		return 0;
	}
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "cannot create a TLS context");
		return -1;
	}
	c->own_ctx = true;
	/* RFC 8996: no TLS 1.0 / 1.1. */
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	/* The handshake itself does not stop on a bad certificate: we look
	 * at the verification result right after it, before one byte of
	 * SMTP is sent, so that the error can say exactly what was wrong
	 * (and probe can still show the certificate). */
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	int ok;
	if (c->o.tls_trust_file)
		ok = SSL_CTX_load_verify_locations(c->ctx, c->o.tls_trust_file, NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(c->ctx);
	if (ok != 1) {
		unsigned long e = ERR_get_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		smtp_client_fail(c, SMTP_FAIL_TLS, NULL, NULL, "cannot load the trust file %s: %s",
				 c->o.tls_trust_file ? c->o.tls_trust_file : "(system store)",
				 why ? why : "cannot read it, or no certificate in it");
		ERR_clear_error();
		return -1;
	}
	return client_cert(c);
}

static bool
is_ip_literal(const char *h)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

int
smtp_client_tls_start(struct smtp_client *c)
{
	SSL *ssl = SSL_new(c->ctx);
	if (ssl == NULL) {
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "cannot create a TLS session");
		return -1;
	}
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	/* msmtp's tls_host_override: the name to send and to check. */
	const char *name = c->o.tls_host_override ? c->o.tls_host_override : c->host;
	int ok;
	if (is_ip_literal(name)) {
		/* RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not
		 * permitted in "HostName"." - check the IP SAN instead. */
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, name);
	} else {
		/* RFC 6125: the name must match a DNS SAN; no partial wildcards. */
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
	}
	if (ok != 1) {
		/* Without the name set, verification would not check it. */
		SSL_free(ssl);
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL,
				 "cannot set the TLS host name %s for verification", name);
		return -1;
	}
	struct bufferevent *under = c->bev;
	/* The filter takes over the socket bufferevent (freed with it). */
	bufferevent_setcb(under, NULL, NULL, NULL, NULL);
	struct bufferevent *f = bufferevent_openssl_filter_new(
		c->base, under, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (f == NULL) {
		SSL_free(ssl);
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "cannot start TLS");
		return -1;
	}
	/* Without this, a peer that closes without close_notify looks
	 * like an error to libevent; we read replies, not EOFs. */
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	/* The filter moves its output into the socket's as fast as it can
	 * encrypt; the socket's high-water mark makes it wait there too, so
	 * a large message never piles up below our backpressure. */
	bufferevent_setwatermark(under, EV_WRITE, 0, (size_t)256 * 1024);
	c->bev = f;
	c->ssl = ssl;
	smtp_client_hook_bev(c);
	return 0;
}

static void
fill_info(struct smtp_client *c)
{
	struct smtp_tls_info *t = &c->tlsinfo;
	memset(t, 0, sizeof *t);
	/* Shown to people only; OpenSSL's names fit. */
	(void)snprintf(c->tls_version, sizeof c->tls_version, "%s", SSL_get_version(c->ssl));
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
	(void)snprintf(c->tls_cipher, sizeof c->tls_cipher, "%s", ci ? SSL_CIPHER_get_name(ci) : "?");
	t->version = c->tls_version;
	t->cipher = c->tls_cipher;
	t->peer = SSL_get0_peer_certificate(c->ssl);
	t->chain = SSL_get_peer_cert_chain(c->ssl);
	t->verify_result = SSL_get_verify_result(c->ssl);
	if (t->peer == NULL && t->verify_result == X509_V_OK)
		t->verify_result = X509_V_ERR_UNSPECIFIED;
	t->verify_error = t->peer ? X509_verify_cert_error_string(t->verify_result)
				  : "the server sent no certificate";
	t->verified = t->verify_result == X509_V_OK;
	unsigned len = 0;
	if (t->peer)
		X509_digest(t->peer, EVP_sha256(), t->fingerprint, &len);
	/* A pin may be SHA-1 or MD5 too (msmtp still takes them). */
	size_t want = c->o.fingerprint_len ? c->o.fingerprint_len : 32;
	const EVP_MD *md = want == 20 ? EVP_sha1() : want == 16 ? EVP_md5() : EVP_sha256();
	uint8_t pin[EVP_MAX_MD_SIZE];
	unsigned plen = 0;
	if (t->peer && c->o.has_fingerprint)
		X509_digest(t->peer, md, pin, &plen);
	t->fingerprint_ok = len == 32 && c->o.has_fingerprint && plen == want &&
			    CRYPTO_memcmp(pin, c->o.fingerprint, want) == 0;
}

/* Why the handshake failed, from the OpenSSL error queue. */
static void
handshake_failed(struct smtp_client *c)
{
	char why[256] = "connection closed during the handshake";
	unsigned long e;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		ERR_error_string_n(e, why, sizeof why);
	smtp_client_fail(c, SMTP_FAIL_TLS, NULL, NULL, "TLS handshake failed: %s", why);
}

int
smtp_client_tls_check(struct smtp_client *c)
{
	if (c->ssl == NULL || !SSL_is_init_finished(c->ssl)) {
		handshake_failed(c);
		return -1;
	}
	c->tls = true;
	fill_info(c);
	const struct smtp_tls_info *t = &c->tlsinfo;
	smtp_client_note(c, "TLS %s, cipher %s, certificate %s", t->version, t->cipher,
			 t->verified ? "verified" : t->verify_error);
	if (c->cb.tls_up)
		c->cb.tls_up(c->arg, t);
	if (c->state == ST_CLOSED)
		return -1;
	if (c->o.has_fingerprint) {
		/* msmtp: a pinned fingerprint replaces the chain check. */
		if (!t->fingerprint_ok) {
			smtp_client_fail(c, SMTP_FAIL_TLS, NULL, NULL,
					 "the server's certificate does not match tls_fingerprint");
			return -1;
		}
		return 0;
	}
	/* Opportunistic TLS encrypts against passive listening only: an
	 * unverified certificate is noted above, not refused (Postfix
	 * "may"; RFC 7435 section 1: anything better than the clear). */
	if (!t->verified && !c->o.tls_nocertcheck && c->o.tls != SMTP_TLS_OPPORTUNISTIC) {
		const char *hint = "";
		if (t->verify_result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    t->verify_result == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
		    t->verify_result == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
			hint = c->o.tls_trust_file ? " (not covered by tls_trust_file)"
						   : " (not covered by the system store; set tls_trust_file)";
		smtp_client_fail(c, SMTP_FAIL_TLS, NULL, NULL,
				 "TLS certificate verification failed: %s%s", t->verify_error, hint);
		return -1;
	}
	return 0;
}
