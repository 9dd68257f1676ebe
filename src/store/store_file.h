/* store_file.h - the file backend's parts, for store_file*.c, `postern
 * passwd` and the unit tests.
 *
 * The users file, format 1 (written by `postern passwd`, one user a line):
 *
 *	# postern-users v1
 *	USER:{CRYPT}HASH:{SCRAM-SHA-1}I,SALT,SK,SVK:{SCRAM-SHA-256}I,SALT,SK,SVK:{CRAM-MD5}HEX
 *
 * - The first line is the version marker, exactly "# postern-users v1".
 *   An empty file (0 bytes) is an empty store; later lines that start
 *   with '#' are comments and empty lines are skipped; both are kept
 *   as they are when `postern passwd` rewrites the file.
 * - USER is the SASLprep'd name (store_user_prep() rules); it never
 *   holds ':', so the first ':' ends it.  Lines end with LF; no control
 *   character (CR, TAB, NUL...) may appear anywhere in a line.
 * - Then one or more fields, each "{SCHEME}VALUE", each scheme at most
 *   once, in any order:
 *   {CRYPT}HASH        crypt(3) hash of the SASLprep'd password, as
 *                      libxcrypt's crypt_r() returns it; postern writes
 *                      yescrypt ("$y$"); legacy methods (DES, MD5) are
 *                      refused.  Verifies PLAIN and LOGIN.
 *   {SCRAM-SHA-1}, {SCRAM-SHA-256}  ITER,SALT,STOREDKEY,SERVERKEY as
 *                      Dovecot writes them: decimal iteration count
 *                      (>= 4096), then RFC 4648 base64 of the salt
 *                      (1..64 bytes) and of the two keys (20 or 32 bytes).
 *   {CRAM-MD5}HEX      64 hex digits: the HMAC-MD5 outer then inner MD5
 *                      state of the password (Dovecot's layout), so the
 *                      server can answer CRAM-MD5 without the password.
 * - No field holds the password in any encoding.
 */
#ifndef POSTERN_STORE_FILE_H
#define POSTERN_STORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sasl/sasl.h"

struct buf;

#define STORE_FILE_MARKER "# postern-users v1"
/* A users file is read whole into memory; 64 MiB is some 100 000 users
 * (a line is about 600 bytes), far past what a flat file should hold. */
#define STORE_FILE_SIZE_MAX ((size_t)64 * 1024 * 1024)
/* The longest line we accept: a 255-byte name plus the four fields is
 * under 700 bytes; anything near 4096 is not ours. */
#define STORE_FILE_LINE_MAX 4096
/* RFC 7677 section 4: "the hash iteration-count announced by a server
 * SHOULD be at least 4096".  Loading refuses less. */
#define STORE_FILE_SCRAM_ITER_MIN 4096u
/* Above this a client pays seconds per login: refuse it as a typo. */
#define STORE_FILE_SCRAM_ITER_MAX 10000000u

struct store_file_scram {
	unsigned iterations;	/* 0: the user has no secret of this kind */
	uint8_t salt[SASL_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SASL_KEY_MAX];
	uint8_t server_key[SASL_KEY_MAX];
	size_t key_len;
};

struct store_file_user {
	char *name;		/* SASLprep'd */
	unsigned line;		/* 1-based line number in the file */
	size_t off, len;	/* the line in the text, without its LF */
	char *crypt;		/* NULL: no {CRYPT} */
	bool has_cram_md5;
	uint8_t cram_md5[32];
	struct store_file_scram sha1, sha256;
};

/* A parsed users file. */
struct store_file_db {
	struct store_file_user *users;	/* in file order */
	size_t n;
	struct store_file_user **by_name;	/* sorted, for lookups */
};

/* ---- store_file.c: the backend ---- */

/* arg resolved against base_dir (NULL: the current folder); malloc'd,
 * NULL when out of memory. */
char *store_file_resolve(const char *arg, const char *base_dir);

/* ---- store_file_cache.c: recent successful PLAIN/LOGIN verifications ---- */

/* At most this many users cached (56 bytes each: 3.5 MiB, allocated at the
 * first successful login): a users file holds some 100 000 users at
 * most (STORE_FILE_SIZE_MAX), and the logins within one TTL are fewer. */
#define STORE_FILE_CACHE_MAX 65536u
/* Seconds an entry lives.  One hour, as Dovecot's auth_cache_ttl: a
 * password changed in the file counts at once anyway (the mac covers the
 * hash and a reload drops the user), so the TTL only bounds how long a
 * mac sits in memory (see store_file_cache.c) and how rarely a busy
 * client still pays one crypt_r. */
#define STORE_FILE_CACHE_TTL 3600
#define STORE_FILE_CACHE_MAC_LEN 32

struct store_file_cache;

/* The cache's view of one login attempt; a secret: wipe after use. */
struct store_file_cache_key {
	uint64_t tag;	/* keyed hash of the user name: picks the bucket */
	uint8_t mac[STORE_FILE_CACHE_MAC_LEN];
};

struct store_file_cache_stats {
	uint64_t hits, misses, inserts;
	uint64_t evictions;	/* another user's live entry replaced */
	uint64_t expired;	/* found past the TTL and wiped */
	uint64_t drops;		/* dropped because the file changed */
	size_t entries;		/* in the table now */
};

