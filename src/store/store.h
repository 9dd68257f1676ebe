/* store.h - credential stores behind one interface.
 *
 * A store answers the questions a SASL mechanism asks (struct
 * sasl_cred_request) with derived secrets only: a crypt(3) hash for
 * PLAIN/LOGIN, HMAC-MD5 states for CRAM-MD5, SCRAM keys.  Backends are
 * files named store_<impl>.c and chosen by the spec's prefix:
 *	file:/path/users	(default; written by `postern passwd`)
 *	pam:SERVICE, pgsql:CONNINFO	(later)
 *
 * Only the auth process opens a store (doc/architecture.md); it answers
 * cheap questions on its loop and sends password checks to its workers
 * through store_answer_begin()/store_job_run()/store_job_end().
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sasl/sasl.h"
#include "util/conf.h"

struct store;

/* The config key that names the store, as one row of a key table
 * (util/conf.h) in struct R's char * field F: the server's table and
 * `postern passwd` share it, so both read the same default and refuse
 * the same values.  A relative path is resolved against the config
 * file's folder by store_open(spec, dir). */
#define STORE_CONF_DEFAULT "file:users"
#define STORE_CONF_KEY(R, F) \
	{ "credentials", CONF_STRING, CONF_FIELD(R, F), STORE_CONF_DEFAULT, NULL, NULL, \
	  CONF_NONEMPTY, "credential store: file:PATH (a bare path means file:)" }

/* Opens the store named by spec ("file:PATH"; a bare path means file:).
 * A relative PATH is taken relative to base_dir (the config file's
 * folder; NULL for the current folder).  On failure returns NULL and
 * sets *err_r to a malloc'd message naming the file and line. */
struct store *store_open(const char *spec, const char *base_dir, char **err_r);
void store_free(struct store **sp);	/* NULL-safe; sets *sp = NULL */

/* Can this store answer requests of this kind for its users?  The
 * server advertises only mechanisms whose kind the store supports. */
bool store_supports(const struct store *st, enum sasl_cred_kind kind);

/* Answers a mechanism's request, all at once: begin, run, end below.
 * A password check costs a full crypt_r (yescrypt: milliseconds), so
 * an event loop uses the halves instead. */
void store_answer(struct store *st, const struct sasl_cred_request *req,
		  struct sasl_cred_answer *answer_r);

/* The same answer in two halves, so that the slow part can run off the
 * event loop (the auth process's worker pool, doc/architecture.md).
 * store_answer_begin() answers at once when that is cheap -- a login
 * cache hit, SCRAM and CRAM-MD5 secrets, an unknown kind -- and returns
 * NULL with *answer_r final.  Otherwise it returns a job that holds
 * copies of all it needs (the hash, the password, the cache key), for
 * store_job_run() on any thread; store_job_end() then runs on the
 * store's own thread, fills *answer_r, feeds the login cache, wipes and
 * frees the job (sets *jp = NULL).  st must be the store the job came
 * from.  A job that will not be ended is freed by store_job_free(). */
struct store_job;
struct store_job *store_answer_begin(struct store *st, const struct sasl_cred_request *req,
				     struct sasl_cred_answer *answer_r);
void store_job_run(struct store_job *j);
void store_job_end(struct store *st, struct store_job **jp, struct sasl_cred_answer *answer_r);
void store_job_free(struct store_job **jp);	/* NULL-safe; wipes */

/* Is name a user of the store?  Asked at RCPT for local recipients (the
 * users of the store are local recipients, DESIGN.md local_recipients):
 * a yes/no without any secret, cheap (no crypt_r), on the store's own
 * thread.  name goes through store_user_prep() first: a name that
 * could never be stored is STORE_USER_NO.  STORE_USER_UNKNOWN: the
 * backend cannot list its users (a PAM service, say). */
enum store_user { STORE_USER_NO = 0, STORE_USER_YES, STORE_USER_UNKNOWN };
enum store_user store_has_user(struct store *st, const char *name);

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

/* The server's fake-salt key (sasl_server_params.fake_salt_key): the
 * secret under which SCRAM makes up a salt for an unknown user.  It must
 * stay the same across restarts, or an unknown user's salt would change
 * where a real user's does not. */
#define STORE_FAKE_KEY_LEN 32

/* Where the key of a "file:PATH" store lives by default: PATH.key (the
 * users file's name plus ".key", in its folder).  malloc'd; NULL with
 * *err_r (malloc'd) for a spec that names no file. */
char *store_fake_key_path(const char *spec, const char *base_dir, char **err_r);

/* Reads the key from path: a regular file (not a symbolic link) of
 * exactly STORE_FAKE_KEY_LEN bytes that others cannot read.  When it is
 * missing and create is true, makes it first: 32 bytes from
 * RAND_priv_bytes() in a 0600 temporary file, fsynced, then linked to
 * path (never replacing one that appeared meanwhile) and the folder
 * fsynced.  Returns 0 (key_r filled), 1 (missing and !create), or -1
 * with *err_r (malloc'd) naming the file and what is wrong. */
int store_fake_key_load(const char *path, bool create, uint8_t key_r[STORE_FAKE_KEY_LEN],
			char **err_r);

#endif
