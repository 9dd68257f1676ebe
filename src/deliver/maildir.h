/* maildir.h - delivery of one message into a Maildir, the Maildir way.
 *
 * Steps (https://cr.yp.to/proto/maildir.html, plus the fsyncs that make
 * a 250 honest): create DIR/{tmp,new,cur} (mode 0700) when missing;
 * write DIR/tmp/UNIQUE in chunks pulled from the caller, fsync it; link
 * it to DIR/new/UNIQUE (never overwriting) and unlink the tmp name;
 * fsync DIR/new.  UNIQUE is "SECONDS.M<usec>P<pid>Q<n>R<random>.<host>"
 * (host with '/' and ':' written \057 and \072, as the spec asks).
 *
 * What is written: "Return-Path: <SENDER>" and "Delivered-To: RCPT"
 * lines first (as Postfix local(8) and Dovecot do: mail readers show the
 * envelope, and Delivered-To lets later hops detect loops), then the
 * message with CRLF line ends turned into LF, the local convention of
 * Maildir files (Postfix, Dovecot and mutt write LF).  The content is
 * never held whole: at most one chunk is in memory.
 *
 * The folder comes from a template: "%u" is the local part, "%d" the
 * domain, "%%" a '%'; any other '%' is a configuration error.  Values
 * are substituted once and never expanded again.
 *
 * Local parts (decision, issue 14: "never reinterpret %, ! or quoted @
 * as routing"): only a dot-atom of letters, digits and
 * !#$&'*+-=?^_`{|}~ is delivered, minus '/', '%' and '!' -- the first is
 * a path separator, the others are old source-routing syntax
 * (user%host@relay, host!user) that some MTAs still act on.  A quoted
 * local part ("a@b"), a leading, trailing or double dot, or anything
 * else is refused permanently (5.1.3), never rewritten: two addresses
 * must not map to one mailbox.  ASCII letters are folded to lower case,
 * so Alice@ and alice@ share one Maildir (as Postfix's local(8) folds).
 */
#ifndef POSTERN_DELIVER_MAILDIR_H
#define POSTERN_DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Pulls the next bytes of the message (CRLF line ends, not dot-stuffed,
 * as the spool stores it) into buf.  Returns the count (> 0), 0 at the
 * end, or -1 when the message cannot be read (a temporary failure). */
typedef ssize_t maildir_read_fn(void *arg, void *buf, size_t size);

struct maildir_env {
	const char *local_part;		/* of the recipient: goes into %u */
	const char *domain;		/* of the recipient: goes into %d */
	const char *sender;		/* envelope sender without <>; "" for null */
	const char *recipient;		/* for Delivered-To */
};

struct maildir_error {
	bool temporary;			/* true: keep it queued and retry */
	const char *enhanced;		/* RFC 3463: "4.2.2" mailbox full, "4.3.0",
					 * "4.3.5" bad template, "5.1.3" bad local part */
	char *why;			/* malloc'd, for logs and DSNs; free() it */
};

/* Local part check as described above.  Returns true when it may be
 * delivered. */
bool maildir_local_ok(const char *local_part);

/* Expands template with env (local part folded to lower case).  Returns
 * 0 with *dir_r malloc'd, or -1 with *err filled (5.1.3 for a refused
 * local part or domain, 4.3.5 for a bad template). */
int maildir_expand(const char *template, const struct maildir_env *env, char **dir_r,
		   struct maildir_error *err);

/* Delivers one message.  Returns 0 with *file_r (may be NULL) the new
 * file's path, malloc'd; or -1 with *err filled.  Temporary: any I/O
 * error (ENOSPC, EDQUOT, EFBIG -> 4.2.2; EIO and the rest -> 4.3.0), a
 * read failure, a bad template.  Permanent: a refused local part.  On
 * failure nothing is left in tmp/ or new/. */
int maildir_deliver(const char *template, const struct maildir_env *env, maildir_read_fn *rd,
		    void *rdarg, char **file_r, struct maildir_error *err);

#endif
