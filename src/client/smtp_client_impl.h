/* smtp_client_impl.h - internals shared by smtp_client*.c only. */
#ifndef POSTERN_SMTP_CLIENT_IMPL_H
#define POSTERN_SMTP_CLIENT_IMPL_H

#include "client/smtp_client.h"
#include "smtp/dotstuff.h"
#include "util/buf.h"

struct bufferevent;
struct event;
struct sasl_sess;

enum smtp_client_state {
	ST_NEW,
	ST_CONNECTING,
	ST_HANDSHAKE,		/* TLS handshake (implicit or after STARTTLS) */
	ST_GREETING,
	ST_EHLO,
	ST_HELO,		/* EHLO refused: plain HELO (no TLS, no AUTH) */
	ST_STARTTLS,
	ST_AUTH,
	ST_READY,
	ST_MAIL,		/* MAIL, RCPT..., DATA replies outstanding */
	ST_DATA_OUT,		/* after 354: pulling, stuffing and writing the content */
	ST_BODY,		/* message sent, waiting for the reply(ies) to "." */
	ST_RSET,
	ST_QUIT,
	ST_CLOSED,
	ST__COUNT
};

/* One expected reply in the mail transaction. */
enum smtp_cmd { CMD_MAIL, CMD_RCPT, CMD_DATA };

struct smtp_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct smtp_client_opts o;	/* strings below are our copies */
	char *host, *connect_addr, *helo_name, *trust_file, *auth_mech, *user;
	char *source_ip, *tls_name, *cert_file, *key_file, *dsn_notify, *dsn_return, *unix_path;
	struct buf password;		/* wiped on free */
	struct smtp_client_cbs cb;
	void *arg;
	char peer[300];			/* "host:port" */

	enum smtp_client_state state;
	struct bufferevent *bev;	/* the socket, or the TLS filter over it */
	SSL_CTX *ctx;			/* ours (o.ssl_ctx == NULL) or borrowed */
	bool own_ctx;
	SSL *ssl;			/* owned by the filter bufferevent */
	bool tls;			/* the channel is encrypted now */
	bool tls_done_starttls;
	bool tls_tried;			/* opportunistic: STARTTLS tried (or refused) once */
	struct smtp_tls_info tlsinfo;
	char tls_version[32], tls_cipher[64];

	struct smtp_reply_parser rp;
	struct smtp_ehlo caps;
	struct event *defer_ev;		/* runs deferred work (see defer_fn) */
	void (*defer_fn)(struct smtp_client *c);
	bool eof_pending;		/* the server closed; handled in defer_cb */

	/* AUTH */
	const char *mechs[8];
	size_t nmechs, mech_i;
	struct sasl_sess *sasl;
	int sasl_last;			/* last enum sasl_rc */
	struct buf pending_ir;		/* initial response held back (too long) */
	const char *auth_mech_ok;

	/* the message in flight */
	const struct smtp_msg *msg;
	struct smtp_dotstuff stuff;
	uint8_t *chunk;			/* one read from the body source */
	size_t lmtp_i;			/* LMTP: next accepted recipient to get a reply */
	struct smtp_rcpt_result *rr;
	struct smtp_send_result res;
	enum smtp_cmd *expect;		/* replies still expected, in order */
	size_t nexpect, expect_i;
	size_t rcpt_sent;		/* RCPTs written (non-pipelined mode) */
	bool pipelining;
	bool mail_ok;

	struct smtp_client_error err;	/* what closed() reports */
	bool have_err;
	int depth;			/* callbacks of ours on the stack */
	bool free_pending;
};

/* smtp_client.c */
void smtp_client_set_state(struct smtp_client *c, enum smtp_client_state to);
void smtp_client_fail(struct smtp_client *c, enum smtp_client_fail kind, const struct smtp_reply *r,
		      const char *mech, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Writes one command line (CRLF added) and shows it in the transcript. */
void smtp_client_write_line(struct smtp_client *c, unsigned flags, const char *mech,
			    size_t payload_off, const char *text, size_t len);
void smtp_client_writef(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtp_client_note(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtp_client_after_ehlo(struct smtp_client *c);
void smtp_client_defer(struct smtp_client *c, void (*fn)(struct smtp_client *c));

/* smtp_client_tls.c */
int smtp_client_tls_ctx(struct smtp_client *c);
/* Wraps c->bev in a TLS filter and starts the handshake. */
int smtp_client_tls_start(struct smtp_client *c);
/* After the handshake: fills tlsinfo, checks it. 0 ok, -1 failed (reported). */
int smtp_client_tls_check(struct smtp_client *c);

/* smtp_client_auth.c */
void smtp_client_auth_start(struct smtp_client *c);
void smtp_client_auth_reply(struct smtp_client *c, const struct smtp_reply *r);
void smtp_client_auth_free(struct smtp_client *c);

/* smtp_client_mail.c */
void smtp_client_mail_reply(struct smtp_client *c, const struct smtp_reply *r);

/* smtp_client_body.c */
/* After 354: ST_DATA_OUT, and the content starts flowing. */
void smtp_client_body_start(struct smtp_client *c);
/* The output drained: pull more content (ST_DATA_OUT only). */
void smtp_client_body_pump(struct smtp_client *c);
void smtp_client_mail_free(struct smtp_client *c);

#endif
