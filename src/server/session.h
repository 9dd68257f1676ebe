/* session.h - one SMTP connection: state machine, line reader, replies,
 * and the commands (one file each: cmd_*.c).  Internal to src/server.
 *
 * Data flows one way: bufferevent input -> sess_process() -> command
 * check/run -> policy -> SASL step / spool write -> reply.  Replies go
 * into the bufferevent's output buffer; libevent writes them once the
 * current batch of pipelined commands is processed (RFC 2920).  While
 * more than SESS_OUTPUT_MAX of them wait, the session takes no command
 * and reads nothing; a client that stops reading meets the write
 * timeout, which frees the session at once.
 *
 * Memory: a session holds no buffer until it needs one (DATA, SASL), so
 * that thousands of idle connections stay cheap.
 */
#ifndef POSTERN_SERVER_SESSION_H
#define POSTERN_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server.h"
#include "server/spool.h"
#include "smtp/data.h"
#include "util/buf.h"
#include "util/span.h"

struct auth_msg;
struct bufferevent;
struct event;
struct evbuffer_cb_entry;
struct sasl_mech;
struct sasl_cb;
struct tls_conn;
struct evbuffer;

/* RFC 5321 4.5.3.1.4: "The maximum total length of a command line
 * including the command word and the <CRLF> is 512 octets." */
#define SESS_CMD_LINE_MAX 512
/* RFC 4954 section 4: "the AUTH command line ... and ... responses
 * are limited to 12288 octets" (including CRLF). */
#define SESS_AUTH_LINE_MAX 12288
/* Input kept at most (bufferevent high watermark): a few full AUTH
 * lines of pipelined commands; reading pauses above it. */
#define SESS_INPUT_MAX 65536
/* Un-stuffed DATA bytes buffered before each spool write. */
#define SESS_DATA_CHUNK 16384
/* Replies waiting for the client, at most, before the session stops
 * taking commands (backpressure: without it a client that sends HELP
 * without reading makes us buffer its replies without end).  RFC 2920
 * 3.1: a client that does not read while it writes "MUST also check the
 * TCP window size and make sure that each group of commands fits
 * entirely within the window.  The window size is usually, but not
 * always, 4K octets."  A group's replies are a few KB: our EHLO reply
 * is about 160 bytes (large MTAs send up to about 500), MAIL, RCPT and
 * DATA replies about 20 each, so even 100 recipients stay under 3 KB.
 * 32 KiB is ten times that; the commands behind the cap wait in the
 * input buffer (SESS_INPUT_MAX), where a conforming client's whole
 * group fits, so such a client never deadlocks against the cap.  Per
 * session the worst case is then about 100 KB (input + output). */
#define SESS_OUTPUT_MAX 32768
/* Commands are taken again once the output has drained to this: low
 * enough that a slow reader does not wake us for every segment, high
 * enough that the socket has replies to send while we make more. */
#define SESS_OUTPUT_LOW 8192

/* Whether each state reads and which timeout it runs under: one row
 * each in session.c's sess_states[]. */
enum sess_state {
	ST_STARTTLS,	/* 220 to STARTTLS queued: not reading until it is written */
	ST_HANDSHAKE,	/* TLS handshake running (implicit TLS or STARTTLS) */
	ST_CMD,		/* waiting for a command */
	ST_AUTH,	/* sent 334, waiting for the client's response line */
	ST_AUTH_WAIT,	/* credential lookup or failure delay: input waits */
	ST_DATA,	/* sent 354, reading the message */
	ST_COMMIT,	/* message closed, waiting for the group commit */
	ST_RCPT_WAIT,	/* RCPT for a local domain: the auth process checks it; input waits */
	ST_CLOSING,	/* flushing the last reply, then freed */
	ST__COUNT
};

struct session {
	uint64_t id;
	struct server *srv;
	struct gen *gen;		/* settings this session runs under */
	const struct config *cfg;	/* == gen->cfg */
	struct bufferevent *bev;
	enum listen_role role;
	enum sess_state state;
	char ip[48];			/* numeric client address */
	char addr[56];			/* "IP:port" ([IP]:port for IPv6) */

