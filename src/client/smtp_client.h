/* smtp_client.h - one SMTP submission client session on libevent.
 *
 * The session is a state machine driven by reply callbacks on a
 * bufferevent (bufferevent_openssl for TLS).  It never blocks: the
 * caller runs the event_base.  `postern send` runs a private base until
 * the session closes; `postern probe`, the outbox flusher and the
 * server's queue runner use the same code.
 *
 *   c = smtp_client_new(base, &opts, &cbs, arg);
 *   smtp_client_start(c);          connect, greeting, EHLO, [STARTTLS, EHLO], [AUTH]
 *     -> cbs.ready(arg, c)         now call smtp_client_send() (or _quit())
 *   smtp_client_send(c, &msg);     MAIL, RCPT..., DATA (pipelined when offered)
 *     -> cbs.sent(arg, c, &result) call smtp_client_send() again, or _quit()
 *   smtp_client_quit(c);           QUIT, close
 *     -> cbs.closed(arg, c, err)   err == NULL: clean end; else why it failed
 *   smtp_client_free(&c);          allowed inside cbs.closed (deferred) or after
 *
 * cbs.closed is called exactly once, for every session that was started,
 * and no callback comes after it.  A failure at any step (connect, TLS,
 * AUTH, a refused MAIL FROM...) ends the session through cbs.closed with
 * an error; a message whose recipients were only partly refused is not
 * a session failure: it is reported through cbs.sent.
 *
 * Transcript: every line sent or received goes to cbs.transcript (when
 * set), message content excepted.  SASL lines carry SMTP_LINE_SASL and
 * the offset of their base64 payload; when the payload holds a password
 * in some form that a reader could use (PLAIN, LOGIN), SMTP_LINE_SECRET
 * is set too, and `-v` prints "AUTH PLAIN ********".
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "smtp/ehlo.h"
#include "smtp/reply.h"

struct event_base;
struct evdns_base;
struct smtp_client;

enum smtp_tls_mode {
	SMTP_TLS_NONE,		/* clear text throughout (tls off) */
	SMTP_TLS_STARTTLS,	/* STARTTLS required: no STARTTLS offered is an error */
	SMTP_TLS_IMPLICIT,	/* TLS from the first byte (RFC 8314, port 465) */
	/* STARTTLS when offered, else clear (Postfix's "may", RFC 3207
	 * section 4: encryption without authentication).  The certificate
	 * is checked and reported but not required.  A STARTTLS that the
	 * server refuses leaves the session in the clear; a handshake that
	 * fails ends the session with a temporary failure (SMTP_FAIL_TLS):
	 * like Postfix, no retry in the clear on the same connection; the
	 * caller may retry with SMTP_TLS_NONE. */
	SMTP_TLS_OPPORTUNISTIC,
};

enum smtp_protocol {
	SMTP_PROTO_SMTP,	/* EHLO, one reply after the final dot */
	/* RFC 2033: LHLO; after the final dot, one reply per accepted
	 * recipient, in RCPT order. */
	SMTP_PROTO_LMTP,
};

enum smtp_auth_mode {
	SMTP_AUTH_OFF,		/* never authenticate */
	SMTP_AUTH_AUTO,		/* strongest mechanism both sides have; no AUTH offered is an error */
	SMTP_AUTH_MECH,		/* exactly opts.auth_mech */
};

struct smtp_client_opts {
	const char *host;	/* name to connect to, for SNI and the certificate check */
	unsigned port;
	/* Optional: connect here instead of resolving host (numeric
	 * address; the queue runner resolves MX itself).  NULL: resolve host. */
	const char *connect_addr;
	/* Optional: connect to this UNIX socket instead (LMTP's usual
	 * transport); host is then only a name for messages (may be NULL). */
	const char *unix_path;
	enum smtp_protocol protocol;
	const char *helo_name;	/* EHLO argument; NULL: "localhost" */
	/* Optional: bind the socket to this numeric address before
	 * connecting (msmtp's source_ip).  host is then resolved with a
	 * blocking getaddrinfo(): only `postern send` sets it. */
	const char *source_ip;

