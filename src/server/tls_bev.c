/* tls_bev.c - after a TLS 1.3 handshake, postern runs the records
 * itself (tls_rec.c) and frees OpenSSL's SSL object and bufferevent:
 * an idle session keeps 200 bytes of keys instead of about 12 KB
 * (issue 16, S4).  What kernel TLS does, in user space: this kernel
 * has no "tls" ULP.
 *
 * OpenSSL 3.0 has no public getter for traffic keys or sequence
 * numbers, so while it runs the handshake we watch it:
 * - the keylog callback hands us CLIENT_TRAFFIC_SECRET_0 and
 *   SERVER_TRAFFIC_SECRET_0 (RFC 8446 7.1);
 * - the message callback shows every record header (SSL3_RT_HEADER,
 *   write_p 1 for ours) and every handshake message.  A direction's
 *   application keys start after its Finished (the server's write keys
 *   after the server's Finished, the read keys after the client's), so
 *   the records after it are numbered from 0: the NewSessionTickets
 *   OpenSSL sends before the handshake returns count on our side.  A
 *   KeyUpdate in either direction while OpenSSL runs: that connection
 *   stays with OpenSSL (rare, and simplest).
 * A wrong count fails the very first record (bad_record_mac), so the
 * interop tests see it at once.
 *
 * After the switch the session's s->bev is a libevent filter over a
 * socket bufferevent on the same fd: the input filter opens records
 * (a partial one stays in the socket bufferevent), the output filter
 * seals replies.  It seals once per loop iteration (flush_ev), not per
 * evbuffer_add, so that a pipelined group's replies share a record as
 * they did with OpenSSL's bufferevent. */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "sasl/sasl.h"
#include "server/tls_rec.h"
#include "util/log.h"

/* What we learn about one SSL while OpenSSL runs its handshake (ex
 * data of the SSL, freed and wiped with it). */
struct tls_cap {
	uint8_t client[TLS_REC_SECRET_MAX], server[TLS_REC_SECRET_MAX];
	size_t client_len, server_len;
	uint64_t rseq, wseq;	/* records under the application keys */
	bool r_app, w_app;	/* that direction's Finished went by */
	bool refuse;		/* KeyUpdate seen or a keylog line not understood */
};

/* A connection whose records we run. */
struct tls_conn {
	struct tls_rec rec;
	struct session *s;		/* NULL once the session is gone */
	struct bufferevent *under;	/* the socket bufferevent (the filter owns it) */
	struct event *flush_ev;		/* seals the replies of this loop iteration */
	struct evbuffer_cb_entry *watch;	/* on under's output: drained */
	bool failed;			/* a record failed: nothing more in or out */
};

static int tls_cap_index = -1;

static void
tls_cap_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr != NULL)
		OPENSSL_cleanse(ptr, sizeof(struct tls_cap));
	free(ptr);
}

static struct tls_cap *
tls_cap_of(const SSL *ssl)
{
	return tls_cap_index < 0 ? NULL : SSL_get_ex_data(ssl, tls_cap_index);
}

/* "LABEL <client_random hex> <secret hex>" (OpenSSL's NSS key log
 * format); OpenSSL wipes the line after this returns. */
static void
tls_cap_keylog(const SSL *ssl, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ", sv[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct tls_cap *c = tls_cap_of(ssl);
	uint8_t *dst;
	size_t *dlen;
	if (c == NULL)
		return;
	if (strncmp(line, cl, sizeof cl - 1) == 0) {
		dst = c->client;
		dlen = &c->client_len;
	} else if (strncmp(line, sv, sizeof sv - 1) == 0) {
		dst = c->server;
		dlen = &c->server_len;
	} else
		return;
	const char *hex = strchr(line + sizeof cl - 1, ' ');
	size_t n = hex != NULL ? strlen(++hex) : 0;
	if (n != 64 && n != 96) {
		c->refuse = true;
		return;
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			c->refuse = true;
			return;
		}
		dst[i] = (uint8_t)(hi << 4 | lo);
	}
	*dlen = n / 2;
}

