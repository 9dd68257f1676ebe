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

/* The file a "file:PATH" spec (or a bare path) names, resolved against
 * base_dir like store_open() does; malloc'd.  NULL with *err_r set
 * (malloc'd) when the spec names another backend. */
char *store_spec_file(const char *spec, const char *base_dir, char **err_r);

/* Checks and prepares a user name for storing or looking up: SASLprep
 * (RFC 4013) into a new string *out_r (free after use), then the rules
 * every backend shares: not empty, at most SASL_NAME_MAX bytes, valid
 * UTF-8, no control character, no ':', no leading '#', no leading or
 * trailing space.  Returns 0, or -1 with *why_r set to a static reason. */
int store_user_prep(const char *name, char **out_r, const char **why_r);

#endif