	enum smtp_tls_mode tls;
	/* NULL: build a context from the fields below.  Else borrowed: the
	 * caller configured verification (the server's queue runner). */
	SSL_CTX *ssl_ctx;
	const char *tls_trust_file;	/* NULL: the system store */
	bool tls_nocertcheck;		/* tls_certcheck off: accept any certificate */
	bool has_fingerprint;		/* pin the leaf: the digest of its DER */
	uint8_t fingerprint[32];
	size_t fingerprint_len;		/* 32: SHA-256; 20: SHA-1, 16: MD5 (msmtp's old forms); 0: 32 */
	const char *tls_host_override;	/* name for SNI and the check; NULL: host */
	const char *tls_cert_file;	/* client certificate (PEM), with tls_key_file; NULL: none */
	const char *tls_key_file;

	enum smtp_auth_mode auth;
	const char *auth_mech;	/* SMTP_AUTH_MECH: the mechanism name */
	const char *user;
	const char *password;	/* copied by smtp_client_new(), wiped on free */
	/* Lets a mechanism that sends the password (PLAIN, LOGIN) run over a
	 * connection without TLS.  `postern send` sets it only when the
	 * account names that mechanism with `auth plain|login` and has
	 * `tls off` (see config.h).  Otherwise such mechanisms are skipped
	 * on a clear connection, and `auth plain` there is an error. */
	bool allow_cleartext_password;
	/* password is an OAuth access token (the server's relay with
	 * relay_credentials = oauth:FILE): SMTP_AUTH_AUTO then picks among
	 * the token mechanisms (OAUTHBEARER before XOAUTH2, the registry's
	 * order) instead of skipping them. */
	bool token;

	unsigned timeout_sec;	/* per reply / connect; 0: 300 (RFC 5321 4.5.3.2) */

	/* RFC 3461 DSN: NOTIFY= on each RCPT and RET= on MAIL (upper case,
	 * as msmtp's dsn_notify / dsn_return).  When set and the server does
	 * not offer DSN, the message is not sent (result text says why). */
	const char *dsn_notify;
	const char *dsn_return;
};

/* ---- transcript ---- */

enum smtp_dir { SMTP_DIR_CLIENT, SMTP_DIR_SERVER, SMTP_DIR_NOTE };

enum smtp_line_flags {
	SMTP_LINE_SASL = 1u << 0,	/* carries base64 SASL data from payload_off on */
	SMTP_LINE_SECRET = 1u << 1,	/* that data holds a password (mask it) */
	SMTP_LINE_TLS = 1u << 2,	/* sent or received inside TLS */
};

struct smtp_line {
	enum smtp_dir dir;
	unsigned flags;
	const char *text;	/* without CRLF; may hold any byte: sanitize before printing */
	size_t len;
	size_t payload_off;	/* SMTP_LINE_SASL: base64 starts here (may be == len: empty) */
	const char *mech;	/* SMTP_LINE_SASL: the mechanism's upper-case name */
};

/* ---- TLS ---- */

struct smtp_tls_info {
	const char *version;	/* "TLSv1.3" */
	const char *cipher;	/* "TLS_AES_256_GCM_SHA384" */
	X509 *peer;		/* leaf certificate, borrowed; NULL if none */
	STACK_OF(X509) *chain;	/* as sent by the peer, borrowed; may be NULL */
	long verify_result;	/* X509_V_OK or an X509_V_ERR_* code */
	const char *verify_error;	/* X509_verify_cert_error_string(); "ok" when fine */
	bool verified;		/* chain and host name checked and good */
	bool fingerprint_ok;	/* only meaningful with has_fingerprint */
	uint8_t fingerprint[32];	/* SHA-256 of the leaf's DER */
};

/* ---- errors: the class first ---- */