static void
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): OpenSSL's msg_callback type */
tls_cap_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
	    void *arg)
{
	struct tls_cap *c = arg;
	if (content_type == SSL3_RT_HEADER) {
		if (write_p && c->w_app)
			c->wseq++;
		else if (!write_p && c->r_app)
			c->rseq++;
		return;
	}
	if (content_type != SSL3_RT_HANDSHAKE || len == 0)
		return;
	uint8_t type = *(const uint8_t *)buf;
	if (type == SSL3_MT_KEY_UPDATE)
		c->refuse = true;
	else if (type == SSL3_MT_FINISHED && write_p) {
		c->w_app = true;
		c->wseq = 0;
	} else if (type == SSL3_MT_FINISHED) {
		c->r_app = true;
		c->rseq = 0;
	}
}

void
tls_bev_ctx_init(SSL_CTX *ctx, const struct config *cfg)
{
	if (cfg->tls_record_openssl)
		return;
	if (tls_cap_index < 0)
		tls_cap_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_cap_free);
	if (tls_cap_index >= 0)
		SSL_CTX_set_keylog_callback(ctx, tls_cap_keylog);
}

int
tls_bev_watch(SSL *ssl)
{
	if (tls_cap_index < 0)
		return -1;
	struct tls_cap *c = calloc(1, sizeof *c);
	if (c == NULL || SSL_set_ex_data(ssl, tls_cap_index, c) != 1) {
		free(c);
		return -1;
	}
	SSL_set_msg_callback(ssl, tls_cap_msg);
	SSL_set_msg_callback_arg(ssl, c);
	return 0;
}

/* Stops watching ssl and wipes what was learnt. */
static void
tls_cap_drop(SSL *ssl)
{
	struct tls_cap *c = tls_cap_of(ssl);
	if (c == NULL)
		return;
	SSL_set_msg_callback(ssl, NULL);
	SSL_set_msg_callback_arg(ssl, NULL);
	(void)SSL_set_ex_data(ssl, tls_cap_index, NULL);
	tls_cap_free(NULL, c, NULL, 0, 0, NULL);
}

/* Why the connection stays with OpenSSL; NULL: it need not. */
static const char *
tls_bev_refusal(const struct session *s, SSL *ssl, const struct tls_cap *c, int *suite_r)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	*suite_r = ci != NULL ? tls_rec_suite_of(SSL_CIPHER_get_protocol_id(ci)) : -1;
	if (c == NULL)
		return "not watched";
	if (SSL_version(ssl) != TLS1_3_VERSION)
		return "not TLS 1.3";
	if (*suite_r < 0)
		return "a cipher suite we do not run";
	if (c->refuse)
		return "KeyUpdate during the handshake";
	size_t hl = tls_rec_secret_len((enum tls_rec_suite)*suite_r);
	if (!c->r_app || !c->w_app || c->client_len != hl || c->server_len != hl)
		return "traffic secrets not seen";
	/* Bytes OpenSSL read or decrypted but nobody took, or that wait to
	 * be written, would be lost with the SSL object. */
	if (SSL_pending(ssl) != 0 || SSL_has_pending(ssl) || BIO_wpending(SSL_get_wbio(ssl)) != 0 ||
	    evbuffer_get_length(bufferevent_get_input(s->bev)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) != 0)
		return "OpenSSL holds bytes";
	return NULL;
}

static void
tls_conn_free(void *arg)
{
	struct tls_conn *t = arg;
	if (t->flush_ev != NULL)
		event_free(t->flush_ev);
	tls_rec_wipe(&t->rec);
	free(t);
}

/* Seals n bytes of content type type into the socket bufferevent's
 * output.  0 or -1 (then the connection must close). */
static int
tls_bev_seal(struct tls_conn *t, uint8_t type, const uint8_t *p, size_t n)
{
	struct evbuffer *dst = bufferevent_get_output(t->under);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(dst, (ev_ssize_t)TLS_REC_SEALED(n), &v, 1) != 1 ||
	    v.iov_len < TLS_REC_SEALED(n))
		return -1;
	size_t len = tls_rec_seal(&t->rec, type, p, n, v.iov_base);
	if (len == 0)
		return -1;
	v.iov_len = len;
	return evbuffer_commit_space(dst, &v, 1);
}

/* Ends the connection: logs why and which alert (ours if send, else
 * the client's), sends ours, and lets the session's event callback
 * bury it (deferred: we are inside libevent's filter). */
