/* loadgen.h - the SMTP load generator of bench/run (issue 16).
 *
 * One process, one epoll loop per thread, many sessions per loop, each
 * running a scripted lockstep dialogue (no PIPELINING):
 *   greeting, EHLO, [STARTTLS, handshake, EHLO], [AUTH PLAIN | SCRAM-SHA-256],
 *   { MAIL, RCPT, DATA, message, "." } x per_conn, QUIT
 * Every reply code is checked against the one the step expects; any other
 * code, a closed connection or a reply that takes longer than the reply
 * timeout is an error, never a success.  loadgen.c has options and output,
 * loadgen_sess.c the dialogue, loadgen_io.c sockets and TLS.
 */
#ifndef POSTERN_LOADGEN_H
#define POSTERN_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

struct sasl_sess;

enum lg_mode { LG_SEND, LG_LOGIN, LG_IDLE };
enum lg_tls { LG_TLS_NONE, LG_TLS_STARTTLS, LG_TLS_IMPLICIT };
enum lg_auth { LG_AUTH_NONE, LG_AUTH_PLAIN, LG_AUTH_SCRAM };

/* What the session waits for; names in lg_step_name[]. */
enum lg_step {
	ST_CONNECT, ST_HANDSHAKE, ST_GREET, ST_EHLO, ST_STARTTLS, ST_AUTH,
	ST_MAIL, ST_RCPT, ST_DATA, ST_BODY, ST_QUIT, ST_IDLE, ST_CLOSED, ST__COUNT
};
extern const char *const lg_step_name[ST__COUNT];

struct lg_opts {
	struct sockaddr_in dst;
	uint32_t src_first;	/* host order; 0: let the kernel choose */
	unsigned src_count;
	enum lg_mode mode;
	enum lg_tls tls;
	enum lg_auth auth;
	unsigned clients;	/* concurrent sessions (idle mode: sessions to hold) */
	unsigned threads;
	unsigned per_conn;	/* messages per connection */
	size_t size;		/* message size in bytes */
	double seconds;		/* no new message or login after this */
	double grace;		/* hard bound: seconds after `seconds` */
	double reply_timeout;
	uint64_t count;		/* stop after this many messages/logins (0: no limit) */
	unsigned ramp;		/* idle mode: sessions being set up at once per thread */
	double hold;		/* idle mode: seconds to hold (<0: until stdin closes) */
	const char *user, *password, *from, *rcpt;
	char *message;		/* the DATA payload, ending in CRLF.CRLF */
	size_t message_len;
	SSL_CTX *ssl_ctx;
};

/* Latency histogram in microseconds: 32 linear buckets per power of two
 * (at most 3 % too high when a bucket's upper bound is reported). */
#define LG_HIST_SUB 32
#define LG_HIST_N (LG_HIST_SUB * 34)
struct lg_hist {
	uint64_t n[LG_HIST_N];
	uint64_t count, max_us;
};
void lg_hist_add(struct lg_hist *h, uint64_t us);
void lg_hist_merge(struct lg_hist *into, const struct lg_hist *h);
/* The upper bound of the bucket holding quantile q (0..1), in ms. */
double lg_hist_ms(const struct lg_hist *h, double q);

struct lg_stats {
	uint64_t messages, sessions, logins, established, errors;
	uint64_t errors_at[ST__COUNT];
	struct lg_hist msg, login;
	char first_error[160];
};

struct lg_sess {
	struct lg_loop *loop;
	int fd;
	SSL *ssl;
	enum lg_step step;
	bool tls_on, scram_done, counted_est, retry;
	uint32_t events;	/* epoll interest now registered */
	unsigned index, msgs_in_conn;
	struct sasl_sess *sasl;
	uint64_t t_start, deadline;	/* ns: of the timed step; reply deadline */
	const char *wp;		/* pending output (cmd[] or the shared message) */
	size_t wlen;
	char in[2048];		/* one reply, possibly multi-line */
	size_t inlen;
	char cmd[1024];
};

struct lg_loop {
	const struct lg_opts *o;
	int ep;
	unsigned first, n;	/* session indexes this loop owns */
	struct lg_sess *sess;
	struct lg_stats st;
	uint64_t t0, stop_at, hard_at;	/* ns, monotonic */
	unsigned open;		/* sessions not closed for good */
	unsigned connecting;	/* idle mode: set-ups in flight */
	unsigned next_idle;	/* idle mode: next session to open */
};

extern atomic_uint_fast64_t lg_started;	/* messages/logins begun, all threads */
extern atomic_bool lg_hold_over;		/* idle mode: stop holding */

uint64_t lg_now_ns(void);

/* loadgen_io.c */
int lg_io_connect(struct lg_sess *s);		/* 0 or -1 (error counted) */
int lg_io_flush(struct lg_sess *s);		/* 1 done, 0 pending, -1 error */
int lg_io_read(struct lg_sess *s);		/* bytes read, 0 would block, -1 EOF/error */
int lg_io_handshake(struct lg_sess *s);		/* 1 done, 0 pending, -1 error */
void lg_io_want(struct lg_sess *s, uint32_t events);
void lg_io_close(struct lg_sess *s);

/* loadgen_sess.c */
void lg_sess_start(struct lg_sess *s);		/* connect and run the script */
void lg_sess_event(struct lg_sess *s, uint32_t events);
void lg_sess_fail(struct lg_sess *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void lg_sess_check_timeout(struct lg_sess *s, uint64_t now);

#endif
