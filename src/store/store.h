/* store.h - credential stores behind one interface.
 *
 * A store answers the questions a SASL mechanism asks (struct
 * sasl_cred_request) with derived secrets only: a crypt(3) hash for
 * PLAIN/LOGIN, HMAC-MD5 states for CRAM-MD5, SCRAM keys.  Backends are
 * files named store_<impl>.c and chosen by the spec's prefix:
 *	file:/path/users	(default; written by `postern passwd`)
 *	pam:SERVICE, pgsql:CONNINFO	(later)
 *
 * The interface is synchronous; the server calls it through an
 * asynchronous wrapper, so that a backend can later move into its own
 * process without any change to the SMTP session.
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "sasl/sasl.h"

struct store;

/* Opens the store named by spec ("file:PATH"; a bare path means file:).
 * A relative PATH is taken relative to base_dir (the config file's
 * folder; NULL for the current folder).  On failure returns NULL and
 * sets *err_r to a malloc'd message naming the file and line. */
struct store *store_open(const char *spec, const char *base_dir, char **err_r);
void store_free(struct store **sp);	/* NULL-safe; sets *sp = NULL */

/* Can this store answer requests of this kind for its users?  The
 * server advertises only mechanisms whose kind the store supports. */
bool store_supports(const struct store *st, enum sasl_cred_kind kind);

/* Answers a mechanism's request.  Never blocks for long (the file
 * backend works from memory and re-reads the file when it changed). */
void store_answer(struct store *st, const struct sasl_cred_request *req,
		  struct sasl_cred_answer *answer_r);

/* Re-reads the backing file.  Returns 0, or -1 with *err_r set (the old
 * contents stay in use). */
int store_reload(struct store *st, char **err_r);

#endif
