/* store_file_db.c - reading and parsing a users file (format in
 * store_file.h) into memory.  Strict: any line we cannot read exactly
 * fails the whole file with "FILE:LINE: what", because a store that
 * silently skips a line locks a user out with no clue why. */
#include "store/store_file.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "store/store_impl.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/span.h"
#include "util/str.h"

/* Where a line is, for messages. */
struct pctx {
	const char *path;
	unsigned line;
	char **err_r;
};

static int pctx_err(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets *err_r to "PATH:LINE: message" and returns -1. */
static int
pctx_err(struct pctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = str_vprintf(fmt, ap);
	va_end(ap);
	*c->err_r = str_printf("%s:%u: %s", c->path, c->line, msg != NULL ? msg : "out of memory");
	free(msg);
	return -1;
}

int
store_file_db_read(const char *path, char **text_r, size_t *len_r, struct stat *st_r,
		   char **err_r)
{
	*text_r = NULL;
	*len_r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st_r) < 0)
		goto fail;
	if (!S_ISREG(st_r->st_mode)) {
		errno = EINVAL;
		*err_r = str_printf("%s: not a regular file", path);
		goto fail_msg;
	}
	if ((uintmax_t)st_r->st_size > STORE_FILE_SIZE_MAX) {
		errno = EFBIG;
		*err_r = str_printf("%s: larger than %zu bytes", path, STORE_FILE_SIZE_MAX);
		goto fail_msg;
	}
	size_t size = (size_t)st_r->st_size, got = 0;
	char *text = malloc(size + 1);
	if (text == NULL)
		goto fail;
	/* The file is replaced by rename, never rewritten in place, so the
	 * inode we opened holds exactly st_size bytes. */
	while (got < size) {
		ssize_t r = read(fd, text + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			OPENSSL_cleanse(text, got);
			free(text);
			errno = e;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	text[got] = '\0';
	*text_r = text;
	*len_r = got;
	return 0;
fail:
	*err_r = str_printf("%s: %s", path, strerror(errno));
fail_msg:
	if (fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return -1;
}

/* Decodes strict base64 into dst (at most max bytes).  Returns 0, -1
 * for bad base64, -2 when it decodes to more than max bytes. */
static int
db_b64(struct span v, uint8_t *dst, size_t max, size_t *len_r)
{
	if (v.n > b64_encoded_len(max))
		return -2;
	/* Room for the whole of the last quantum: b64_decode needs it
	 * before it drops the padding. */
	struct buf b;
	buf_init(&b, b64_decoded_max(v.n));
	int rc = b64_decode(&b, v.p, v.n);
	if (rc == 0 && b.len > max)
		rc = -2;
	else if (rc == 0 && b.len > 0)
		memcpy(dst, b.p, b.len);
	else if (rc != 0)
		rc = -1;
	*len_r = b.len;
	buf_wipe_free(&b);
	return rc;
}

/* Splits off the text up to sep (or the end) into part_r; returns
 * whether a sep was there (and skipped). */
static bool
db_cut(struct span *in, char sep, struct span *part_r)
{
	long i = span_chr(*in, sep);
	size_t n = i < 0 ? in->n : (size_t)i;
	*part_r = (struct span){ in->p, n };
	span_skip(in, i < 0 ? n : n + 1);
	return i >= 0;
}

static int
db_crypt(struct pctx *c, struct store_file_user *u, struct span v)
{
	if (v.n == 0 || v.n >= CRYPT_OUTPUT_SIZE)
		return pctx_err(c, "{CRYPT}: empty or overlong hash");
	char *h = strndup(v.p, v.n);
	if (h == NULL)
		return pctx_err(c, "out of memory");
	int ok = crypt_checksalt(h);
	if (ok != CRYPT_SALT_OK) {
		OPENSSL_cleanse(h, v.n);
		free(h);
		return pctx_err(c, ok == CRYPT_SALT_METHOD_LEGACY
				? "{CRYPT}: legacy hash method refused (use yescrypt or sha512crypt)"
				: "{CRYPT}: not a hash this system's crypt(3) supports");
	}
	u->crypt = h;
	return 0;
}

/* ITER: decimal, no sign, no leading zero. */
static int
db_iter(struct pctx *c, const char *scheme, struct span v, unsigned *iter_r)
{
	unsigned long it = 0;
	if (v.n == 0 || v.n > 9 || v.p[0] == '0')
		goto bad;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			goto bad;
		it = it * 10 + (unsigned long)(v.p[i] - '0');
	}
	/* RFC 7677 section 4: "The hash iteration-count announced by a
	 * server SHOULD be at least 4096." */
	if (it < STORE_FILE_SCRAM_ITER_MIN)
		return pctx_err(c, "%s: iteration count %lu is below %u", scheme, it,
				STORE_FILE_SCRAM_ITER_MIN);
	if (it > STORE_FILE_SCRAM_ITER_MAX)
		return pctx_err(c, "%s: iteration count %lu is above %u", scheme, it,
				STORE_FILE_SCRAM_ITER_MAX);
	*iter_r = (unsigned)it;
	return 0;
bad:
	return pctx_err(c, "%s: bad iteration count \"%.*s\"", scheme,
			(int)(v.n > 20 ? 20 : v.n), v.p);
}

static int
db_scram(struct pctx *c, const char *scheme, size_t key_len, struct store_file_scram *s,
	 struct span v)
{
	struct span it, salt, sk, svk;
	db_cut(&v, ',', &it);
	db_cut(&v, ',', &salt);
	db_cut(&v, ',', &sk);
	svk = v;
	if (span_chr(svk, ',') >= 0 || svk.n == 0)
		return pctx_err(c, "%s: expected ITER,SALT,STOREDKEY,SERVERKEY", scheme);
	if (db_iter(c, scheme, it, &s->iterations) < 0)
		return -1;
	int rc = db_b64(salt, s->salt, sizeof s->salt, &s->salt_len);
	if (rc == -1)
		return pctx_err(c, "%s: salt is not valid base64", scheme);
	if (rc == -2 || s->salt_len == 0)
		return pctx_err(c, "%s: salt must be 1 to %d bytes", scheme, SASL_SALT_MAX);
	const struct span keys[2] = { sk, svk };
	uint8_t *dst[2] = { s->stored_key, s->server_key };
	const char *names[2] = { "StoredKey", "ServerKey" };
	for (int i = 0; i < 2; i++) {
		size_t n = 0;
		rc = db_b64(keys[i], dst[i], SASL_KEY_MAX, &n);
		if (rc == -1)
			return pctx_err(c, "%s: %s is not valid base64", scheme, names[i]);
		if (rc == -2 || n != key_len)
			return pctx_err(c, "%s: %s must be %zu bytes", scheme, names[i], key_len);
	}
	s->key_len = key_len;
	return 0;
}

static int
db_scram_sha1(struct pctx *c, struct store_file_user *u, struct span v)
{
	return db_scram(c, "{SCRAM-SHA-1}", 20, &u->sha1, v);
}

static int
db_scram_sha256(struct pctx *c, struct store_file_user *u, struct span v)
{
	return db_scram(c, "{SCRAM-SHA-256}", 32, &u->sha256, v);
}

static int
db_cram_md5(struct pctx *c, struct store_file_user *u, struct span v)
{
	if (v.n != 2 * sizeof u->cram_md5)
		return pctx_err(c, "{CRAM-MD5}: expected 64 hex digits");
	for (size_t i = 0; i < sizeof u->cram_md5; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)v.p[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)v.p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return pctx_err(c, "{CRAM-MD5}: expected 64 hex digits");
		u->cram_md5[i] = (uint8_t)(hi << 4 | lo);
	}
	u->has_cram_md5 = true;
	return 0;
}