	char *helo;			/* EHLO/HELO argument, NULL before */
	bool esmtp;			/* EHLO (not HELO) */
	bool tls;
	const char *tls_version;	/* static strings from OpenSSL */
	const char *tls_cipher;
	bool tls_binds;			/* TLS gives channel binding data (SCRAM-*-PLUS) */
	char *tls_client_user;		/* EXTERNAL: the user a verified client certificate
					 * maps to (tls_client_map); NULL: none */
	/* tls_bev.c (issue 16 S4): TLS 1.3 records run by postern after
	 * the handshake, the SSL object freed (NULL: OpenSSL runs them);
	 * then also the channel binding data taken from the SSL before,
	 * when a -PLUS mechanism is enabled (else NULL). */
	struct tls_conn *tls_conn;
	struct sasl_cb *tls_cb;
	char *auth_user;		/* NULL until AUTH succeeded */
	const char *auth_mech;		/* static mechanism name */
	const struct sasl_mech *auth_m;	/* the exchange running, NULL when none */
	uint32_t auth_id;		/* its request to the auth process, 0 when none */
	struct event *auth_delay;	/* failure delay timer, made on first use */
	unsigned auth_failures;		/* AUTH failures and refusals in this session */
	char *rcpt_wait;		/* the RCPT being checked (ST_RCPT_WAIT), else NULL */

	/* The mail transaction; mail_from != NULL while one is open. */
	char *mail_from;
	char *auth_param;		/* MAIL FROM AUTH=, decoded; "<>" when untrusted */
	bool body_8bit;
	char **rcpts;
	size_t nrcpt;
	struct spool_msg *msg;
	char queue_id[SPOOL_ID_MAX];
	struct smtp_data data;
	struct buf dbuf;		/* DATA chunk; allocated during DATA only */
	struct buf hdr;			/* header section for the From check (cmd_data_from.c) */
	bool hdr_on, hdr_done;		/* checking From; the header's end was seen */
	size_t msg_size;
	bool spool_failed;

	bool discard_line;		/* skipping the rest of an overlong line */
	struct session_list *commit_on;	/* the commit list s waits on (wait_link), or NULL */
	bool greeted;			/* 220 sent */
	bool dead;			/* on srv->dead, freed soon */
	/* Backpressure (SESS_OUTPUT_MAX): while out_blocked, no command is
	 * taken and reading is off; out_watch watches the output buffer
	 * and wakes out_ev once it drained. */
	bool out_blocked;
	struct evbuffer_cb_entry *out_watch;
	struct event *out_ev;		/* made on first use */
	unsigned errors;
	unsigned nmsgs, nrcpt_total;

	TAILQ_ENTRY(session) link;	/* srv->sessions or srv->dead */
	TAILQ_ENTRY(session) wait_link;	/* srv->commit_wait */
	/* sess_out.c: clear text written by the session, not libevent */
	TAILQ_ENTRY(session) write_link;	/* srv->write_list */
	struct evbuffer_cb_entry *out_cb;
	bool on_write_list;
	bool direct_out;
	LIST_ENTRY(session) auth_link;	/* authc.c: waiting for the auth process */
};

/* ---- session.c ---- */
/* Starts a session on the accepted fd.  False when out of memory: the
 * fd is closed and nothing refers to the connection (the caller gives
 * back its per-address count). */
bool session_accept(struct server *srv, int fd, const struct sockaddr *sa, socklen_t salen,
		    enum listen_role role);
void session_free(struct session **sp);
/* Moves s to state to and applies that state's row (session.c
 * sess_states[]): reading on or off (off anyway while the output is
 * blocked), and its timeout, set only when it differs from the one
 * running.  s->bev must be attached. */
void sess_set_state(struct session *s, enum sess_state to);
/* Attaches bev (plain or TLS on the socket) with our callbacks and
 * the current state's reading and timeout.  input_max: the input
 * buffer's high watermark (reading pauses above it), 0 for none. */
void sess_attach(struct session *s, struct bufferevent *bev, size_t input_max);
/* Frees the memory an empty input buffer still holds (no-op when it
 * holds bytes).  See session.c. */
void sess_input_release(struct session *s);
/* The output is all written: closes a closing session, starts TLS after
 * the 220 to STARTTLS (what libevent's write callback does). */
void sess_out_flushed(struct session *s);

/* sess_out.c */
/* Clear text: s writes its replies itself (see sess_out.c). */
void sess_out_direct(struct session *s);
/* Before s->bev goes: no more direct writes for it.  Idempotent. */
void sess_out_detach(struct session *s);
/* libevent wrote the rest of s's output: writing off again. */
void sess_out_drained(struct session *s);
/* Reads again if the state reads, with its timeout started anew, and
 * handles input that is already buffered.  No-op when closing. */
void sess_resume(struct session *s);
/* Stops reading; the reply already queued is flushed, then freed. */
void sess_close(struct session *s);
/* 421 4.3.2 and close when shutting down and no transaction is open. */
bool sess_shutdown_if_idle(struct session *s);
/* Adds a copy of mailbox to the transaction's recipients: 0, or -1
 * when out of memory (nothing added). */
