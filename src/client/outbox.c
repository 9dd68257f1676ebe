/* outbox.c - the client's durable offline queue (see outbox.h). */
#include "client/outbox.h"
#include "util/atomic.h"
#include "util/buf.h"
#include "util/records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/span.h"
#include "util/str.h"

/* The file as one records-codec frame (outbox.h). */
#define OUTBOX_MAGIC "POB2"
enum {
	OB_F_ACCOUNT = 1,
	OB_F_CONFIG = 2,
	OB_F_FROM = 3,
	OB_F_RCPT = 4,
	OB_F_QUEUED = 5,
	OB_F_MESSAGE = 6,
};
/* The previous version's text format, still read (never written) so
 * that messages it queued are not lost. */
#define OUTBOX_OLD_MAGIC "postern-outbox 1\n"
/* Envelope records around the message: 10000 recipients of at most 256
 * octets (RFC 5321 4.5.3.1.3) plus the rest fit well in 4 MiB. */
#define OUTBOX_FILE_MAX (OUTBOX_MSG_MAX + (size_t)4 * 1024 * 1024)

struct outbox {
	char *dir;
	int dirfd;
	int lockfd;	/* -1 until outbox_lock() */
};

/* What a file holds; borrowed pointers. */
struct ob_env {
	const char *account;
	const char *config;
	const char *from;
	const char *const *rcpts;
	size_t nrcpts;
	const uint8_t *data;
	size_t len;
	time_t queued;
};

char *
outbox_default_dir(char **err_r)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	char *dir = NULL;
	/* XDG Base Directory: a relative $XDG_DATA_HOME is invalid and
	 * should be ignored. */
	if (xdg != NULL && xdg[0] == '/')
		dir = str_printf("%s/postern/outbox", xdg);
	else if (home != NULL && home[0] != '\0')
		dir = str_printf("%s/.local/share/postern/outbox", home);
	else
		*err_r = str_printf("outbox: neither XDG_DATA_HOME nor HOME is set");
	return dir;
}

