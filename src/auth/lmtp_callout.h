/* lmtp_callout.h - "would the LMTP server take this recipient?", asked
 * at RCPT time for `local_delivery = lmtp:...` (issue 14 item 3: the
 * LMTP server's own answer decides who is a local recipient).
 *
 * The conversation (RFC 2033): greeting, LHLO, MAIL FROM:<>, RCPT
 * TO:<addr>, then RSET and QUIT; no message is ever sent.  The null
 * sender, as Postfix's reject_unverified_recipient probes do: a probe
 * that somehow went on could never cause a bounce.
 *
 * Blocking, with one deadline for the whole conversation: it runs on a
 * worker thread of the auth process (auth_pool.h), never on a loop.
 * Pure of globals: a struct lmtp_callout holds copies of all it needs,
 * so any thread may run it.
 *
 * XXX: a second, minimal SMTP-family client beside src/client/smtp_client
 * (event-driven, no LMTP mode yet, not linked into the auth process).
 * Once that client has its LMTP mode, a blocking runner of it could
 * replace the conversation here.
 */
#ifndef POSTERN_AUTH_LMTP_CALLOUT_H
#define POSTERN_AUTH_LMTP_CALLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "ipc/auth_proto.h"
#include "smtp/addr.h"

/* A whole callout, connect to QUIT: an LMTP server on the same host or
 * LAN answers in milliseconds; 10 s covers a loaded one and stays well
 * inside a client's RCPT timeout (RFC 5321 4.5.3.2.3: 5 minutes). */
#define LMTP_CALLOUT_TIMEOUT_MS 10000

/* Where the LMTP server listens, from `local_delivery`. */
struct lmtp_target {
	bool is_unix;
	char host[256];		/* TCP: name or address (brackets of [v6] removed) */
	char port[8];
	char path[108];		/* UNIX: sun_path */
};

/* Parses the lmtp forms of local_delivery: "lmtp:HOST:PORT",
 * "lmtp:[V6ADDR]:PORT", "lmtp:unix:PATH" (a relative PATH against
 * base_dir).  Returns 1 (an lmtp form, *t filled), 0 (another kind of
 * local_delivery, e.g. maildir:, or NULL spec), -1 (an lmtp form with an
 * error: *why_r static).
 * XXX: i14-transport adds local_delivery's full parser; this reads the
 * lmtp forms only, for the RCPT check, until that branch is merged. */
int lmtp_target_parse(const char *spec, const char *base_dir, struct lmtp_target *t,
		      const char **why_r);

struct lmtp_callout {
	/* in: */
	struct lmtp_target target;
	char helo[256];			/* our name, for LHLO */
	char rcpt[SMTP_PATH_MAX + 1];	/* the recipient, as RCPT TO got it */
	unsigned timeout_ms;
	/* out: */
	enum auth_rcpt_verdict verdict;	/* KNOWN on 2xx, UNKNOWN on 5xx, else TEMP */
	char why[AUTH_PROTO_WHY_MAX + 1];	/* "lmtp: 550 5.1.1 ...", printable ASCII */
};

/* Runs the conversation and sets verdict and why.  Any failure before
 * the RCPT reply (connect, timeout, an unexpected reply) is TEMP. */
void lmtp_callout_run(struct lmtp_callout *co);

#endif
