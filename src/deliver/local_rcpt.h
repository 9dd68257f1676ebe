/* local_rcpt.h - the local recipients map (`local_recipients = file:PATH`):
 * who is a known local recipient, and what an address expands to
 * (aliases).  Used by the auth process at RCPT time (is this local
 * recipient known?) and by the queue runner before routing (to whom does
 * this recipient's mail finally go?).
 *
 * The file, one entry a line:
 *
 *	# comment (also after an entry: from a '#' to the end of the line)
 *	postmaster@example.test   alice@example.test
 *	info@example.test         alice, bob@example.test, someone@remote.example
 *	alice@example.test                      # a recipient with no alias: itself
 *	abuse                     postmaster    # bare local part: in every local domain
 *	@example.org              catchall@example.test   # catch-all of a domain
 *
 * - KEY TARGET...: KEY is "local@domain", a bare "local" (that local part
 *   in whichever local domain the address is in) or "@domain" (every
 *   address of that domain that has no entry of its own).  An optional
 *   ':' may end the KEY (aliases(5) style: "abuse: postmaster").
 * - TARGETs are separated by spaces, tabs and/or commas.  A TARGET is a
 *   local or remote address; a bare local part takes the domain of the
 *   address being expanded.  No TARGET: the KEY is a recipient in its own
 *   right (delivered as itself).  A KEY listed twice is an error.
 * - Errors name the file and line: "PATH:LINE: why".
 *
 * Comparing addresses (RFC 5321 2.4: the local part is case-sensitive
 * for everyone but the destination host, which decides; here postern is
 * that host): the domain is compared ignoring ASCII case; the local part
 * too -- as Postfix's lookup tables and maildir.h's folder names do, so
 * Alice@ and alice@ are one recipient.  A quoted local part is compared
 * by its content ("alice"@x is alice@x, RFC 5321 4.1.2 makes them the
 * same mailbox).  A local part that holds '%', '!' or '@' (a route, see
 * smtp_addr_has_route) or is not a plain dot-atom after unquoting is never
 * a known recipient and is never matched by a catch-all: it is not
 * reinterpreted as routing (issue 14, item 3).
 *
 * Lookup order for "local@domain": the exact entry, then the bare
 * "local" entry, then "@domain".
 *
 * Expansion: an address with an entry that has TARGETs is replaced by
 * the expansion of each TARGET, recursively; an address without an entry
 * (or with one without TARGETs) is final.  A TARGET equal to the
 * address being expanded is final ("alice: alice, archive" keeps a copy
 * for alice, as in aliases(5)).  Any other cycle, or a chain deeper than
 * LOCAL_RCPT_DEPTH_MAX, is an error naming the chain.  The result holds
 * each final address once, in the order first reached.
 *
 * The map is immutable once loaded: one thread may look up while
 * another expands.
 */
#ifndef POSTERN_DELIVER_LOCAL_RCPT_H
#define POSTERN_DELIVER_LOCAL_RCPT_H

#include <stdbool.h>
#include <stddef.h>

struct local_rcpt;

/* sendmail's and Postfix's alias expansion stop at about 20 levels; a
 * real alias chain is two or three deep. */
#define LOCAL_RCPT_DEPTH_MAX 20
/* Final addresses one expansion may produce: a mailing-list-sized alias
 * is a few hundred; beyond this the file is more likely wrong. */
#define LOCAL_RCPT_EXPAND_MAX 1000

/* Loads the map named by spec: "file:PATH" (a bare PATH means file:);
 * a relative PATH is taken relative to base_dir (the config file's
 * folder; NULL: the current folder).  NULL with *err_r malloc'd
 * ("PATH:LINE: why", or "PATH: why" for an unreadable file). */
struct local_rcpt *local_rcpt_load(const char *spec, const char *base_dir, char **err_r);
void local_rcpt_free(struct local_rcpt **mp);	/* NULL-safe; sets *mp = NULL */

enum local_rcpt_match {
	LOCAL_RCPT_NONE = 0,	/* not in the map */
	LOCAL_RCPT_EXACT,	/* its own entry (local@domain or bare local) */
	LOCAL_RCPT_CATCHALL,	/* its domain's "@domain" entry */
};

/* Is mailbox (as smtp_path_parse() returns it: quotes kept, no <>) in
 * the map?  NULL m: LOCAL_RCPT_NONE.  The caller decides that the
 * domain is local; the map does not know local_domains. */
enum local_rcpt_match local_rcpt_lookup(const struct local_rcpt *m, const char *mailbox);

/* The final recipients of mailbox: on success returns 0 and sets *list_r
 * to a malloc'd array of *n_r malloc'd strings ("local@domain", the
 * domain in lower case; free with local_rcpt_list_free), at least one.
 * An address the map does not change comes back as the only element,
 * unchanged.  NULL m: the address itself.  Returns -1 with *err_r
 * malloc'd for a loop ("alias loop: a@x -> b@x -> a@x"), a chain deeper
 * than LOCAL_RCPT_DEPTH_MAX, more than LOCAL_RCPT_EXPAND_MAX results, or
 * out of memory; the queue runner treats each of these as a permanent
 * failure of that recipient (5.4.6, RFC 3463 "routing loop detected")
 * except out of memory (temporary, *err_r "out of memory"). */
int local_rcpt_expand(const struct local_rcpt *m, const char *mailbox, char ***list_r,
		      size_t *n_r, char **err_r);
/* Frees what local_rcpt_expand() returned; NULL-safe; sets *list_r = NULL. */
void local_rcpt_list_free(char ***list_r, size_t n);

/* The canonical form of mailbox used for every comparison: local part
 * unquoted and folded to lower case, '@', domain in lower case.  Returns
 * 0, or -1 when mailbox can never be a known local recipient (no '@'
 * where one is needed, a route character, not a dot-atom, too long for
 * size).  Exposed for the credential store lookup at RCPT and tests. */
int local_rcpt_canon(const char *mailbox, char *out, size_t size);

#endif
