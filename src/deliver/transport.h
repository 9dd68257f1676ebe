/* transport.h - delivering one queued message to one destination,
 * asynchronously, on a libevent loop (issue 14 item 3).
 *
 * The queue runner decides WHAT to deliver and WHEN (scheduling, limits,
 * retries, bounces, the state journal); the transport does the HOW: it
 * takes a spool message and the recipients of it that share one route
 * (route.h: equal route keys), talks to the destination and reports one
 * result per recipient.  It never writes the spool.
 *
 *   t = transport_new(base, &cfg->route, spool, &err);
 *   for each (message, route key) the runner wants delivered:
 *     route_of(&cfg->route, rcpt, &r, &re) for each pending recipient,
 *     group the indices by r.key,
 *     transport_deliver(t, entry, idx, n, &r, done, arg);
 *   -> done(arg, &result)      exactly once per accepted call, from the
 *                              loop, never from inside transport_deliver
 *   transport_close_idle(t);   before exiting: QUIT to idle connections
 *   transport_free(&t);
 *
 * Per route kind:
 *   ROUTE_RELAY  relay_host; STARTTLS required unless relay_tls says
 *		  opportunistic or none; AUTH with relay_credentials, the
 *		  strongest mechanism both sides have (SMTP_AUTH_AUTO), or
 *		  XOAUTH2/OAUTHBEARER with the token file's access token
 *		  (refreshed off the loop when it expires).  Written without
 *		  brackets: its MX hosts, tried like ROUTE_MX.
 *   ROUTE_MX	  the MX hosts in order (dns_mx.h, asynchronous c-ares on
 *		  `dns_resolver`), every address of each; a temporary failure
 *		  before MAIL FROM (connect refused, timeout, 4xx/5xx
 *		  greeting, TLS handshake) moves to the next address/host;
 *		  once MAIL is sent the replies are the result (a 5xx to RCPT
 *		  is that recipient's permanent failure; a 4xx to RCPT or
 *		  DATA is temporary and not retried on another host in this
 *		  attempt).  Opportunistic STARTTLS, certificate not required.
 *		  DNS: TEMPFAIL -> every recipient temporary 4.4.3; PERMFAIL
 *		  (NXDOMAIN, null MX) -> permanent 5.1.2 / 5.1.10.
 *   ROUTE_LMTP	  LHLO, one reply per recipient after the dot (RFC 2033);
 *		  no TLS on a UNIX socket or loopback, no AUTH.
 *   ROUTE_MAILDIR maildir_deliver() per recipient in a worker thread
 *		  (its fsyncs never block the loop); the result comes back
 *		  to the loop through an event (event_active).  Each
 *		  recipient gets its own copy (Delivered-To differs).
 * SMTP/LMTP MAIL parameters passed on (when the server offers the
 * extension): AUTH= (the submitter's AUTH= value or login, "<>" when
 * unknown; RFC 4954 section 5), SIZE= (the spool's size), BODY=8BITMIME
 * (an 8-bit message to a server without 8BITMIME fails permanently,
 * 5.6.3), DSN's RET/ENVID/NOTIFY/ORCPT when the spool has them (it does
 * not record them yet: none are sent).
 *
 * Content: pulled from the spool in chunks while it is sent (the
 * checksum verified on the way; a damaged message is never sent whole:
 * the connection is dropped before the final dot, and every recipient
 * gets a temporary failure at stage LOCAL).  Never the whole message in
 * memory.
 *
 * Connections: after a message, the connection of an SMTP/LMTP route
 * stays open, idle, for TRANSPORT_IDLE_SEC; a transport_deliver() to the
 * same route key takes it (the next MAIL FROM on it) instead of
 * connecting again.  So the number of connections to a destination never
 * exceeds the number of transport_deliver() calls for its key in flight
 * at once, which is the runner's per-destination limit; idle connections
 * are closed (QUIT) after TRANSPORT_IDLE_SEC or by transport_close_idle().
 * A reused connection that turns out dead (the server timed it out) is
 * retried once on a new connection, transparently.
 *
 * Threading: every function is called on the loop's thread, and every
 * callback runs there.  Maildir worker threads are internal.
 *
 * Ownership: the transport borrows the route_conf, the spool and the
 * event_base for its whole life.  transport_deliver() borrows the
 * spool_entry until its callback returns (the runner keeps its list
 * alive); it copies the recipient indices and the route.  The result
 * passed to the callback is valid only during the callback.
 */
