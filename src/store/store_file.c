/* store_file.c - the "file:" credential backend: a users file (format in
 * store_file.h) held in memory and re-read when it changes on disk.
 *
 * Not thread-safe: the auth process calls it from its event loop; only
 * a job's store_file_job_run() (crypt_r on copies) runs on a worker.
 */
#include "store/store_file.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "store/store_impl.h"
#include "util/log.h"
#include "util/str.h"

/* What identifies one version of the file: `postern passwd` replaces it
 * by rename, so the inode alone changes on every write; size and mtime
 * catch an editor that rewrites it in place. */
struct store_file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

struct store_file {
	char *path;
	struct store_file_db db;
	struct store_file_sig loaded;
	/* The version that last failed to load, so that a broken file is
	 * parsed (and logged) once, not on every AUTH. */
	struct store_file_sig failed;
	bool has_failed;
	/* A yescrypt setting to hash against for unknown users, so that
	 * "no such user" costs as much as "wrong password". */
	char dummy_setting[CRYPT_GENSALT_OUTPUT_SIZE];
	/* Recent successful PLAIN/LOGIN logins (store_file_cache.c). */
	struct store_file_cache *cache;
};

static struct store_file_sig
store_file_sig_of(const struct stat *st)
{
	struct store_file_sig s;
	memset(&s, 0, sizeof s);	/* no padding bytes left for sig_eq */
	s.dev = st->st_dev;
	s.ino = st->st_ino;
	s.size = st->st_size;
	s.mtim = st->st_mtim;
	return s;
}

static bool
store_file_sig_eq(const struct store_file_sig *a, const struct store_file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

char *
store_file_resolve(const char *arg, const char *base_dir)
{
	char *path = NULL;
	if (arg[0] == '/' || base_dir == NULL)
		return strdup(arg);
	if (asprintf(&path, "%s/%s", base_dir, arg) < 0)
		return NULL;
	return path;
}

/* Before next replaces the loaded users: wipes the cached logins of
 * users who are gone or whose {CRYPT} hash changed, so that `postern
 * passwd del` or a new password leaves nothing of the old one behind.
 * (They could not hit anyway: the cache key covers the hash.)  The
 * others stay cached, so adding one user does not send every busy
 * client back to crypt_r at once. */
static void
store_file_forget_changed(struct store_file *sf, const struct store_file_db *next)
{
	struct store_file_cache_stats stats;
	store_file_cache_get_stats(sf->cache, &stats);
	for (size_t i = 0; stats.entries > 0 && i < sf->db.n; i++) {
		const struct store_file_user *old = &sf->db.users[i];
		if (old->crypt == NULL)
			continue;
		const struct store_file_user *now = store_file_db_find(next, old->name);
		if (now == NULL || now->crypt == NULL || strcmp(now->crypt, old->crypt) != 0)
			store_file_cache_drop(sf->cache, old->name);
	}
}

/* Reads and parses the file; replaces the contents only on success. */
static int
store_file_load(struct store_file *sf, char **err_r)
{
	char *text;
	size_t len;
	struct stat st;
	if (store_file_db_read(sf->path, &text, &len, &st, err_r) < 0)
		return -1;
	struct store_file_db db;
	int rc = store_file_db_parse(&db, sf->path, text, len, err_r);
	OPENSSL_cleanse(text, len);
	free(text);
	if (rc < 0) {
		sf->failed = store_file_sig_of(&st);
		sf->has_failed = true;
		return -1;
	}
	store_file_forget_changed(sf, &db);
	store_file_db_free(&sf->db);
	sf->db = db;
	sf->loaded = store_file_sig_of(&st);
	sf->has_failed = false;
	return 0;
}

static void
store_file_free(void *impl)
{
	struct store_file *sf = impl;
	store_file_db_free(&sf->db);
	store_file_cache_free(&sf->cache);
	free(sf->path);
	free(sf);
}

static void *
store_file_open(const char *arg, const char *base_dir, char **err_r)
{
	if (*arg == '\0') {
		*err_r = str_printf("credentials: file store without a file name");
		return NULL;
	}
	struct store_file *sf = calloc(1, sizeof *sf);
	if (sf == NULL || (sf->path = store_file_resolve(arg, base_dir)) == NULL) {
		free(sf);
		*err_r = str_printf("%s: out of memory", arg);
		return NULL;
	}
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, sf->dummy_setting, sizeof sf->dummy_setting) == NULL) {
		*err_r = str_printf("%s: crypt_gensalt(yescrypt): %s", sf->path, strerror(errno));
		store_file_free(sf);
		return NULL;
	}
	sf->cache = store_file_cache_new(STORE_FILE_CACHE_MAX, STORE_FILE_CACHE_TTL);
	if (sf->cache == NULL) {
		*err_r = str_printf("%s: login cache: out of memory or no random bytes", sf->path);
		store_file_free(sf);
		return NULL;
	}
	if (store_file_load(sf, err_r) < 0) {
		store_file_free(sf);
		return NULL;
	}
	return sf;
}