int sess_txn_add_rcpt(struct session *s, const char *mailbox);
/* Ends the mail transaction (RFC 5321 4.1.1.5 RSET semantics). */
void sess_txn_reset(struct session *s);
/* Forgets everything learned from the client (STARTTLS, RFC 3207 4.2). */
void sess_forget(struct session *s);

/* ---- dispatch.c ---- */
/* Runs one command line (without CRLF) through the table's gates. */
void sess_dispatch(struct session *s, struct span line);

/* ---- reply.c ---- */
/* "CODE ENH text": enh NULL for replies without an enhanced code. */
void sess_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* One line of a multi-line reply: "CODE-text" or, when last, "CODE text". */
void sess_reply_line(struct session *s, int code, bool last, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A reply to a client error: counts it, and after max_errors adds
 * "421 4.7.0 Too many errors" and closes. */
void sess_fail(struct session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- the commands: each checks, replies itself, acts ---- */
void cmd_ehlo(struct session *s, struct span arg);
void cmd_helo(struct session *s, struct span arg);
void cmd_auth(struct session *s, struct span arg);
void cmd_auth_response(struct session *s, struct span line);
/* The auth process answered (CONTINUE, OK, FAIL), or m == NULL: it went
 * away (454). */
void cmd_auth_answer(struct session *s, const struct auth_msg *m);
void cmd_mail(struct session *s, struct span arg);
void cmd_rcpt(struct session *s, struct span arg);
/* The auth process answered the RCPT check of s->rcpt_wait (an
 * RCPT_ANSWER), or m == NULL: it went away (451 4.3.0). */
void cmd_rcpt_answer(struct session *s, const struct auth_msg *m);
void cmd_data(struct session *s, struct span arg);
/* DATA content: consumes what is buffered; true when the end was seen. */
bool cmd_data_feed(struct session *s);
void cmd_data_committed(struct session *s, bool ok, const char *why);
/* cmd_data_from.c (check_header_from): begin after the 354, capture
 * every content chunk, and at the end refuse (reply 550 5.7.1, true) or
 * let the message through (false).  Freed by sess_txn_reset(). */
void data_from_begin(struct session *s);
void data_from_capture(struct session *s, const uint8_t *p, size_t n);
bool data_from_refuse(struct session *s);
void cmd_starttls(struct session *s, struct span arg);
void cmd_rset(struct session *s, struct span arg);
void cmd_noop(struct session *s, struct span arg);
void cmd_quit(struct session *s, struct span arg);
void cmd_vrfy(struct session *s, struct span arg);
void cmd_help(struct session *s, struct span arg);

/* ---- policy.c: one predicate per decision (STYLE.md 6) ---- */
bool policy_may_starttls(const struct session *s);
/* True while s must do STARTTLS before AUTH and MAIL (submission_tls):
 * EHLO then offers no AUTH, and the dispatcher answers 530 5.7.0. */
bool policy_needs_starttls(const struct session *s);
enum policy_mech { POLICY_MECH_OK, POLICY_MECH_UNKNOWN, POLICY_MECH_NEEDS_TLS };
/* May s use mechanism m (NULL-safe: unknown)?  Decides both the EHLO
 * AUTH list and the AUTH command's 504 / 538. */
enum policy_mech policy_mech_check(const struct session *s, const struct sasl_mech *m);
bool policy_mech_offered(const struct session *s, const struct sasl_mech *m);
/* Did EHLO offer s a SCRAM-*-PLUS?  Then plain SCRAM with the gs2 flag
 * "y" is a downgrade (RFC 5802 section 6; the auth process decides). */
bool policy_plus_offered(const struct session *s);
bool policy_may_auth(const struct session *s);
bool policy_auth_required(const struct session *s);
/* 0 when the session may send to mailbox, else -1 (relay denied). */
int policy_rcpt(const struct session *s, const char *mailbox);
/* Must the auth process say whether mailbox is a known local recipient
 * before RCPT gets 250?  For every recipient in local_domains (any
 * session: an authenticated user's mail to a mistyped colleague would
 * bounce as well), except postmaster (RFC 5321 4.5.1: "MUST support the
 * reserved mailbox postmaster", so it never depends on a map). */
bool policy_rcpt_verify(const struct session *s, const char *mailbox);
/* May the session use address as envelope sender (MAIL FROM, 553 5.7.1)
 * or From header address (check_header_from, 550 5.7.1)?  Authenticated
 * sessions on any listener: sender_login_map or its default rule
 * (sendermap.h); the null sender "" always; unauthenticated: yes. */
bool policy_sender_owned(const struct session *s, const char *address);
/* Must the From header of this transaction's message be checked? */
bool policy_checks_header_from(const struct session *s);

/* ---- tls.c ---- */
/* Starts the server side of a TLS handshake on s over fd: the accepted
 * fd (implicit TLS), or after STARTTLS the session's socket, once the
 * 220 is written and the plain bufferevent gone (session.c).  Returns 0,
 * or -1 when no SSL object could be made (then fd is closed and s has
 * no bufferevent: the caller buries it). */
int tls_start(struct session *s, int fd);
/* A TLS session that ends on our side: writes the close_notify alert.
 * No-op without TLS. */
void tls_close_notify(struct session *s);
/* Called on BEV_EVENT_CONNECTED: records version and cipher, then
 * calls sess_tls_ready(). */
void tls_done(struct session *s);
/* The session's channel binding data (sasl.h struct sasl_cb, taken as
 * void * so that this header needs no sasl.h); false without TLS or
 * when the connection gives none. */
bool tls_channel_binding(const struct session *s, void *cb_r);
/* session.c: TLS is up; greets an implicit-TLS client, reads on. */
void sess_tls_ready(struct session *s);

/* ---- tls_bev.c: TLS 1.3 records without the SSL object ---- */
/* Sets ctx up to hand us each connection's traffic secrets (unless
 * tls_record_layer = openssl). */
void tls_bev_ctx_init(SSL_CTX *ctx, const struct config *cfg);
/* Starts counting ssl's records and keeping its secrets.  0, or -1 out
 * of memory (then that connection stays with OpenSSL). */
int tls_bev_watch(SSL *ssl);
/* At the end of a handshake (s->bev is the OpenSSL bufferevent, not yet
 * attached anew): when the connection qualifies (TLS 1.3, an AES-GCM or
 * ChaCha20 suite, OpenSSL holds no bytes), takes its keys, frees the
 * SSL object and its bufferevent, and attaches a filter of ours over a
 * socket bufferevent as s->bev.  False: nothing changed (OpenSSL goes
 * on), the reason logged at debug level.  cb: the connection's
 * channel binding data, kept when a -PLUS mechanism is enabled. */
bool tls_bev_takeover(struct session *s, SSL *ssl, const struct sasl_cb *cb);
/* Before s->bev is freed: sends close_notify if notify, and pushes what
 * waits for the socket (an alert) with one non-blocking write.  No-op
 * without tls_conn. */
void tls_bev_end(struct session *s, bool notify);
/* After reading was switched on: opens the records that arrived while
 * it was off (they stay in the socket bufferevent, where libevent
 * would not look again until more bytes come). */
void tls_bev_pull(struct session *s);
/* The buffer whose draining means bytes reached the kernel: the socket
 * bufferevent's output under our filter, else s->bev's. */
struct evbuffer *tls_bev_wire_output(const struct session *s);
/* The channel binding data kept at the takeover; false: none kept. */
bool tls_bev_binding(const struct session *s, struct sasl_cb *cb_r);

/* ---- authc.c: the auth process, seen from here ---- */
/* Takes fd (one end of a socketpair to the auth process) as the auth
 * connection; sessions waiting on the previous one get 454.  0 or -1. */
int authc_attach(struct server *srv, int fd);
/* Did the auth process announce m (its store can complete it)? */
bool authc_offers(const struct server *srv, const struct sasl_mech *m);
/* AUTH_START for s with mechanism m and initial response ir (NULL:
 * none); AUTH_CONT with the client's next decoded message.  0, or -1
 * when there is no auth process (answer 454). */
int authc_start(struct session *s, const struct sasl_mech *m, const uint8_t *ir, size_t irlen);
int authc_cont(struct session *s, const uint8_t *p, size_t n);
/* RCPT_CHECK for mailbox; cmd_rcpt_answer() follows.  0, or -1 when
 * there is no auth process (answer 451). */
int authc_rcpt(struct session *s, const char *mailbox);
/* Ends s's request, if any (AUTH_CANCEL); no answer will come. */
void authc_cancel(struct session *s);
void authc_free(struct server *srv);

/* ---- received.c ---- */
/* Appends the Received: header for the current transaction, dated now
 * (local time with its offset), to out.  Returns 0, or -1 when out is
 * full or the date cannot be formatted. */
int received_format(const struct session *s, time_t now, struct buf *out);

#endif