/* Every outcome is classified first; what a caller does with it (retry,
 * bounce, a sysexits code) is derived from the class and the stage. */
enum smtp_class {
	SMTP_CLASS_OK,
	SMTP_CLASS_TEMP,	/* 4xx, connection trouble, timeouts, TLS: try later */
	SMTP_CLASS_PERM,	/* 5xx, refused credentials: trying again will not help */
};

/* Where in the session something happened. */
enum smtp_stage {
	SMTP_STAGE_CONNECT,	/* resolve, connect */
	SMTP_STAGE_GREETING,
	SMTP_STAGE_HELLO,	/* EHLO / HELO / LHLO */
	SMTP_STAGE_TLS,		/* STARTTLS, the handshake, the certificate */
	SMTP_STAGE_AUTH,
	SMTP_STAGE_MAIL,
	SMTP_STAGE_RCPT,
	SMTP_STAGE_DATA,	/* DATA, the content, the final dot */
	SMTP_STAGE_QUIT,
	SMTP_STAGE_LOCAL,	/* our side: the body source, memory */
};

/* The class of a reply code: 2xx/3xx OK, 4xx TEMP, else PERM (RFC 5321
 * 4.2.1; a code outside 200..599 is a broken server: PERM). */
enum smtp_class smtp_class_of_code(int code);
const char *smtp_class_name(enum smtp_class cls);	/* "ok", "temporary", "permanent" */
const char *smtp_stage_name(enum smtp_stage stage);	/* "connect", "rcpt", ... */

/* ---- messages ---- */

/* Where the content comes from: read() fills buf[0..cap) and sets *n_r
 * to the bytes written, 0 at the end.  Returns 0, or -1 when the
 * content cannot be read (the session then drops the connection
 * without the final dot, so that no partial message is ever delivered:
 * SMTP_FAIL_SOURCE).  Called from the event loop, only when the output
 * has drained: a slow source (a pipe) stalls the loop meanwhile, which
 * suits `postern send`; the queue runner reads a local file. */
struct smtp_body_src {
	int (*read)(void *arg, uint8_t *buf, size_t cap, size_t *n_r);
	void *arg;
};

/* A source over bytes in memory (the outbox; tests). */
struct smtp_body_mem {
	const uint8_t *p;
	size_t len, off;
};
struct smtp_body_src smtp_body_src_mem(struct smtp_body_mem *m, const uint8_t *p, size_t len);

struct smtp_msg {
	const char *from;	/* envelope sender, "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	/* The content, pulled in chunks while it is sent; the session
	 * dot-stuffs it and sends it otherwise as it is, byte for byte
	 * (CRLF line ends are the caller's business: `postern send`
	 * normalises, a relay passes on what it received), adding a final
	 * CRLF when it is missing (see smtp/dotstuff.h).  The source is
	 * borrowed until cbs.sent. */
	struct smtp_body_src body;
	/* Its size in bytes for SIZE= (RFC 1870), 0 when unknown (then no
	 * SIZE= and no check against the server's limit). */
	uint64_t size;
	/* The content has a byte >= 0x80: BODY=8BITMIME when the server
	 * offers 8BITMIME (RFC 6152). */
	bool eightbit;
	/* With eightbit and a server without 8BITMIME: true refuses to send
	 * (permanent, "5.6.3": RFC 6152 section 3 leaves converting or
	 * bouncing; we bounce), false sends it anyway with a note (what
	 * sendmail-style clients do: `postern send`). */
	bool strict_8bit;
	/* RFC 4954 section 5: the AUTH= value to pass on when the server
	 * offers AUTH: the original submitter's identity, unencoded (the
	 * session xtext-encodes it); "" sends AUTH=<> (identity unknown);
	 * NULL sends no AUTH= at all. */
	const char *auth;
	/* RFC 3461, passed on only when the server offers DSN (silently
	 * dropped otherwise: a relay's duty to the DSN request is then
	 * section 4.1's, not this session's).  Values as received: RET is
	 * FULL|HDRS, ENVID and ORCPT are already xtext.  NULL: none. */
	const char *dsn_ret, *dsn_envid;
	const char *const *rcpt_notify;	/* NULL or one per rcpt (each may be NULL) */
	const char *const *rcpt_orcpt;	/* NULL or one per rcpt: "rfc822;xtext" */
};