/* Monotonic seconds; a test hook can replace the default. */
typedef int64_t store_file_cache_clock_fn(void *arg);

/* A cache of at most max_entries (0: never stores) with a new random
 * key.  NULL when out of memory or when the random generator fails. */
struct store_file_cache *store_file_cache_new(size_t max_entries, int64_t ttl);
/* Wipes every entry and the key, frees; NULL-safe; sets *cp = NULL. */
void store_file_cache_free(struct store_file_cache **cp);
/* Computes the key of (prepared user name, its {CRYPT} hash, the
 * password bytes as sent).  0, or -1 (OpenSSL failed: do not cache). */
int store_file_cache_key(const struct store_file_cache *c, const char *user, const char *crypt,
			 const uint8_t *password, size_t password_len,
			 struct store_file_cache_key *key_r);
/* True when key was put within the TTL.  Never adds or evicts. */
bool store_file_cache_hit(struct store_file_cache *c, const struct store_file_cache_key *key);
/* Records a SUCCESSFUL verification: replaces the user's entry, else
 * takes a free way of its bucket, else evicts the bucket's oldest. */
void store_file_cache_put(struct store_file_cache *c, const struct store_file_cache_key *key);
/* Wipes the entry of this (prepared) user name, if any. */
void store_file_cache_drop(struct store_file_cache *c, const char *user);
/* Wipes every entry (the key stays). */
void store_file_cache_clear(struct store_file_cache *c);
/* Test hooks: replace the clock (NULL: back to the default), read the
 * counters. */
void store_file_cache_set_clock(struct store_file_cache *c, store_file_cache_clock_fn *fn,
				void *arg);
void store_file_cache_get_stats(const struct store_file_cache *c,
				struct store_file_cache_stats *stats_r);
/* The cache of an open file store (store_impl_of(st, &store_file_ops)),
 * for tests and the benchmark. */
struct store_file_cache *store_file_cache_of(void *impl);

/* ---- store_file_db.c: reading and parsing ---- */

/* Reads the whole file (at most STORE_FILE_SIZE_MAX bytes) into a new
 * NUL-terminated *text_r and fills *st_r.  Returns 0, or -1 with errno
 * kept and *err_r = "PATH: strerror" (malloc'd). */
int store_file_db_read(const char *path, char **text_r, size_t *len_r,
		       struct stat *st_r, char **err_r);
/* Parses text (len bytes; path only names it in messages) into *db.
 * Returns 0, or -1 with *err_r = "PATH:LINE: what is wrong" (malloc'd)
 * and *db empty.  The text is not kept: wipe it after. */
int store_file_db_parse(struct store_file_db *db, const char *path,
			const char *text, size_t len, char **err_r);
/* Wipes every secret and frees; *db is empty after. */
void store_file_db_free(struct store_file_db *db);
/* The user with this (prepared) name, or NULL. */
const struct store_file_user *store_file_db_find(const struct store_file_db *db,
						 const char *name);

/* ---- store_file_entry.c: making a user's line from a password ---- */

/* SCRAM iteration count for new entries; see store_file_entry.c. */
#define STORE_FILE_SCRAM_ITER 4096u

/* Appends "NAME:{CRYPT}...:{SCRAM-SHA-1}...:{SCRAM-SHA-256}...:{CRAM-MD5}...\n"
 * to line, a buf made with buf_init(line, STORE_FILE_LINE_MAX) (its
 * whole capacity is taken up front, so that no realloc leaves secrets in
 * freed memory; wipe it after use).  name must be prepared already.
 * Returns 0, or -1 with *err_r malloc'd (never containing the password). */
int store_file_entry_make(struct buf *line, const char *name, const char *password,
			  char **err_r);

/* ---- store_file_edit.c: changing the file safely ---- */

enum store_file_edit_rc {
	STORE_FILE_EDIT_OK,
	STORE_FILE_EDIT_EXISTS,	/* add: the user is there already */
	STORE_FILE_EDIT_NOUSER,	/* del: no such user */
	STORE_FILE_EDIT_ERROR,	/* anything else; message in *err_r */
};

/* Both rewrite the file atomically under an exclusive lock on PATH.lock
 * (read, change, write PATH.tmp.PID mode 0600, fsync, rename, fsync the
 * folder), so concurrent runs lose nothing and a crash leaves either
 * the old or the new file.  A missing file is created (add) or is
 * empty.  user is taken as typed and prepared here.  Every result but
 * OK sets *err_r (malloc'd), naming the file or user. */
struct store_file_newuser {
	const char *name;	/* as typed */
	const char *password;	/* NUL-terminated; the caller wipes it */
};
enum store_file_edit_rc store_file_edit_add(const char *path, const struct store_file_newuser *u,
					    char **err_r);
enum store_file_edit_rc store_file_edit_del(const char *path, const char *user,
					    char **err_r);
/* Could an edit of path be written (its lock file opened or created, its
 * folder writable)?  For asking before a password prompt; the edit
 * itself checks again.  0, or -1 with *err_r (malloc'd) naming the file
 * or folder and why. */
int store_file_edit_writable(const char *path, char **err_r);

/* Makes a rename or link to path durable: fsyncs the folder that holds
 * the entry.  0, or -1 with errno set. */
int store_file_sync_dir(const char *path);

#endif
