/* bounce.h - delivery status notifications (RFC 3464, RFC 3462/6522).
 *
 * bounce_build() writes one multipart/report; report-type=delivery-status
 * message about one queued message:
 *	1. text/plain: what happened, per recipient, for people;
 *	2. message/delivery-status: Reporting-MTA, Arrival-Date, then per
 *	   recipient Final-Recipient, Original-Recipient (when known),
 *	   Action (failed | delayed), Status, Remote-MTA, Diagnostic-Code,
 *	   Last-Attempt-Date (and Will-Retry-Until for delayed);
 *	3. text/rfc822-headers: the original message's header section,
 *	   pulled in chunks; the body is never read.
 * Lines end in CRLF, as the spool stores messages.
 *
 * The caller queues the result with the null reverse-path (MAIL FROM:<>,
 * RFC 5321 4.5.5) to the original sender, after asking bounce_wanted():
 * a message from the null sender never gets one, so that two servers
 * can never bounce bounces at each other.
 *
 * Peer text (remote replies, addresses) is made printable ASCII and
 * folded, so a hostile reply cannot forge header fields.
 */
#ifndef POSTERN_DELIVER_BOUNCE_H
#define POSTERN_DELIVER_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"

enum bounce_kind {
	BOUNCE_FAILED,		/* Action: failed: given up (5xx, or expired) */
	BOUNCE_DELAYED,		/* Action: delayed: the warning, still retried */
};

struct bounce_rcpt {
	const char *final_rcpt;		/* the address delivery was tried to */
	const char *orig_rcpt;		/* ORCPT address (RFC 3461), NULL when unknown */
	const char *status;		/* X.Y.Z; NULL: from the reply (below) */
	const char *remote_mta;		/* host that answered, NULL when none did */
	int reply_code;			/* its SMTP/LMTP reply, 0 when none */
	const char *reply_enh;		/* its enhanced code, "" or NULL when none */
	const char *reply_text;		/* its text, lines joined by "\n" */
	const char *why;		/* when there is no reply: the reason
					 * (DNS failure, Maildir error...) */
	time_t last_attempt;
};

struct bounce_msg {
	enum bounce_kind kind;
	const char *hostname;		/* Reporting-MTA and MAILER-DAEMON@ */
	const char *sender;		/* the original sender: To: of the report */
	const char *queue_id;		/* of the original message (X-Postern-Queue-ID) */
	const char *envid;		/* ENVID (RFC 3461), NULL when none */
	time_t arrival;
	time_t retry_until;		/* BOUNCE_DELAYED: Will-Retry-Until */
	time_t now;			/* Date: */
	const char *unique;		/* random token for Message-ID and the
					 * MIME boundary: [A-Za-z0-9.] only */
	const struct bounce_rcpt *rcpts;
	size_t nrcpts;
};

/* Pulls the next bytes of the original message (CRLF line ends) into
 * buf: returns the count, 0 at the end, -1 on a read error. */
typedef ssize_t bounce_read_fn(void *arg, void *buf, size_t size);

/* The original header section is cut (at a line end) after this much:
 * the report must stay small even for a message with a huge header. */
#define BOUNCE_HEADERS_MAX 65536

/* "Should I send a DSN of this kind to this sender?"  notify is the
 * recipient's RFC 3461 NOTIFY= value ("NEVER", "FAILURE,DELAY"...) or
 * NULL when none was given (then failures and delays are reported).
 * False for the null sender "", always. */
bool bounce_wanted(const char *sender, enum bounce_kind kind, const char *notify);

/* The Status: value for r into buf (size >= 16): r->status when set;
 * else the reply's enhanced code when its class matches the reply code's
 * first digit; else derived from the reply code ("5.0.0", "4.0.0");
 * else "4.0.0" / "5.0.0" from kind. */
const char *bounce_status(const struct bounce_rcpt *r, enum bounce_kind kind, char *buf,
			  size_t size);

/* Appends the whole report (header fields included) to out, reading the
 * original header section through rd.  Returns 0, or -1 with *err_r
 * malloc'd (the original could not be read; out of memory). */
int bounce_build(const struct bounce_msg *m, bounce_read_fn *rd, void *rdarg, struct buf *out,
		 char **err_r);

#endif