static enum bufferevent_filter_result
tls_bev_fail(struct tls_conn *t, short what, uint8_t alert, bool send, const char *why)
{
	struct session *s = t->s;
	log_info("session=%016" PRIx64 " tls client=%s %s alert=%s%s: closing", s->id, s->addr, why,
		 tls_rec_alert_name(alert), send ? " sent" : "");
	if (send && !t->failed) {
		uint8_t a[2] = { 2, alert };	/* fatal */
		(void)tls_bev_seal(t, TLS_REC_ALERT, a, sizeof a);
	}
	t->failed = true;
	bufferevent_trigger_event(s->bev, (short)(what | BEV_EVENT_READING), BEV_TRIG_DEFER_CALLBACKS);
	return BEV_ERROR;
}

/* RFC 8446 4.6.3: "If the request_update field is set to
 * "update_requested", then the receiver MUST send a KeyUpdate of its
 * own with request_update set to "update_not_requested" prior to
 * sending its next Application Data record."  Ours goes under the
 * current write key, then that key is updated. */
static int
tls_bev_key_update(struct tls_conn *t)
{
	static const uint8_t ku[5] = { 24, 0, 0, 1, 0 };
	if (tls_bev_seal(t, TLS_REC_HANDSHAKE, ku, sizeof ku) < 0)
		return -1;
	return tls_rec_update(t->rec.suite, &t->rec.wr);
}

/* The input filter: one record from src (the socket's bytes) to dst
 * (what the session reads) per call; libevent calls again while
 * bytes remain and the session reads. */
static enum bufferevent_filter_result
tls_bev_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	   enum bufferevent_flush_mode mode, void *arg)
{
	struct tls_conn *t = arg;
	struct tls_rec_in in;
	uint8_t hdr[TLS_REC_HDR];
	size_t avail = evbuffer_get_length(src);
	if (t->failed || t->s == NULL) {
		evbuffer_drain(src, avail);
		return BEV_ERROR;
	}
	if (evbuffer_copyout(src, hdr, sizeof hdr) != (ev_ssize_t)sizeof hdr)
		return BEV_NEED_MORE;
	/* The header alone: a bad one fails now, before its body came. */
	enum tls_rec_rc rc = tls_rec_open(&t->rec, hdr, sizeof hdr, &in);
	size_t whole = TLS_REC_HDR + ((size_t)hdr[3] << 8 | hdr[4]);
	if (rc == TLS_REC_MORE && avail >= whole) {
		uint8_t *p = evbuffer_pullup(src, (ev_ssize_t)whole);
		if (p == NULL)
			return tls_bev_fail(t, BEV_EVENT_ERROR, TLS_ALERT_INTERNAL_ERROR, true, "out of memory");
		rc = tls_rec_open(&t->rec, p, whole, &in);
	}
	switch (rc) {
	case TLS_REC_MORE:
		return BEV_NEED_MORE;
	case TLS_REC_DATA:
		if (in.n > 0 && evbuffer_add(dst, in.data, in.n) < 0)
			return tls_bev_fail(t, BEV_EVENT_ERROR, TLS_ALERT_INTERNAL_ERROR, true, "out of memory");
		evbuffer_drain(src, in.used);
		return BEV_OK;
	case TLS_REC_UPDATED:
		evbuffer_drain(src, in.used);
		log_debug("session=%016" PRIx64 " tls KeyUpdate from the client requested=%d",
			  t->s->id, in.update_requested);
		if (in.update_requested && tls_bev_key_update(t) < 0)
			return tls_bev_fail(t, BEV_EVENT_ERROR, TLS_ALERT_INTERNAL_ERROR,
					    false, "cannot update the write key");
		return BEV_OK;
	case TLS_REC_CLOSED:
		evbuffer_drain(src, evbuffer_get_length(src));
		return tls_bev_fail(t, in.alert == TLS_ALERT_CLOSE_NOTIFY ? BEV_EVENT_EOF : BEV_EVENT_ERROR,
				    in.alert, false, "alert from the client");
	case TLS_REC_FAIL:
		break;
	}
	evbuffer_drain(src, evbuffer_get_length(src));
	return tls_bev_fail(t, BEV_EVENT_ERROR, in.alert, true, in.why);
}