struct smtp_rcpt_result {
	const char *rcpt;	/* borrowed from the smtp_msg */
	int code;		/* reply to RCPT TO; 0 when it was never sent */
	char text[512];		/* smtp_reply_summary() of that reply */
	/* The final word for this recipient: delivered, or the class of its
	 * failure (the RCPT refusal, or the reply after the dot: in LMTP
	 * this recipient's own, in SMTP the message's). */
	bool delivered;
	enum smtp_class cls;
	int data_code;		/* the reply after the dot for it, 0: none */
	char data_text[512];
};

struct smtp_send_result {
	bool delivered;		/* the server took it for at least one recipient */
	size_t naccepted;	/* recipients accepted at RCPT */
	size_t ndelivered;	/* recipients delivered (LMTP: may be < naccepted) */
	const struct smtp_rcpt_result *rcpts;	/* one per msg->rcpts, same order */
	size_t nrcpts;
	int code;		/* the deciding reply: to MAIL, DATA or the dot (0: none) */
	char text[512];		/* its summary, or why nothing was sent (SIZE) */
	/* The class of the message as a whole when not delivered (every
	 * recipient refused: TEMP when all refusals were 4xx), OK else. */
	enum smtp_class cls;
	enum smtp_stage stage;	/* where it was decided */
	bool size_refused;	/* not sent: larger than the server's SIZE */
	bool added_crlf;	/* the content lacked a final CRLF: one was added */
};

enum smtp_client_fail {
	SMTP_FAIL_CONNECT,	/* resolve / connect / connection lost: temporary */
	SMTP_FAIL_TIMEOUT,	/* no reply in time: temporary */
	SMTP_FAIL_TLS,		/* handshake or certificate verification failed */
	SMTP_FAIL_NOSTARTTLS,	/* STARTTLS required but not offered (no downgrade) */
	SMTP_FAIL_PROTOCOL,	/* unparseable reply, line too long, ... */
	SMTP_FAIL_REPLY,	/* an unexpected 4xx/5xx reply: see code */
	SMTP_FAIL_NOAUTH,	/* AUTH required but not offered / no usable mechanism */
	SMTP_FAIL_INSECURE,	/* only password mechanisms on a clear connection */
	SMTP_FAIL_AUTH,		/* credentials refused (535), or a SCRAM server
				   signature that did not verify */
	SMTP_FAIL_AUTH_TEMP,	/* 454 / every mechanism unavailable: temporary */
	SMTP_FAIL_INTERNAL,	/* out of memory, OpenSSL setup: a bug or the host */
	SMTP_FAIL_SOURCE,	/* the body source failed: connection dropped mid-DATA */
};

struct smtp_client_error {
	enum smtp_class cls;	/* decided first (see smtp_client_fail's table) */
	enum smtp_stage stage;
	enum smtp_client_fail kind;	/* the detail */
	int code;		/* the server's reply code, 0 when none */
	char enh[SMTP_ENH_MAX + 1];
	char reply[300];	/* smtp_reply_summary() of that reply, "" when none */
	const char *mech;	/* the SASL mechanism involved, or NULL */
	/* A complete sentence for the user that names host:port, and the
	 * mechanism and user where they matter, e.g.
	 * "smtp.example.test:587: authentication failed for alice with
	 *  SCRAM-SHA-256: 535 5.7.8 Authentication credentials invalid". */
	char msg[1024];
};