/* mkdir -p with mode for every folder it creates. */
static int
ob_mkdirs(const char *path, mode_t mode, char **err_r)
{
	char *p = strdup(path);
	if (p == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			*err_r = str_printf("%s: cannot create folder: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}

int
outbox_open(struct outbox **ob_r, const char *dir, char **err_r)
{
	*ob_r = NULL;
	char *d = dir != NULL ? strdup(dir) : outbox_default_dir(err_r);
	if (d == NULL) {
		if (dir != NULL)
			*err_r = str_printf("%s: out of memory", dir);
		return -1;
	}
	if (ob_mkdirs(d, 0700, err_r) != 0) {
		free(d);
		return -1;
	}
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct outbox *ob = fd >= 0 ? calloc(1, sizeof *ob) : NULL;
	if (ob == NULL) {
		*err_r = str_printf("%s: cannot open folder: %s", d, fd < 0 ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		free(d);
		return -1;
	}
	ob->dir = d;
	ob->dirfd = fd;
	ob->lockfd = -1;
	*ob_r = ob;
	return 0;
}

void
outbox_close(struct outbox **obp)
{
	struct outbox *ob = *obp;
	if (ob == NULL)
		return;
	if (ob->lockfd >= 0)
		close(ob->lockfd);	/* releases the flock */
	close(ob->dirfd);
	free(ob->dir);
	free(ob);
	*obp = NULL;
}

const char *
outbox_dir(const struct outbox *ob)
{
	return ob->dir;
}

bool
outbox_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > OUTBOX_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			  (c >= 'a' && c <= 'z') || c == '.' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static int
ob_new_id(char id_r[OUTBOX_ID_MAX + 1])
{
	struct timespec now;
	struct tm tm;
	unsigned char rnd[4];
	if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &tm) == NULL ||
	    RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	char ts[20];
	if (strftime(ts, sizeof ts, "%Y%m%dT%H%M%S", &tm) == 0)
		return -1;
	int n = snprintf(id_r, OUTBOX_ID_MAX + 1, "%s.%06ldZ-%02x%02x%02x%02x", ts,
			 now.tv_nsec / 1000, rnd[0], rnd[1], rnd[2], rnd[3]);
	return n > 0 && n <= OUTBOX_ID_MAX ? 0 : -1;
}

static int
ob_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* e as one codec frame in b (outbox.h: "POB2" and its fields).
 * Returns BUF_OK or a buf_rc. */
static int
ob_encode(struct buf *b, const struct ob_env *e)
{
	size_t at;
	int rc = rec_frame_begin(b, &at);
	if (rc == BUF_OK)
		rc = rec_field_str(b, OB_F_ACCOUNT, e->account);
	if (rc == BUF_OK)
		rc = rec_field_str(b, OB_F_CONFIG, e->config);	/* NULL: no field */
	if (rc == BUF_OK)
		rc = rec_field_str(b, OB_F_FROM, e->from);
	if (rc == BUF_OK)
		rc = rec_field_u64(b, OB_F_QUEUED, e->queued > 0 ? (uint64_t)e->queued : 0);
	for (size_t i = 0; rc == BUF_OK && i < e->nrcpts; i++)
		rc = rec_field_str(b, OB_F_RCPT, e->rcpts[i]);
	if (rc == BUF_OK)
		rc = rec_field(b, OB_F_MESSAGE, e->data, e->len);
	if (rc == BUF_OK)
		rec_frame_end(b, at, OUTBOX_MAGIC);
	return rc;
}

/* Writes frame to ".ID.tmp" and publishes it as ID with the shared
 * helper (atomic.h: fsync, rename, folder fsync).  A fresh ID that
 * exists already (another process, same microsecond and random bits)
 * gets a new one and is written again.  Returns 0 or -1 with *err_r. */
static int
ob_publish(struct outbox *ob, const struct buf *frame, bool replace,
	   char id_r[OUTBOX_ID_MAX + 1], char **err_r)
{
	for (int tries = 0;; tries++) {
		if (!replace && ob_new_id(id_r) != 0) {
			*err_r = str_printf("%s: cannot make a message ID (clock or random source)",
					    ob->dir);
			return -1;
		}
		char tmp[OUTBOX_ID_MAX + 8];
		int tn = snprintf(tmp, sizeof tmp, ".%s.tmp", id_r);
		if (tn < 0 || (size_t)tn >= sizeof tmp) {	/* a cut name would be another file */
			*err_r = str_printf("%s: message ID '%s' too long", ob->dir, id_r);
			return -1;
		}
		int fd = openat(ob->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				0600);
		if (fd < 0) {
			*err_r = str_printf("%s/%s: cannot create: %s", ob->dir, tmp, strerror(errno));
			return -1;
		}
		const char *step = "write";
		int rc;
		if (ob_write_all(fd, frame->p, frame->len) != 0) {
			int e = errno;
			close(fd);
			(void)unlinkat(ob->dirfd, tmp, 0);
			errno = e;
			rc = -1;
		} else {
			rc = atomic_publish(ob->dirfd, fd, tmp, id_r, replace, &step);
		}
		if (rc == 0)
			return 0;
		if (errno == EEXIST && !replace && tries < 5)
			continue;
		*err_r = str_printf("%s/%s: cannot write (%s): %s", ob->dir, id_r, step,
				    strerror(errno));
		return -1;
	}
}

/* Encodes e and publishes it as a fresh ID, or as id_r when replace. */
static int
ob_commit(struct outbox *ob, const struct ob_env *e, bool replace, char id_r[OUTBOX_ID_MAX + 1],
	  char **err_r)
{
	struct buf b;
	buf_init(&b, OUTBOX_FILE_MAX);
	if (ob_encode(&b, e) != BUF_OK) {
		buf_wipe_free(&b);
		*err_r = str_printf("%s: cannot queue: out of memory or message too large", ob->dir);
		return -1;
	}
	int rc = ob_publish(ob, &b, replace, id_r, err_r);
	buf_wipe_free(&b);	/* private mail: do not leave copies about */
	return rc;
}

int
outbox_add(struct outbox *ob, const char *account, const char *config, const char *from,
	   const char *const *rcpts, size_t nrcpts, const uint8_t *data, size_t len,
	   char id_r[OUTBOX_ID_MAX + 1], char **err_r)
{
	if (account == NULL || account[0] == '\0' || from == NULL || nrcpts == 0 ||
	    nrcpts > OUTBOX_RCPTS_MAX || len > OUTBOX_MSG_MAX) {
		*err_r = str_printf("%s: cannot queue: %s", ob->dir,
				len > OUTBOX_MSG_MAX ? "message too large" :
				nrcpts == 0 ? "no recipients" :
				nrcpts > OUTBOX_RCPTS_MAX ? "too many recipients" : "no account name");
		return -1;
	}
	struct ob_env e = {
		.account = account, .config = config, .from = from, .rcpts = rcpts,
		.nrcpts = nrcpts, .data = data, .len = len, .queued = time(NULL),
	};
	return ob_commit(ob, &e, false, id_r, err_r);
}

int
outbox_set_rcpts(struct outbox *ob, const struct outbox_msg *m, const char *const *rcpts,
		 size_t nrcpts, char **err_r)
{
	if (nrcpts == 0 || nrcpts > OUTBOX_RCPTS_MAX || !outbox_id_valid(m->id)) {
		*err_r = str_printf("%s/%s: bad recipient list or ID", ob->dir, m->id);
		return -1;
	}
	struct ob_env e = {
		.account = m->account, .config = m->config, .from = m->from, .rcpts = rcpts,
		.nrcpts = nrcpts, .data = m->data, .len = m->len, .queued = m->queued,
	};
	char id[OUTBOX_ID_MAX + 1];
	(void)snprintf(id, sizeof id, "%s", m->id);	/* same size as m->id */
	return ob_commit(ob, &e, true, id, err_r);
}

int
outbox_store(const char *account, const char *config, const char *from,
	     const char *const *rcpts, size_t nrcpts, const uint8_t *data, size_t len,
	     char id_r[OUTBOX_ID_MAX + 1], char **err_r)
{
	struct outbox *ob;
	if (outbox_open(&ob, NULL, err_r) != 0)
		return -1;
	int rc = outbox_add(ob, account, config, from, rcpts, nrcpts, data, len, id_r, err_r);
	outbox_close(&ob);
	return rc;
}

static int
ob_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
outbox_list(struct outbox *ob, char ***ids_r, size_t *n_r, char **err_r)
{
	*ids_r = NULL;
	*n_r = 0;
	int fd = openat(ob->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		*err_r = str_printf("%s: cannot read folder: %s", ob->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char **ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!outbox_id_valid(de->d_name))
			continue;	/* ".", "..", ".lock", ".ID.tmp", foreign names */
		char *id = strdup(de->d_name);
		if (id == NULL) {
			rc = -1;
			break;
		}
		if (n == cap) {
			/* A new array rather than realloc(): gcc's analyzer
			 * loses track of pointers stored in a realloc'd block. */
			size_t ncap = cap ? cap * 2 : 16;
			char **nids = calloc(ncap, sizeof *ids);
			if (nids == NULL) {
				free(id);
				rc = -1;
				break;
			}
			for (size_t i = 0; i < n; i++)
				nids[i] = ids[i];
			free(ids);
			ids = nids;
			cap = ncap;
		}
		ids[n++] = id;	/* ids owns it from here */
	}
	closedir(d);
	if (rc != 0) {
		outbox_free_ids(&ids, n);
		*err_r = str_printf("%s: out of memory listing the folder", ob->dir);
		return -1;
	}
	if (n > 0)
		qsort(ids, n, sizeof *ids, ob_cmp);
	*ids_r = ids;
	*n_r = n;
	return 0;
}

void
outbox_free_ids(char ***ids, size_t n)
{
	if (*ids == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*ids)[i]);
	free(*ids);
	*ids = NULL;
}

/* Reads a whole file of at most OUTBOX_FILE_MAX bytes. */
static int
ob_slurp(struct outbox *ob, const char *id, char **p_r, size_t *n_r, char **err_r)
{
	int fd = openat(ob->dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		*err_r = errno == ENOENT ? str_printf("%s/%s: no such message", ob->dir, id)
					 : str_printf("%s/%s: %s", ob->dir, id, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size > OUTBOX_FILE_MAX) {
		*err_r = str_printf("%s/%s: not a regular file or too large", ob->dir, id);
		close(fd);
		return -1;
	}
	size_t want = (size_t)st.st_size, got = 0;
	char *p = malloc(want + 1);
	while (p != NULL && got < want) {
		ssize_t r = read(fd, p + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (p == NULL || got != want) {
		*err_r = str_printf("%s/%s: cannot read: %s", ob->dir, id, p ? "short read" : "out of memory");
		free(p);
		return -1;
	}
	p[got] = '\0';
	*p_r = p;
	*n_r = got;
	return 0;
}

/* Takes "KEY LEN\n" + LEN bytes + "\n" from in. 0, or -1 when torn. */
static int
ob_next_rec(struct span *in, struct span *key_r, struct span *val_r)
{
	long nl = span_chr(*in, '\n');
	if (nl < 0 || nl > 64)
		return -1;
	struct span head = { in->p, (size_t)nl };
	long sp = span_chr(head, ' ');
	if (sp <= 0 || (size_t)sp + 1 >= head.n)
		return -1;
	*key_r = (struct span){ head.p, (size_t)sp };
	size_t len = 0;
	for (size_t i = (size_t)sp + 1; i < head.n; i++) {
		char c = head.p[i];
		if (c < '0' || c > '9' || len > OUTBOX_FILE_MAX / 10)
			return -1;
		len = len * 10 + (size_t)(c - '0');
	}
	span_skip(in, (size_t)nl + 1);
	if (len >= in->n || in->p[len] != '\n')
		return -1;
	*val_r = (struct span){ in->p, len };
	span_skip(in, len + 1);
	return 0;
}

static char *
ob_strndup_text(struct span v)
{
	/* Envelope fields are text: a NUL inside one is corruption. */
	if (memchr(v.p, '\0', v.n) != NULL)
		return NULL;
	return strndup(v.p, v.n);
}

static int
ob_add_rcpt(struct outbox_msg *m, struct span v)
{
	if (m->nrcpts >= OUTBOX_RCPTS_MAX)
		return -1;
	char *rcpt = ob_strndup_text(v);
	if (rcpt == NULL)
		return -1;
	/* A new array rather than realloc(): gcc's analyzer loses track of
	 * pointers stored in a realloc'd block.  nrcpts is capped above, so
	 * the copying stays small and the size cannot overflow. */
	char **r = malloc((m->nrcpts + 1) * sizeof *r);
	if (r == NULL) {
		free(rcpt);
		return -1;
	}
	for (size_t i = 0; i < m->nrcpts; i++)
		r[i] = m->rcpts[i];
	r[m->nrcpts] = rcpt;
	free(m->rcpts);
	m->rcpts = r;	/* m owns the array and every address in it */
	m->nrcpts++;
	return 0;
}

/* One record into m. Returns 1 at "end", 0 to go on, -1 on bad data. */
static int
ob_take_rec(struct outbox_msg *m, struct span key, struct span v)
{
	if (span_eq(key, "end"))
		return 1;
	if (span_eq(key, "rcpt"))
		return ob_add_rcpt(m, v);
	if (span_eq(key, "message")) {
		if (m->data != NULL || (m->data = malloc(v.n ? v.n : 1)) == NULL)
			return -1;
		memcpy(m->data, v.p, v.n);
		m->len = v.n;
		return 0;
	}
	if (span_eq(key, "queued")) {
		char num[24];
		char *end;
		if (span_cstr(v, num, sizeof num) != 0)
			return -1;
		m->queued = (time_t)strtoll(num, &end, 10);
		return *end == '\0' ? 0 : -1;
	}
	/* Each text field once; an unknown or repeated record is damage.
	 * (Assigned to the field by name: m owns the copy at once.) */
	if (span_eq(key, "account") && m->account == NULL)
		return (m->account = ob_strndup_text(v)) != NULL ? 0 : -1;
	if (span_eq(key, "config") && m->config == NULL)
		return (m->config = ob_strndup_text(v)) != NULL ? 0 : -1;
	if (span_eq(key, "from") && m->from == NULL)
		return (m->from = ob_strndup_text(v)) != NULL ? 0 : -1;
	return -1;
}

/* Every field a message needs is there. */
static bool
ob_complete(const struct outbox_msg *m)
{
	return m->account != NULL && m->account[0] != '\0' && m->from != NULL && m->nrcpts > 0 &&
	       m->data != NULL;
}

/* The previous version's text file ("postern-outbox 1"), read only. */
static int
ob_parse_old(struct span in, struct outbox_msg *m)
{
	struct span magic = SPAN_LIT(OUTBOX_OLD_MAGIC);
	span_skip(&in, magic.n);	/* checked by the caller */
	for (;;) {
		struct span key, val;
		if (ob_next_rec(&in, &key, &val) != 0)
			return -1;
		int rc = ob_take_rec(m, key, val);
		if (rc < 0)
			return -1;
		if (rc == 1)
			break;
	}
	return in.n == 0 && ob_complete(m) ? 0 : -1;
}

/* A field type's name: the same rules as the old format's keys apply
 * (ob_take_rec), so both formats check fields in one place. */
static const char *
ob_field_key(uint8_t type)
{
	switch (type) {
	case OB_F_ACCOUNT: return "account";
	case OB_F_CONFIG: return "config";
	case OB_F_FROM: return "from";
	case OB_F_RCPT: return "rcpt";
	case OB_F_QUEUED: return "queued";
	case OB_F_MESSAGE: return "message";
	default: return NULL;	/* "end" has no field: the frame has a length */
	}
}

/* The file as one "POB2" frame filling it.  Returns REC_OK, REC_SHORT
 * (torn: the frame is cut) or REC_BAD with *why_r. */
static int
ob_parse_frame(const uint8_t *p, size_t n, struct outbox_msg *m, const char **why_r)
{
	const uint8_t *pl;
	size_t pn, flen;
	int rc = rec_frame_parse(p, n, OUTBOX_MAGIC, OUTBOX_FILE_MAX, &pl, &pn, &flen, why_r);
	if (rc != REC_OK)
		return rc;
	if (flen != n) {
		*why_r = "bytes after the frame";
		return REC_BAD;
	}
	struct rec_iter it;
	uint8_t type;
	const uint8_t *v;
	size_t vn;
	rec_iter_init(&it, pl, pn);
	while ((rc = rec_next(&it, &type, &v, &vn)) == 1) {
		const char *key = ob_field_key(type);
		if (key == NULL || ob_take_rec(m, span_of(key), (struct span){ (const char *)v, vn }) != 0) {
			*why_r = key == NULL ? "unknown field" : "bad or repeated field";
			return REC_BAD;
		}
	}
	if (rc != 0 || !ob_complete(m)) {
		*why_r = rc != 0 ? "field runs past the frame" : "missing field";
		return REC_BAD;
	}
	return REC_OK;
}

/* Parses either format; on failure a sentence (malloc'd) in *err_r. */
static int
ob_parse(struct outbox *ob, const char *p, size_t n, struct outbox_msg *m, char **err_r)
{
	const char *what = "not an outbox message", *why = NULL;
	int rc;
	struct span old = SPAN_LIT(OUTBOX_OLD_MAGIC);
	if (n >= old.n && memcmp(p, old.p, old.n) == 0) {
		rc = ob_parse_old((struct span){ p, n }, m);
		what = "torn or edited";
		why = "old format";
	} else {
		rc = ob_parse_frame((const uint8_t *)p, n, m, &why);
		if (rc == REC_SHORT) {
			what = "torn";
			why = "frame cut short";
		}
	}
	if (rc == 0)
		return 0;
	/* "damaged outbox file" stays in every such sentence: scripts and
	 * `outbox list` look for it. */
	*err_r = str_printf("%s/%s: %s (damaged outbox file: %s, %zu bytes); not sent", ob->dir,
			    m->id, what, why != NULL ? why : "bad data", n);
	return -1;
}

int
outbox_read(struct outbox *ob, const char *id, struct outbox_msg *m, char **err_r)
{
	memset(m, 0, sizeof *m);
	if (!outbox_id_valid(id)) {
		*err_r = str_printf("%s: '%s' is not a message ID", ob->dir, id);
		return -1;
	}
	char *p;
	size_t n;
	if (ob_slurp(ob, id, &p, &n, err_r) != 0)
		return -1;
	(void)snprintf(m->id, sizeof m->id, "%s", id);	/* outbox_id_valid(): it fits */
	int rc = ob_parse(ob, p, n, m, err_r);
	OPENSSL_cleanse(p, n);	/* private mail: do not leave copies about */
	free(p);
	if (rc != 0) {
		outbox_msg_free(m);
		return -1;
	}
	return 0;
}

void
outbox_msg_free(struct outbox_msg *m)
{
	free(m->account);
	free(m->config);
	free(m->from);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->data);
	memset(m, 0, sizeof *m);
}

int
outbox_delete(struct outbox *ob, const char *id, char **err_r)
{
	if (!outbox_id_valid(id)) {
		*err_r = str_printf("%s: '%s' is not a message ID", ob->dir, id);
		return -1;
	}
	if (unlinkat(ob->dirfd, id, 0) != 0) {
		*err_r = errno == ENOENT ? str_printf("%s/%s: no such message", ob->dir, id)
					 : str_printf("%s/%s: cannot delete: %s", ob->dir, id, strerror(errno));
		return -1;
	}
	/* Otherwise a crash could bring the message back and send it twice. */
	if (fsync(ob->dirfd) != 0) {
		*err_r = str_printf("%s: cannot sync folder: %s", ob->dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
outbox_lock(struct outbox *ob, char **err_r)
{
	if (ob->lockfd >= 0)
		return 0;
	int fd = openat(ob->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*err_r = str_printf("%s/.lock: %s", ob->dir, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return 1;
		*err_r = str_printf("%s/.lock: %s", ob->dir, strerror(e));
		return -1;
	}
	ob->lockfd = fd;
	return 0;
}