/* The output filter.  In libevent's normal mode (called on every
 * evbuffer_add of a reply) it only schedules flush_ev; flush_ev seals
 * all that waits, in records of at most 2^14 bytes. */
static enum bufferevent_filter_result
tls_bev_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	    enum bufferevent_flush_mode mode, void *arg)
{
	struct tls_conn *t = arg;
	if (t->failed || t->s == NULL) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	if (mode == BEV_NORMAL) {
		event_active(t->flush_ev, 0, 0);	/* once however often it is called */
		return BEV_NEED_MORE;
	}
	size_t len;
	while ((len = evbuffer_get_length(src)) > 0) {
		size_t n = len < TLS_REC_PLAIN_MAX ? len : TLS_REC_PLAIN_MAX;
		const uint8_t *p = evbuffer_pullup(src, (ev_ssize_t)n);
		if (p == NULL || tls_bev_seal(t, TLS_REC_APPDATA, p, n) < 0)
			return tls_bev_fail(t, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
					    TLS_ALERT_INTERNAL_ERROR, false, "cannot seal a record");
		evbuffer_drain(src, n);
	}
	return BEV_OK;
}

static void
tls_bev_flush(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn *t = arg;
	if (t->s != NULL)
		(void)bufferevent_flush(t->s->bev, EV_WRITE, BEV_FLUSH);
}

/* The socket took the last bytes: a closing session may be freed now
 * (sess_write_cb looks at both buffers).  libevent's filter tells the
 * session only when its own output drains, which happens before. */
