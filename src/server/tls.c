/* tls.c - the TLS context and the TLS side of a session: implicit TLS
 * on submissions (RFC 8314) and STARTTLS (RFC 3207), via libevent's
 * OpenSSL bufferevents. */
#include "server/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "sasl/sasl.h"
#include "server/clientmap.h"
#include "util/log.h"

/* The first OpenSSL error as text, for "tls_client_ca PATH: reason". */
const char *
tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

static int
tls_readable(const char *key, const char *path, char **err_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		(void)!asprintf(err_r, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	(void)fclose(f);	/* opened for reading only */
	return 0;
}

/* Never fails the handshake: an absent, unknown or broken client
 * certificate only means no EXTERNAL (tls_done looks at the result).
 * Gmail's "send mail as" and other MTAs present certificates we have
 * no reason to trust, and must still be able to submit. */
static int
tls_verify_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

/* tls_client_ca: ask every client for a certificate issued by these
 * CAs (their names go into the CertificateRequest), never require one
 * (SSL_VERIFY_PEER without SSL_VERIFY_FAIL_IF_NO_PEER_CERT). */
static int
tls_client_ca(SSL_CTX *ctx, const struct config *cfg, char **err_r)
{
	if (cfg->tls_client_ca == NULL)
		return 0;
	if (tls_readable("tls_client_ca", cfg->tls_client_ca, err_r) < 0)
		return -1;
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
	if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		(void)!asprintf(err_r, "tls_client_ca %s: %s", cfg->tls_client_ca,
				names == NULL ? "no PEM certificate in it" : tls_reason());
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_any);
	return 0;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char **err_r)
{
	*err_r = NULL;
	if (cfg->ntls == 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		(void)!asprintf(err_r, "TLS: %s", tls_reason());
		return NULL;
	}
	/* RFC 8996 retired TLS 1.0 and 1.1; RFC 8314 4.1 asks for 1.2+. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				 SSL_OP_NO_COMPRESSION);
	/* Idle sessions keep no read/write buffers: 10 000 of them must
	 * fit in about 100 MB. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	static const unsigned char sid[] = "postern";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
	if (tls_certs_load(ctx, cfg, err_r) < 0 || tls_client_ca(ctx, cfg, err_r) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_bev_ctx_init(ctx, cfg);
	return ctx;
}

int
tls_start(struct session *s, int fd)
{
	struct event_base *base = s->srv->base;
	SSL *ssl = SSL_new(s->gen->ssl);
	struct bufferevent *bev = NULL;
	/* tls_bev.c takes the records over after a TLS 1.3 handshake;
	 * without its watch OpenSSL simply keeps them. */
	if (ssl != NULL && !s->cfg->tls_record_openssl && tls_bev_watch(ssl) < 0)
		log_warn("session=%016" PRIx64 " out of memory: TLS records stay with OpenSSL", s->id);
	if (ssl != NULL)
		bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_err("session=%016" PRIx64 " cannot start TLS: %s", s->id, tls_reason());
		if (ssl != NULL)
			SSL_free(ssl);
		close(fd);
		return -1;
	}
	/* Clients that drop the connection without close_notify are common
	 * and harmless here: SMTP has its own end markers. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* No read watermark: with one, libevent's TLS bufferevent reserves
	 * 16 KiB of input again after every drain (its watermark callback
	 * reads at once), and an idle session keeps that (a 32 KiB chain).
	 * Input stays bounded without it: every reading state consumes
	 * the input whole (lines up to their cap, DATA in chunks), and the
	 * states that stop consuming switch reading off. */
	sess_attach(s, bev, 0);
	sess_set_state(s, ST_HANDSHAKE);
	return 0;
}

bool
tls_channel_binding(const struct session *s, void *cb_r)
{
	if (s->tls_conn != NULL)	/* the SSL is gone: what tls_bev.c kept */
		return tls_bev_binding(s, cb_r);
	SSL *ssl = s->tls && s->bev != NULL ? bufferevent_openssl_get_ssl(s->bev) : NULL;
	return sasl_cb_from_ssl(ssl, true, cb_r);
}

/* The client's certificate, when tls_client_ca is set: the user it
 * maps to if it verified (s->tls_client_user), and a log line either
 * way, so that an administrator sees why EXTERNAL was not offered. */
static void
tls_client_cert(struct session *s, SSL *ssl)
{
	X509 *cert = s->cfg->tls_client_ca != NULL && ssl != NULL ? SSL_get0_peer_certificate(ssl)
								    : NULL;
	if (cert == NULL)
		return;
	long v = SSL_get_verify_result(ssl);
	const char *user = v == X509_V_OK ? clientmap_user(s->gen->clients, cert) : NULL;
	char *subject = clientmap_subject(cert);
	char qs[LOG_SAFE_MAX] = "-", qu[LOG_SAFE_MAX] = "-";
	if (subject != NULL)
		log_quote(qs, sizeof qs, subject, strlen(subject));
	if (user != NULL)
		log_quote(qu, sizeof qu, user, strlen(user));
	log_info("session=%016" PRIx64 " client certificate subject=%s verify=\"%s\" user=%s", s->id,
		 qs, v == X509_V_OK ? "ok" : X509_verify_cert_error_string(v), qu);
	free(subject);
	if (user != NULL && (s->tls_client_user = strdup(user)) == NULL)
		log_warn("session=%016" PRIx64 " out of memory: no EXTERNAL", s->id);
}

void
tls_done(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	struct sasl_cb cb;
	tls_certs_handshake_done(ssl);
	s->tls = true;
	s->tls_version = ssl ? SSL_get_version(ssl) : "?";
	s->tls_cipher = ssl ? SSL_get_cipher_name(ssl) : "?";
	s->tls_binds = sasl_cb_from_ssl(ssl, true, &cb);
	tls_client_cert(s, ssl);
	/* Everything read from the SSL is taken above (version and cipher
	 * names are static strings): tls_bev.c may free it now. */
	bool ours = ssl != NULL && tls_bev_takeover(s, ssl, &cb);
	OPENSSL_cleanse(&cb, sizeof cb);
	log_info("session=%016" PRIx64 " tls client=%s version=%s cipher=%s records=%s", s->id,
		 s->addr, s->tls_version, s->tls_cipher, ours ? "postern" : "openssl");
	sess_tls_ready(s);
}

void
tls_close_notify(struct session *s)
{
	if (!s->tls || s->bev == NULL)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	if (ssl == NULL)
		return;
	/* RFC 8446 6.1: "Each party MUST send a "close_notify" alert
	 * before closing its write side of the connection, unless it has
	 * already sent some error alert."  We do not wait for the
	 * client's: closing right after ours is allowed, and SMTP's own
	 * QUIT/221 already ended the conversation.  A failure here (the
	 * client is gone) changes nothing for us. */
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}
