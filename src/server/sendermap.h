/* sendermap.h - sender_login_map: the addresses each login may send as.
 *
 * The file (sender_login_map = file:PATH) holds one line per login:
 *	login address [address...]
 * where an address is a mailbox ("bob@example.test") or "@domain" (any
 * address in exactly that domain, not its subdomains).  Blank lines and
 * lines starting with '#' are ignored; a login on several lines gets
 * every address listed.  Any other line is an error at load time
 * ("PATH:LINE: why"), so that a typo never silently locks a user out
 * or lets one in.
 *
 * Comparisons, decided like Postfix's smtpd_sender_login_maps (whose
 * table lookups fold case): logins are exact (the credential store's
 * names are case-sensitive); addresses and domains ignore ASCII case,
 * the local part too.  RFC 5321 2.4 lets a local part be case-sensitive,
 * but a user granted Bob@example.test who writes bob@example.test means
 * the same mailbox on every system we know; the reverse (two users whose
 * mailboxes differ only in case) would need its own map lines anyway.
 * A quoted local part is compared as written: <"bob"@x> is not bob@x,
 * which errs on the refusing side.
 */
#ifndef POSTERN_SERVER_SENDERMAP_H
#define POSTERN_SERVER_SENDERMAP_H

#include <stdbool.h>

struct sendermap;

/* Reads the map at path (absolute).  Returns NULL with *err_r malloc'd
 * ("PATH:LINE: 'x' is not an address or @domain (why)", or
 * "PATH: No such file or directory"). */
struct sendermap *sendermap_load(const char *path, char **err_r);
void sendermap_free(struct sendermap **mp);	/* NULL-safe; sets *mp = NULL */

/* True when login may use address (a mailbox as smtp_path_parse()
 * returns it; "" is never granted here: the null sender is policy.c's
 * decision).  A login listed in m gets exactly its lines; any other
 * login (or m == NULL) gets the default: the login itself when it is an
 * address, else login@D for each D in local_domains. */
bool sendermap_grants(const struct sendermap *m, const char *login, const char *address,
		      const char *local_domains);

#endif