static void
tls_bev_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct tls_conn *t = arg;
	if (t->s != NULL && t->s->state == ST_CLOSING && info->n_deleted > 0 &&
	    evbuffer_get_length(buf) == 0)
		bufferevent_trigger(t->s->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

/* The filter over a new socket bufferevent on fd, owning t; NULL when
 * out of memory (then t is freed, fd left open). */
static struct bufferevent *
tls_bev_new(struct tls_conn *t, struct event_base *base, evutil_socket_t fd)
{
	struct bufferevent *f = NULL;
	t->flush_ev = event_new(base, -1, 0, tls_bev_flush, t);
	if (t->flush_ev != NULL)
		t->under = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (t->under != NULL)
		f = bufferevent_filter_new(t->under, tls_bev_in, tls_bev_out, BEV_OPT_CLOSE_ON_FREE,
					   tls_conn_free, t);
	if (f != NULL) {
		/* The socket's bytes wait here until a record is whole; the
		 * session's input (the filter's) has its own cap.  Two
		 * records' room: a whole one always fits behind a partial. */
		bufferevent_setwatermark(t->under, EV_READ, 0, (size_t)2 * (TLS_REC_HDR + TLS_REC_CIPHER_MAX));
		t->watch = evbuffer_add_cb(bufferevent_get_output(t->under), tls_bev_drained, t);
	}
	if (f != NULL && t->watch != NULL)
		return f;
	if (t->under != NULL)
		bufferevent_setfd(t->under, -1);	/* freed without closing fd */
	if (f != NULL)
		bufferevent_free(f);	/* frees under and t */
	else {
		if (t->under != NULL)
			bufferevent_free(t->under);
		tls_conn_free(t);
	}
	return NULL;
}

/* The channel binding data (RFC 9266 tls-exporter, RFC 5929
 * tls-server-end-point) outlive the SSL only when a -PLUS mechanism is
 * enabled: 105 bytes per session otherwise wasted.  0 or -1. */
static int
tls_bev_keep_bindings(struct session *s, const struct sasl_cb *cb)
{
	bool plus = false;
	for (size_t i = 0; i < s->cfg->nmechs; i++)
		plus = plus || sasl_mech_binds_channel(s->cfg->mechs[i]);
	if (!plus || !s->tls_binds)
		return 0;
	s->tls_cb = malloc(sizeof *s->tls_cb);
	if (s->tls_cb == NULL)
		return -1;
	memcpy(s->tls_cb, cb, sizeof *cb);
	return 0;
}

/* The keys of c as a new connection; NULL when they cannot be derived
 * or out of memory. */
static struct tls_conn *
tls_conn_new(struct session *s, enum tls_rec_suite suite, const struct tls_cap *c)
{
	struct tls_conn *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->s = s;
	t->rec.suite = suite;
	if (tls_rec_set_secret(suite, &t->rec.rd, c->client) < 0 ||
	    tls_rec_set_secret(suite, &t->rec.wr, c->server) < 0) {
		tls_conn_free(t);
		return NULL;
	}
	t->rec.rd.seq = c->rseq;
	t->rec.wr.seq = c->wseq;
	return t;
}

bool
tls_bev_takeover(struct session *s, SSL *ssl, const struct sasl_cb *cb)
{
	struct tls_cap *c = tls_cap_of(ssl);
	int suite;
	const char *why = tls_bev_refusal(s, ssl, c, &suite);
	struct tls_conn *t = NULL;
	struct bufferevent *f = NULL;
	if (why == NULL && (t = tls_conn_new(s, (enum tls_rec_suite)suite, c)) == NULL)
		why = "cannot derive the keys";
	if (t != NULL && tls_bev_keep_bindings(s, cb) < 0) {
		tls_conn_free(t);
		why = "out of memory";
	} else if (t != NULL &&
		   (f = tls_bev_new(t, s->srv->base, bufferevent_getfd(s->bev))) == NULL) {
		free(s->tls_cb);
		s->tls_cb = NULL;
		why = "out of memory";
	}
	if (f == NULL) {
		log_debug("session=%016" PRIx64 " tls records by OpenSSL: %s", s->id, why);
		tls_cap_drop(ssl);
		return false;
	}
	log_debug("session=%016" PRIx64 " tls records by postern read_seq=%" PRIu64
		  " write_seq=%" PRIu64, s->id, c->rseq, c->wseq);
	tls_cap_drop(ssl);
	/* libevent's OpenSSL bufferevent closes the fd of its SSL's BIO
	 * when freed (and frees the SSL): the socket is ours now.  It
	 * holds a reference while this callback of it runs. */
	SSL_set_bio(ssl, NULL, NULL);
	bufferevent_free(s->bev);
	s->tls_conn = t;
	sess_attach(s, f, SESS_INPUT_MAX);
	return true;
}

void
tls_bev_end(struct session *s, bool notify)
{
	if (s->tls_cb != NULL) {
		OPENSSL_cleanse(s->tls_cb, sizeof *s->tls_cb);
		free(s->tls_cb);
		s->tls_cb = NULL;
	}
	struct tls_conn *t = s->tls_conn;
	if (t == NULL)
		return;
	/* RFC 8446 6.1, as tls_close_notify() does for OpenSSL. */
	static const uint8_t close_notify[2] = { 1, TLS_ALERT_CLOSE_NOTIFY };
	if (notify && !t->failed)
		(void)tls_bev_seal(t, TLS_REC_ALERT, close_notify, sizeof close_notify);
	struct evbuffer *out = bufferevent_get_output(t->under);
	/* Best effort (the client may be gone).  A socket bufferevent
	 * keeps the start of its output frozen for all but itself: the
	 * bufferevent is freed right after this. */
	if (evbuffer_get_length(out) > 0 && evbuffer_unfreeze(out, 1) == 0)
		(void)evbuffer_write(out, bufferevent_getfd(t->under));
	evbuffer_remove_cb_entry(out, t->watch);
	t->watch = NULL;
	event_free(t->flush_ev);
	t->flush_ev = NULL;
	t->s = NULL;
	s->tls_conn = NULL;	/* t goes with the filter (tls_conn_free) */
}

void
tls_bev_pull(struct session *s)
{
	struct tls_conn *t = s->tls_conn;
	if (t == NULL || evbuffer_get_length(bufferevent_get_input(t->under)) == 0)
		return;
	if (bufferevent_flush(s->bev, EV_READ, BEV_NORMAL) > 0)
		bufferevent_trigger(s->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

struct evbuffer *
tls_bev_wire_output(const struct session *s)
{
	return bufferevent_get_output(s->tls_conn != NULL ? s->tls_conn->under : s->bev);
}

bool
tls_bev_binding(const struct session *s, struct sasl_cb *cb_r)
{
	if (s->tls_cb == NULL) {
		memset(cb_r, 0, sizeof *cb_r);
		return false;
	}
	memcpy(cb_r, s->tls_cb, sizeof *cb_r);
	return true;
}
