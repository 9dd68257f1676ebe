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

#include "util/log.h"

/* The first OpenSSL error as text, for "tls_key PATH: reason". */
static const char *
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

static int
tls_mismatch(const struct config *cfg, char **err_r)
{
	ERR_clear_error();
	(void)!asprintf(err_r, "tls_key %s: does not match tls_certificate %s", cfg->tls_key,
			cfg->tls_certificate);
	return -1;
}

static int
tls_load(SSL_CTX *ctx, const struct config *cfg, char **err_r)
{
	if (tls_readable("tls_certificate", cfg->tls_certificate, err_r) < 0 ||
	    tls_readable("tls_key", cfg->tls_key, err_r) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_certificate) != 1) {
		(void)!asprintf(err_r, "tls_certificate %s: %s", cfg->tls_certificate, tls_reason());
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL compares key and certificate while loading already. */
		int r = ERR_GET_REASON(ERR_peek_last_error());
		if (r == X509_R_KEY_VALUES_MISMATCH || r == X509_R_KEY_TYPE_MISMATCH)
			return tls_mismatch(cfg, err_r);
		(void)!asprintf(err_r, "tls_key %s: %s", cfg->tls_key, tls_reason());
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_mismatch(cfg, err_r);
	return 0;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char **err_r)
{
	*err_r = NULL;
	if (cfg->tls_certificate == NULL)
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
	if (tls_load(ctx, cfg, err_r) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
tls_start(struct session *s, int fd)
{
	struct event_base *base = s->srv->base;
	SSL *ssl = SSL_new(s->gen->ssl);
	struct bufferevent *bev = NULL;
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

void
tls_done(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	s->tls = true;
	s->tls_version = ssl ? SSL_get_version(ssl) : "?";
	s->tls_cipher = ssl ? SSL_get_cipher_name(ssl) : "?";
	log_info("session=%016" PRIx64 " tls client=%s version=%s cipher=%s", s->id, s->addr,
		 s->tls_version, s->tls_cipher);
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