/* The cheap check before each answer: one stat(2).  When the file
 * cannot be read or parsed, the users loaded before stay in use: a
 * half-edited file must not lock everybody out. */
static void
store_file_refresh(struct store_file *sf)
{
	struct stat st;
	if (stat(sf->path, &st) < 0) {
		struct store_file_sig gone;
		memset(&gone, 0, sizeof gone);
		if (!sf->has_failed || !store_file_sig_eq(&gone, &sf->failed))
			log_warn("store=file path=%s error=\"%s\" using the users loaded before",
				 sf->path, strerror(errno));
		sf->failed = gone;
		sf->has_failed = true;
		return;
	}
	struct store_file_sig now = store_file_sig_of(&st);
	if (store_file_sig_eq(&now, &sf->loaded))
		return;
	if (sf->has_failed && store_file_sig_eq(&now, &sf->failed))
		return;
	char *err = NULL;
	if (store_file_load(sf, &err) < 0) {
		log_warn("store=file error=\"%s\" using the users loaded before",
			 err ? err : "out of memory");
		free(err);
	}
}

/* crypt_r() of the prepared password against setting; true on a match.
 * *tempfail_r is set when it could not be computed at all.  This is the
 * cost (several milliseconds of CPU, by design of yescrypt) that the
 * login cache saves on a repeated right password. */
static bool
store_file_crypt_ok(const char *password, const char *setting, bool *tempfail_r)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (cd == NULL) {
		*tempfail_r = true;
		return false;
	}
	const char *h = crypt_r(password, setting, cd);
	size_t n = strlen(setting);
	/* libxcrypt returns a string starting with '*' on failure. */
	bool ok = h != NULL && h[0] != '*' && strlen(h) == n && CRYPTO_memcmp(h, setting, n) == 0;
	OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return ok;
}

/* PLAIN/LOGIN: the hash holds crypt(SASLprep(password)), the same
 * preparation SCRAM applies (RFC 5802 Hi(Normalize(password))).
 * Returns OK, BADPASS (also for a password SASLprep refuses) or
 * TEMPFAIL.  Thread-safe: touches only its arguments. */
static enum sasl_cred_status
store_file_crypt_check(const char *setting, const uint8_t *password, size_t password_len)
{
	char *pw = NULL, *prep = NULL;
	const char *why;
	bool tempfail = false, ok = false;
	pw = strndup((const char *)password, password_len);
	if (pw == NULL)
		return SASL_CRED_TEMPFAIL;
	if (sasl_saslprep(pw, &prep, &why) == 0) {
		ok = store_file_crypt_ok(prep, setting, &tempfail);
		str_wipe_free(&prep);
	}
	OPENSSL_cleanse(pw, password_len);
	free(pw);
	if (tempfail)
		return SASL_CRED_TEMPFAIL;
	return ok ? SASL_CRED_OK : SASL_CRED_BADPASS;
}

/* A password check that runs off the loop (store.h): copies of all it
 * needs, so that the store may change or reload meanwhile. */
struct store_file_job {
	struct store_job base;
	char *setting;		/* the user's {CRYPT} hash, or the dummy setting */
	uint8_t *password;
	size_t password_len;
	struct store_file_cache_key key;
	bool keyed;		/* key is valid: a success goes into the cache */
	bool known;		/* the user exists */
	enum sasl_cred_status status;	/* set by store_file_job_run() */
};

static void
store_file_job_free(struct store_job *jb)
{
	struct store_file_job *j = (struct store_file_job *)jb;
	if (j->password != NULL)
		OPENSSL_cleanse(j->password, j->password_len);
	free(j->password);
	free(j->setting);
	OPENSSL_cleanse(j, sizeof *j);
	free(j);
}

/* u == NULL: no such user; the password is still hashed (against a
 * dummy setting) so that "no such user" costs what "wrong password"
 * does.  The cache is asked first and fed only with successes (in
 * store_file_job_end); a wrong password always pays the full crypt_r
 * (no negative cache), so online guessing stays as slow as yescrypt
 * makes it.  Returns NULL with a->status set when no crypt_r is due. */
static struct store_job *
store_file_verify_begin(struct store_file *sf, const struct store_file_user *u,
			const struct sasl_cred_request *req, struct sasl_cred_answer *a)
{
	if (req->password == NULL || req->password_len == 0 || req->password_len > SASL_PASS_MAX ||
	    memchr(req->password, '\0', req->password_len) != NULL) {
		a->status = u != NULL ? SASL_CRED_BADPASS : SASL_CRED_NOUSER;
		return NULL;
	}
	struct store_file_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		a->status = SASL_CRED_TEMPFAIL;
		return NULL;
	}
	j->base.ops = &store_file_ops;
	j->known = u != NULL;
	if (u != NULL) {
		j->keyed = store_file_cache_key(sf->cache, u->name, u->crypt, req->password,
						req->password_len, &j->key) == 0;
		if (j->keyed && store_file_cache_hit(sf->cache, &j->key)) {
			store_file_job_free(&j->base);
			a->status = SASL_CRED_OK;
			return NULL;
		}
	}
	j->setting = strdup(u != NULL ? u->crypt : sf->dummy_setting);
	j->password = malloc(req->password_len);
	if (j->setting == NULL || j->password == NULL) {
		store_file_job_free(&j->base);
		a->status = SASL_CRED_TEMPFAIL;
		return NULL;
	}
	memcpy(j->password, req->password, req->password_len);
	j->password_len = req->password_len;
	/* base is the first member: the job is the pointer. */
	return (struct store_job *)(void *)j;
}