#ifndef POSTERN_DELIVER_TRANSPORT_H
#define POSTERN_DELIVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "client/smtp_client.h"
#include "deliver/route.h"

struct event_base;
struct spool;
struct spool_entry;
struct transport;

/* Idle connections are closed after this long: long enough for the
 * runner's next message to the same place (its scheduling pass runs at
 * least every second), short enough not to hog a remote's slot (Postfix's
 * smtp_connection_cache_time_limit is 2 s; we pass messages of one queue
 * run, not of a cache across runs). */
#define TRANSPORT_IDLE_SEC 5

/* One recipient's outcome of one attempt. */
struct transport_rcpt_result {
	size_t rcpt;		/* index into e->env.rcpts (as passed in) */
	/* SMTP_CLASS_OK: delivered (mark it so); TEMP: defer it (retry
	 * later); PERM: failed (bounce it). */
	enum smtp_class cls;
	enum smtp_stage stage;	/* where it was decided */
	int code;		/* the remote reply code, 0 when none (connection,
				 * DNS, Maildir, our own trouble) */
	char enhanced[16];	/* RFC 3463 status ("5.1.1"), "" when unknown */
	/* The remote reply (smtp_reply_summary(): "550 5.1.1 no such user"),
	 * or our own sentence ("connect to mx1.example.test[192.0.2.1]:25:
	 * Connection refused").  For last_reply, the log line and the DSN's
	 * Diagnostic-Code.  Printable ASCII: quote it in logs anyway. */
	char reply[512];
	/* Where: "mx1.example.test[192.0.2.1]:25", "lmtp unix:/run/lmtp",
	 * "maildir /var/mail/alice".  "" when nothing was reached (DNS). */
	char remote[300];
};

struct transport_result {
	const char *id;			/* the message's queue id */
	const struct route *route;	/* as passed in */
	const struct transport_rcpt_result *rcpts;	/* one per index passed, same order */
	size_t nrcpts;
	/* The session (SMTP/LMTP; NULL otherwise, or when not reached). */
	const char *tls;		/* "TLSv1.3 TLS_AES_256_GCM_SHA384", NULL: clear */
	const char *auth_mech;		/* SASL mechanism used with the relay, NULL: none */
	bool reused;			/* the message went over a reused connection */
};

typedef void transport_done_fn(void *arg, const struct transport_result *r);

/* A transport on base.  rc: the delivery settings (borrowed, immutable);
 * sp: the spool to read content from (borrowed).  Starts the DNS
 * resolver (rc->dns_servers), builds the TLS contexts (the relay's with
 * rc->relay_tls_trust_file, verification on unless relay_tls is
 * opportunistic/none; the MX's opportunistic) and reads
 * relay_credentials (so it must be readable by the process calling this:
 * the runner after dropping privileges runs as `user`; an oauth token
 * file must also be writable by it, refreshes rewrite it).  Returns NULL
 * with *err_r malloc'd. */
struct transport *transport_new(struct event_base *base, const struct route_conf *rc,
				struct spool *sp, char **err_r);

/* Delivers message e to the recipients rcpts[0..n) (indices into
 * e->env.rcpts, all routed to route by route_of(); n >= 1).  Returns 0,
 * and later done(arg, result) is called once, from the loop; or -1 on
 * allocation failure or a caller error (n == 0, an index out of range, a
 * torn entry): then done is never called. */
int transport_deliver(struct transport *t, const struct spool_entry *e, const size_t *rcpts,
		      size_t n, const struct route *route, transport_done_fn *done, void *arg);

/* Deliveries in flight (accepted, callback not yet called). */
size_t transport_inflight(const struct transport *t);
/* Open connections, busy or idle (for the runner's total limit and
 * its status line). */
size_t transport_connections(const struct transport *t);
/* Sends QUIT on every idle connection now (the runner's shutdown, or
 * when it wants slots for other destinations). */
void transport_close_idle(struct transport *t);

/* Frees the transport.  Deliveries in flight are abandoned: their
 * connections dropped without the final dot where possible and their
 * callbacks NEVER called (their recipients stay as the journal says,
 * i.e. pending: delivered again after a restart, at most once more).  A
 * Maildir worker in the middle of a write is waited for.  NULL-safe;
 * sets *tp = NULL.  Not from inside a done callback. */
void transport_free(struct transport **tp);

#endif