static const struct {
	const char *name;
	int (*parse)(struct pctx *c, struct store_file_user *u, struct span value);
} db_schemes[] = {
	{ "{CRYPT}", db_crypt },
	{ "{SCRAM-SHA-1}", db_scram_sha1 },
	{ "{SCRAM-SHA-256}", db_scram_sha256 },
	{ "{CRAM-MD5}", db_cram_md5 },
};

/* One "{SCHEME}VALUE" field; seen has a bit per scheme of this line. */
static int
db_field(struct pctx *c, struct store_file_user *u, struct span f, unsigned k, unsigned *seen)
{
	long close = span_chr(f, '}');
	if (f.n == 0 || f.p[0] != '{' || close < 0)
		return pctx_err(c, "field %u does not start with {SCHEME}", k);
	struct span name = { f.p, (size_t)close + 1 };
	for (unsigned i = 0; i < sizeof db_schemes / sizeof *db_schemes; i++) {
		if (!span_eq(name, db_schemes[i].name))
			continue;
		if (*seen & 1u << i)
			return pctx_err(c, "%s given twice", db_schemes[i].name);
		*seen |= 1u << i;
		span_skip(&f, name.n);
		return db_schemes[i].parse(c, u, f);
	}
	return pctx_err(c, "unknown scheme %.*s", (int)(name.n > 40 ? 40 : name.n), name.p);
}

/* The user name: stored prepared, so that lookups need no second
 * normalisation of the file's side. */
static int
db_name(struct pctx *c, struct store_file_user *u, struct span name)
{
	char raw[SASL_NAME_MAX + 1];
	if (name.n == 0)
		return pctx_err(c, "bad user name: empty user name");
	if (name.n > SASL_NAME_MAX || span_cstr(name, raw, sizeof raw) < 0)
		return pctx_err(c, "bad user name: user name longer than 255 bytes");
	const char *why;
	if (store_user_prep(raw, &u->name, &why) < 0)
		return pctx_err(c, "bad user name: %s", why);
	if (strcmp(u->name, raw) != 0)
		return pctx_err(c, "bad user name: not in SASLprep form (postern passwd stores it prepared)");
	return 0;
}