/* sysexits.h code for an error, derived from its class and stage:
 * TEMP -> EX_TEMPFAIL, PERM -> EX_UNAVAILABLE, except: refused
 * credentials (PERM at AUTH) EX_NOPERM; a TLS failure or a missing
 * STARTTLS EX_UNAVAILABLE although TEMP (a person at a terminal has a
 * setup to fix; the queue runner retries it); a broken peer
 * EX_PROTOCOL; our own trouble EX_SOFTWARE. */
int smtp_client_error_sysexit(const struct smtp_client_error *e);
/* e->cls == SMTP_CLASS_TEMP. */
bool smtp_client_error_is_temporary(const struct smtp_client_error *e);

/* ---- callbacks ---- */

struct smtp_client_cbs {
	/* Optional: every line, as it goes or comes. */
	void (*transcript)(void *arg, const struct smtp_line *line);
	/* Optional: after each EHLO (before and after STARTTLS). */
	void (*capabilities)(void *arg, const struct smtp_ehlo *caps, bool tls);
	/* Optional: after the TLS handshake, verified or not (a failed
	 * verification then ends the session through closed()). */
	void (*tls_up)(void *arg, const struct smtp_tls_info *info);
	/* Optional: SASL outcome per mechanism tried ("trying next" under -v). */
	void (*auth_result)(void *arg, const char *mech, bool ok, const struct smtp_reply *r);
	/* Required: the session is ready for smtp_client_send() / _quit(). */
	void (*ready)(void *arg, struct smtp_client *c);
	/* Required when sending: one message is done (see result). */
	void (*sent)(void *arg, struct smtp_client *c, const struct smtp_send_result *r);
	/* Required: the session ended. err NULL after a clean QUIT. */
	void (*closed)(void *arg, struct smtp_client *c, const struct smtp_client_error *err);
};

/* ---- the session ---- */

/* Returns NULL on allocation failure only; the strings in opts are
 * copied.  Nothing happens until smtp_client_start(). */
struct smtp_client *smtp_client_new(struct event_base *base, const struct smtp_client_opts *opts,
				    const struct smtp_client_cbs *cbs, void *arg);
/* Optional asynchronous resolver (the server); NULL: blocking getaddrinfo. */
void smtp_client_set_dns(struct smtp_client *c, struct evdns_base *dns);
/* Starts connecting. Failures are reported through cbs.closed, possibly
 * before this returns. */
void smtp_client_start(struct smtp_client *c);
/* Sends one message; only between ready/sent and the next send/quit.
 * Returns 0, or -1 when called in the wrong state or with a malformed
 * message (an address with spaces or brackets, a parameter value with
 * "=" or spaces, no body source): a caller bug. */
int smtp_client_send(struct smtp_client *c, const struct smtp_msg *m);
/* Sends QUIT and closes; cbs.closed(err = NULL) follows. */
void smtp_client_quit(struct smtp_client *c);
/* Drops the connection now; cbs.closed follows with err (may be NULL). */
void smtp_client_abort(struct smtp_client *c, const struct smtp_client_error *err);
/* Wipes the password, frees everything; NULL-safe; sets *cp = NULL.
 * Inside a callback of c the free is deferred to the end of it. */
void smtp_client_free(struct smtp_client **cp);

/* State queries (valid while the session lives). */
const struct smtp_ehlo *smtp_client_caps(const struct smtp_client *c);	/* latest EHLO */
const struct smtp_tls_info *smtp_client_tls(const struct smtp_client *c);	/* NULL before TLS */
const char *smtp_client_auth_mech(const struct smtp_client *c);	/* NULL unless authenticated */
const char *smtp_client_peer(const struct smtp_client *c);	/* "host:port" for messages */

/* Mechanism choice, exposed for tests and for probe: the mechanisms the
 * session would try, strongest first, given the server's caps, whether
 * the connection is encrypted and the options.  Writes up to max names
 * to names_r and returns their count; *why_r explains an empty result. */
size_t smtp_client_pick_mechs(const struct smtp_ehlo *caps, bool encrypted,
			      const struct smtp_client_opts *opts, const char **names_r,
			      size_t max, const char **why_r);

#endif