static void
store_file_job_run(struct store_job *jb)
{
	struct store_file_job *j = (struct store_file_job *)jb;
	j->status = store_file_crypt_check(j->setting, j->password, j->password_len);
	OPENSSL_cleanse(j->password, j->password_len);
}

static void
store_file_job_end(void *impl, struct store_job *jb, struct sasl_cred_answer *a)
{
	struct store_file *sf = impl;
	struct store_file_job *j = (struct store_file_job *)jb;
	enum sasl_cred_status st = j->status;
	if (!j->known && st != SASL_CRED_TEMPFAIL)
		st = SASL_CRED_NOUSER;
	if (j->known && st == SASL_CRED_OK && j->keyed)
		store_file_cache_put(sf->cache, &j->key);
	a->status = st;
	store_file_job_free(jb);
}

static void
store_file_scram_copy(const struct store_file_scram *s, struct sasl_cred_answer *a)
{
	if (s->iterations == 0) {
		a->status = SASL_CRED_NOSECRET;
		return;
	}
	a->iterations = s->iterations;
	memcpy(a->salt, s->salt, s->salt_len);
	a->salt_len = s->salt_len;
	memcpy(a->stored_key, s->stored_key, s->key_len);
	memcpy(a->server_key, s->server_key, s->key_len);
	a->key_len = s->key_len;
	a->status = SASL_CRED_OK;
}

/* Answers at once, or returns the crypt_r job of a password check. */
static struct store_job *
store_file_begin(void *impl, const struct sasl_cred_request *req, struct sasl_cred_answer *a)
{
	struct store_file *sf = impl;
	store_file_refresh(sf);
	char *name = NULL;
	const char *why;
	const struct store_file_user *u = NULL;
	/* A name that could never be stored names nobody. */
	if (req->authcid != NULL && store_user_prep(req->authcid, &name, &why) == 0)
		u = store_file_db_find(&sf->db, name);
	free(name);
	switch (req->kind) {
	case SASL_CRED_PASSWORD:
		if (u != NULL && u->crypt == NULL) {
			a->status = SASL_CRED_NOSECRET;
			return NULL;
		}
		return store_file_verify_begin(sf, u, req, a);
	case SASL_CRED_CRAM_MD5:
		if (u == NULL) {
			a->status = SASL_CRED_NOUSER;
		} else if (!u->has_cram_md5) {
			a->status = SASL_CRED_NOSECRET;
		} else {
			memcpy(a->cram_md5, u->cram_md5, sizeof a->cram_md5);
			a->status = SASL_CRED_OK;
		}
		return NULL;
	case SASL_CRED_SCRAM_SHA1:
	case SASL_CRED_SCRAM_SHA256:
		if (u == NULL)
			a->status = SASL_CRED_NOUSER;
		else
			store_file_scram_copy(req->kind == SASL_CRED_SCRAM_SHA1 ? &u->sha1 : &u->sha256, a);
		return NULL;
	case SASL_CRED_OAUTH_TOKEN:	/* tokens are checked by a token verifier */
		a->status = SASL_CRED_NOSECRET;
		return NULL;
	}
	a->status = SASL_CRED_TEMPFAIL;	/* a kind this backend does not know */
	return NULL;
}

static enum store_user
store_file_has_user(void *impl, const char *name)
{
	struct store_file *sf = impl;
	store_file_refresh(sf);
	return store_file_db_find(&sf->db, name) != NULL ? STORE_USER_YES : STORE_USER_NO;
}

static bool
store_file_supports(const void *impl, enum sasl_cred_kind kind)
{
	switch (kind) {
	case SASL_CRED_PASSWORD:
	case SASL_CRED_CRAM_MD5:
	case SASL_CRED_SCRAM_SHA1:
	case SASL_CRED_SCRAM_SHA256:
		return true;
	case SASL_CRED_OAUTH_TOKEN:
		break;
	}
	return false;
}

static int
store_file_reload(void *impl, char **err_r)
{
	return store_file_load(impl, err_r);
}

struct store_file_cache *
store_file_cache_of(void *impl)
{
	return impl != NULL ? ((struct store_file *)impl)->cache : NULL;
}

const struct store_ops store_file_ops = {
	.scheme = "file",
	.open = store_file_open,
	.free = store_file_free,
	.supports = store_file_supports,
	.answer = NULL,	/* store_file_begin() answers, or makes a job */
	.reload = store_file_reload,
	.begin = store_file_begin,
	.run = store_file_job_run,
	.end = store_file_job_end,
	.job_free = store_file_job_free,
	.has_user = store_file_has_user,
};