static int
db_line(struct pctx *c, struct store_file_user *u, struct span line)
{
	if (line.n > STORE_FILE_LINE_MAX)
		return pctx_err(c, "line longer than %d bytes", STORE_FILE_LINE_MAX);
	for (size_t i = 0; i < line.n; i++) {
		unsigned char ch = (unsigned char)line.p[i];
		if (ch < 0x20 || ch == 0x7f)
			return pctx_err(c, "control character 0x%02x in line", ch);
	}
	long colon = span_chr(line, ':');
	if (colon < 0)
		return pctx_err(c, "no ':' after the user name");
	if (db_name(c, u, (struct span){ line.p, (size_t)colon }) < 0)
		return -1;
	span_skip(&line, (size_t)colon + 1);
	unsigned seen = 0, k = 0;
	bool more = true;
	while (more) {
		struct span f;
		more = db_cut(&line, ':', &f);
		if (db_field(c, u, f, ++k, &seen) < 0)
			return -1;
	}
	return 0;
}

static int
db_by_name_cmp(const void *a, const void *b)
{
	const struct store_file_user *x = *(const struct store_file_user *const *)a;
	const struct store_file_user *y = *(const struct store_file_user *const *)b;
	int d = strcmp(x->name, y->name);
	return d != 0 ? d : x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts the lookup index; reports the earliest line that repeats a user. */
static int
db_index(struct store_file_db *db, const char *path, char **err_r)
{
	if (db->n == 0)
		return 0;
	db->by_name = calloc(db->n, sizeof(struct store_file_user *));
	if (db->by_name == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < db->n; i++)
		db->by_name[i] = &db->users[i];
	qsort(db->by_name, db->n, sizeof(struct store_file_user *), db_by_name_cmp);
	const struct store_file_user *first = NULL, *dup = NULL;
	size_t head = 0;	/* first entry of the current run of one name */
	for (size_t i = 1; i < db->n; i++) {
		const struct store_file_user *u = db->by_name[i];
		if (strcmp(u->name, db->by_name[head]->name) != 0) {
			head = i;
			continue;
		}
		if (dup == NULL || u->line < dup->line) {
			dup = u;
			first = db->by_name[head];
		}
	}
	if (dup == NULL)
		return 0;
	char safe[LOG_SAFE_MAX];
	*err_r = str_printf("%s:%u: duplicate user \"%s\" (first on line %u)", path, dup->line,
			    log_safe(safe, sizeof safe, dup->name, strlen(dup->name)), first->line);
	return -1;
}

/* Checks line 1, the version marker. */
static int
db_marker(struct pctx *c, struct span line)
{
	if (span_eq(line, STORE_FILE_MARKER))
		return 0;
	static const char prefix[] = "# postern-users ";
	if (line.n >= sizeof prefix - 1 && memcmp(line.p, prefix, sizeof prefix - 1) == 0) {
		span_skip(&line, sizeof prefix - 1);
		return pctx_err(c, "unsupported users file version \"%.*s\" (this postern reads v1)",
				(int)(line.n > 20 ? 20 : line.n), line.p);
	}
	return pctx_err(c, "not a postern users file (the first line must be \"%s\")",
			STORE_FILE_MARKER);
}

static int
db_add_line(struct store_file_db *db, struct pctx *c, struct span line, size_t off)
{
	struct store_file_user *u = &db->users[db->n];
	memset(u, 0, sizeof *u);
	u->line = c->line;
	u->off = off;
	u->len = line.n;
	db->n++;	/* counted first, so that db_free wipes a half-parsed user */
	return db_line(c, u, line);
}

int
store_file_db_parse(struct store_file_db *db, const char *path, const char *text,
		    size_t len, char **err_r)
{
	memset(db, 0, sizeof *db);
	*err_r = NULL;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	db->users = calloc(lines + 1, sizeof *db->users);
	if (db->users == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	struct pctx c = { path, 0, err_r };
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		struct span line = { text + off, nl ? (size_t)(nl - (text + off)) : len - off };
		c.line++;
		int rc = 0;
		if (c.line == 1)
			rc = db_marker(&c, line);
		else if (line.n > 0 && line.p[0] != '#')
			rc = db_add_line(db, &c, line, off);
		if (rc < 0) {
			store_file_db_free(db);
			return -1;
		}
		off += line.n + 1;
	}
	if (db_index(db, path, err_r) < 0) {
		store_file_db_free(db);
		return -1;
	}
	return 0;
}

void
store_file_db_free(struct store_file_db *db)
{
	for (size_t i = 0; i < db->n; i++) {
		struct store_file_user *u = &db->users[i];
		free(u->name);
		str_wipe_free(&u->crypt);
	}
	if (db->users != NULL)
		OPENSSL_cleanse(db->users, db->n * sizeof *db->users);
	free(db->users);
	free(db->by_name);
	memset(db, 0, sizeof *db);
}

static int
db_find_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct store_file_user *const *)elem)->name);
}

const struct store_file_user *
store_file_db_find(const struct store_file_db *db, const char *name)
{
	if (db->n == 0)
		return NULL;
	struct store_file_user *const *u =
		bsearch(name, db->by_name, db->n, sizeof(struct store_file_user *), db_find_cmp);
	return u != NULL ? *u : NULL;
}
