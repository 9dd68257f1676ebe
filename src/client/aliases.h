/* aliases.h - msmtp's `aliases FILE`: local recipients (no '@') are
 * replaced by the addresses the file lists for them, before the
 * envelope is sent.  Headers are not touched (msmtp neither).
 *
 * File format (msmtp's, like /etc/aliases):
 *   # comment
 *   root: joe@example.com, jane@example.com
 *   cron: root                  (local names expand again, 16 levels deep)
 *   default: admin@example.com  (for a local name not listed)
 * A local name without an entry and without `default` stays as it is.
 */
#ifndef POSTERN_CLIENT_ALIASES_H
#define POSTERN_CLIENT_ALIASES_H

#include <stddef.h>

/* Rewrites the list *rcpts (count *n; malloc'd strings, as
 * smtp_list_add() makes them).  The file is read only when a
 * recipient is local.  Returns 0, or -1 with *err_r (malloc'd) such as
 * "FILE:LINE: single ':' expected" or "FILE: No such file or directory". */
int client_aliases_expand(const char *path, char ***rcpts, size_t *n, char **err_r);

#endif
