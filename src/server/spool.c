/* spool.c - the spool v2 writer: opening, messages in memory or spilled
 * to tmp/, and the group commit into segments (design and crash
 * argument: spool.h). */
#include "server/spool.h"

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

#include <openssl/rand.h>

#include "server/spool_impl.h"
#include "util/log.h"
#include "util/records.h"

const char spool_err_full[] = "mail system full";

struct spool_msg {
	struct spool *sp;
	char id[SPOOL_ID_MAX];
	uint8_t *wbuf;		/* content: all of it, or the unwritten part of a spill */
	size_t wlen;
	int fd;			/* tmp/ID once spilled, else -1 */
	uint64_t size;		/* content bytes */
	uint32_t crc;		/* CRC32C of the content */
	struct buf frame;	/* the whole frame, built by spool_msg_close() */
	bool spilled;		/* has a file in tmp/ (then msg/) */
	bool closed;
	bool failed;
	bool full;		/* failed for want of space */
};

DIR *
spool_opendir(int dirfd)
{
	int fd = dirfd < 0 ? -1 : dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		int e = fd < 0 && dirfd < 0 ? EBADF : errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	rewinddir(d);	/* the dup shares its offset with the spool's descriptor */
	return d;
}

char *
spool_errf(const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	/* A message cut at 1 KB still names what failed. */
	(void)vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	return strdup(tmp);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

bool
spool_id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");
	return n == SPOOL_ID_LEN && id[n] == '\0';
}

static bool
errno_full(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

/* ---- opening ---- */

/* Opens dir/name; creates it first when create.  A missing folder is
 * fine when !must (*fd_r = -1). */
static int
spool_subdir(struct spool *sp, const char *name, bool create, bool must, int *fd_r, char **err_r)
{
	if (create && mkdirat(sp->dirfd, name, 0700) < 0 && errno != EEXIST) {
		*err_r = spool_errf("%s/%s: mkdir: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	*fd_r = openat(sp->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd_r < 0 && (must || errno != ENOENT)) {
		*err_r = spool_errf("%s/%s: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	return 0;
}

/* The newest segment's number, so that a writer that runs no gc
 * starts past it. */
static void
spool_seq_init(struct spool *sp)
{
	uint64_t *segs = NULL;
	char *err = NULL;
	long n = spool_seg_list(sp, &segs, &err);
	if (n > 0)
		sp->cur_seq = segs[n - 1];
	if (n >= 0)
		free(segs);
	free(err);
}

static struct spool *
spool_open_mode(const char *dir, bool writer, int lock_fd, bool gc, char **err_r)
{
	struct spool *sp = calloc(1, sizeof *sp);
	if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
		free(sp);
		*err_r = spool_errf("%s: out of memory", dir);
		return NULL;
	}
	sp->dirfd = sp->tmpfd = sp->queuefd = sp->segfd = sp->msgfd = sp->cur_fd = -1;
	sp->writer = writer;
	if (writer && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*err_r = spool_errf("%s: mkdir: %s", dir, strerror(errno));
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		*err_r = spool_errf("%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (writer && spool_lock_check(sp->dirfd, lock_fd, dir, err_r) < 0)
		goto fail;
	/* A reader of a spool the server has not made yet, or one of
	 * spool v1, finds some folders missing: nothing is in them. */
	if (spool_subdir(sp, "queue", false, false, &sp->queuefd, err_r) < 0 ||
	    spool_subdir(sp, "seg", writer, writer, &sp->segfd, err_r) < 0 ||
	    spool_subdir(sp, "msg", writer, writer, &sp->msgfd, err_r) < 0 ||
	    spool_subdir(sp, "tmp", writer, writer, &sp->tmpfd, err_r) < 0)
		goto fail;
	if (sp->queuefd < 0 && sp->segfd < 0) {
		*err_r = spool_errf("%s: not a spool (no seg/ and no queue/ folder)", dir);
		goto fail;
	}
	if (writer) {
		/* make the new sub-folders themselves durable */
		if (fsync(sp->dirfd) < 0) {
			*err_r = spool_errf("%s: fsync: %s", dir, strerror(errno));
			goto fail;
		}
		if (gc && spool_gc(sp, err_r) < 0)
			goto fail;
		if (!gc)
			spool_seq_init(sp);
	}
	return sp;
fail:
	spool_free(&sp);
	return NULL;
}

int
spool_check(const char *dir, char **err_r)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		*err_r = spool_errf("spool %s: not a folder", dir);
		return -1;
	}
	if (errno != ENOENT) {
		*err_r = spool_errf("spool %s: %s", dir, strerror(errno));
		return -1;
	}
	/* Not there yet: the start creates it, inside its parent. */
	const char *slash = strrchr(dir, '/');
	int plen = slash == NULL ? 1 : slash == dir ? 1 : (int)(slash - dir);
	char parent[4096];
	if (snprintf(parent, sizeof parent, "%.*s", plen, slash == NULL ? "." : dir) >= (int)sizeof parent) {
		*err_r = spool_errf("spool %s: path too long", dir);
		return -1;
	}
	if (stat(parent, &st) < 0) {
		*err_r = spool_errf("spool %s: cannot be created: %s: %s", dir, parent, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err_r = spool_errf("spool %s: cannot be created: %s is not a folder", dir, parent);
		return -1;
	}
	return 0;
}

struct spool *
spool_open(const char *dir, int lock_fd, char **err_r)
{
	return spool_open_mode(dir, true, lock_fd, true, err_r);
}

struct spool *
spool_open_second(const char *dir, int lock_fd, char **err_r)
{
	return spool_open_mode(dir, true, lock_fd, false, err_r);
}

struct spool *
spool_open_existing(const char *dir, char **err_r)
{
	return spool_open_mode(dir, false, -1, false, err_r);
}

void
spool_free(struct spool **sp)
{
	if (*sp == NULL)
		return;
	int fds[] = { (*sp)->dirfd, (*sp)->tmpfd, (*sp)->queuefd, (*sp)->segfd, (*sp)->msgfd,
		      (*sp)->cur_fd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free((*sp)->dir);
	free(*sp);
	*sp = NULL;
}

/* ---- a message ---- */

static int
spool_new_id(struct spool *sp, char id_r[SPOOL_ID_MAX])
{
	struct timespec ts;
	uint8_t r[2];
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || RAND_bytes(r, sizeof r) != 1)
		return -1;
	uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (us <= sp->last_us)
		us = sp->last_us + 1;
	sp->last_us = us;
	/* 16 + 2 + 2 hex digits: always fits SPOOL_ID_MAX. */
	(void)snprintf(id_r, SPOOL_ID_MAX, "%016" PRIx64 "%02x%02x", us, r[0], r[1]);
	return 0;
}

struct spool_msg *
spool_msg_new(struct spool *sp, char id_r[SPOOL_ID_MAX], const char **err_r)
{
	struct spool_msg *m = calloc(1, sizeof *m);
	if (m == NULL || (m->wbuf = malloc(SPOOL_WBUF)) == NULL) {
		free(m);
		*err_r = "out of memory";
		return NULL;
	}
	m->sp = sp;
	m->fd = -1;
	buf_init(&m->frame, SPOOL_FRAME_MAX);
	if (spool_new_id(sp, m->id) < 0) {
		free(m->wbuf);
		free(m);
		*err_r = "cannot make a queue id";
		return NULL;
	}
	memcpy(id_r, m->id, SPOOL_ID_MAX);
	return m;
}

static void
msg_write_failed(struct spool_msg *m, const char *what, int e)
{
	log_err("spool: %s/tmp/%s: %s: %s", m->sp->dir, m->id, what, strerror(e));
	m->failed = true;
	m->full = errno_full(e);
}

/* Writes the buffered content to the spill file, creating it first. */
static int
msg_spill(struct spool_msg *m)
{
	if (m->fd < 0) {
		m->fd = openat(m->sp->tmpfd, m->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd < 0) {
			msg_write_failed(m, "create", errno);
			return -1;
		}
		m->spilled = true;
	}
	size_t off = 0;
	while (off < m->wlen) {
		ssize_t w = write(m->fd, m->wbuf + off, m->wlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			msg_write_failed(m, "write", w < 0 ? errno : ENOSPC);
			return -1;
		}
		off += (size_t)w;
	}
	m->wlen = 0;
	return 0;
}

int
spool_msg_write(struct spool_msg *m, const void *p, size_t n)
{
	const uint8_t *in = p;
	if (m->failed || m->closed)
		return -1;
	m->crc = rec_crc32c(m->crc, p, n);
	m->size += n;
	while (n > 0) {
		if (m->wlen == SPOOL_WBUF && msg_spill(m) < 0)
			return -1;
		size_t k = SPOOL_WBUF - m->wlen < n ? SPOOL_WBUF - m->wlen : n;
		memcpy(m->wbuf + m->wlen, in, k);
		m->wlen += k;
		in += k;
		n -= k;
	}
	return 0;
}

/* The message's frame: envelope, then inline content or the spill
 * file's checksum, then END. */
static int
msg_frame(struct spool_msg *m, const struct spool_envelope *env)
{
	struct buf *b = &m->frame;
	size_t at = 0;
	char crc[16];
	int rc = rec_frame_begin(b, &at);
	rc |= rec_field_str(b, REC_ID, m->id);
	rc |= rec_field_u64(b, REC_ARRIVAL, (uint64_t)env->arrival);
	rc |= rec_field_str(b, REC_FROM, env->mail_from ? env->mail_from : "");
	rc |= rec_field_str(b, REC_AUTH_PARAM, env->auth_param);
	for (size_t i = 0; i < env->nrcpt; i++)
		rc |= rec_field_str(b, REC_RCPT, env->rcpts[i]);
	rc |= rec_field_str(b, REC_BODY, env->body);
	rc |= rec_field_str(b, REC_AUTH_USER, env->auth_user);
	rc |= rec_field_str(b, REC_AUTH_MECH, env->auth_mech);
	rc |= rec_field_str(b, REC_CLIENT, env->client_addr);
	rc |= rec_field_str(b, REC_HELO, env->helo);
	rc |= rec_field_str(b, REC_TLS_VERSION, env->tls_version);
	rc |= rec_field_str(b, REC_TLS_CIPHER, env->tls_cipher);
	rc |= rec_field_u64(b, REC_SIZE, m->size);
	if (m->fd < 0) {
		rc |= rec_field(b, REC_CONTENT, m->wbuf, m->wlen);
	} else {
		(void)snprintf(crc, sizeof crc, "%08" PRIx32, m->crc);
		rc |= rec_field_str(b, REC_EXTERNAL, crc);
	}
	rc |= rec_field(b, REC_END, NULL, 0);
	if (rc != 0)
		return -1;
	rec_frame_end(b, at, SPOOL_MSG_MAGIC);
	return 0;
}

int
spool_msg_close(struct spool_msg *m, const struct spool_envelope *env, const char **err_r)
{
	*err_r = NULL;
	if (!m->failed && !m->closed && env->nrcpt == 0) {
		*err_r = "no recipient";	/* a bug in the caller */
		return -1;
	}
	if (!m->failed && !m->closed && m->fd >= 0)
		(void)msg_spill(m);	/* its flush comes with the pass */
	if (!m->failed && !m->closed && msg_frame(m, env) < 0) {
		log_err("spool: %s: envelope too large or out of memory", m->id);
		m->failed = true;
	}
	if (m->failed || m->closed) {
		*err_r = m->full ? spool_err_full : "spool write failed";
		return -1;
	}
	m->closed = true;
	free(m->wbuf);
	m->wbuf = NULL;
	return 0;
}

void
spool_msg_abort(struct spool_msg **mp)
{
	struct spool_msg *m = *mp;
	if (m == NULL)
		return;
	if (m->fd >= 0)
		close(m->fd);
	/* A spilled message may have a file in tmp/ (unlinked here) or,
	 * when its commit failed after the rename, in msg/ (no frame points
	 * to it: spool_gc removes it too, this only saves the space now). */
	if (m->spilled && unlinkat(m->sp->tmpfd, m->id, 0) < 0 && errno == ENOENT)
		(void)unlinkat(m->sp->msgfd, m->id, 0);
	free(m->wbuf);
	buf_free(&m->frame);
	free(m);
	*mp = NULL;
}

/* ---- the group commit ---- */

/* How many taken sequence numbers seg_roll() skips: another writer (a
 * network process started by a reload, the queue runner's bounces)
 * made the next ones. */
#define SEG_ROLL_TRIES 64

/* Makes a new segment the current one: created; seg/ is fsync'd by the
 * flush of the pass that writes to it first (seg_dir_dirty), so that
 * its name survives a crash before any of its frames is acknowledged.  The writer holds a shared flock on
 * its current segment: the queue runner's spool_gc_live() removes a
 * done segment only under an exclusive one, so never one a writer may
 * still append to; a segment removed between our create and our flock
 * (it was empty, hence "done") is seen by its link count, and skipped. */
static int
seg_roll(struct spool *sp)
{
	char name[SPOOL_SEQ_LEN + 1];
	if (sp->cur_fd >= 0)
		close(sp->cur_fd);
	sp->cur_fd = -1;
	int fd = -1;
	for (int i = 0; i < SEG_ROLL_TRIES && fd < 0; i++) {
		sp->cur_seq++;
		(void)snprintf(name, sizeof name, "%016" PRIx64, sp->cur_seq);
		fd = openat(sp->segfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
		struct stat st;
		if (fd >= 0 && (flock(fd, LOCK_SH) < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0)) {
			close(fd);
			fd = -1;
			errno = EEXIST;
		}
	}
	if (fd < 0) {
		int e = errno;
		log_err("spool: %s/seg/%s: create: %s", sp->dir, name, strerror(e));
		if (fd >= 0) {
			close(fd);
			(void)unlinkat(sp->segfd, name, 0);
		}
		errno = e;
		return -1;
	}
	sp->cur_fd = fd;
	sp->seg_dir_dirty = true;	/* its name: fsync of seg/ in the pass's flush */
	sp->cur_size = 0;
	sp->cur_zeroed = 0;
	return 0;
}

/* Writes zeros after the end the pass's frames will reach, up to
 * SPOOL_SEG_AHEAD past it (never past SPOOL_SEG_MAX).  Appending past a
 * file's end makes fdatasync carry the new size and blocks through the
 * file system's journal (ext4: a journal commit, more cache flushes of
 * the disk); overwriting blocks that are already written changes no
 * metadata that fdatasync must carry, so it writes only the data, as
 * PostgreSQL does with its WAL segments (bench/fsync_ceiling.c, "prezero"
 * against "append").  The zeros go out in the same pass as the frames
 * that first need them: that pass's one fdatasync covers both.  Readers
 * take a zero frame header as the end of a segment (spool_seg.c).  A
 * failure (a full disk) is no error: the frames then extend the file. */
static void
seg_prezero(struct spool *sp, size_t need)
{
	static const uint8_t zeros[65536];
	uint64_t end = sp->cur_size + need;
	if (end <= sp->cur_zeroed)
		return;
	uint64_t to = end + SPOOL_SEG_AHEAD;
	if (to > SPOOL_SEG_MAX)
		to = SPOOL_SEG_MAX;
	uint64_t at = end;
	while (at < to) {
		size_t n = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
		ssize_t w = pwrite(sp->cur_fd, zeros, n, (off_t)at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		at += (uint64_t)w;
	}
	sp->cur_zeroed = at;
}

/* Renames the spilled messages of the pass into msg/ (the flush fsyncs
 * msg/ once).  A message whose rename fails fails alone.  True when
 * one was renamed. */
static bool
publish_spilled(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		struct spool_msg *m = msgs[i];
		if (m == NULL || why_v[i] != NULL || !m->spilled)
			continue;
		if (renameat(sp->tmpfd, m->id, sp->msgfd, m->id) < 0) {
			log_err("spool: %s/tmp/%s -> msg: rename: %s", sp->dir, m->id, strerror(errno));
			why_v[i] = "spool rename failed";
			continue;
		}
		any = true;
	}
	return any;
}

/* Writes buf at the segment's end.  Returns the bytes written whole
 * (a short write is truncated back to a frame boundary by the caller). */
static size_t
seg_append(struct spool *sp, const uint8_t *p, size_t n, int *errno_r)
{
	size_t off = 0;
	*errno_r = 0;
	while (off < n) {
		ssize_t w = pwrite(sp->cur_fd, p + off, n - off, (off_t)(sp->cur_size + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*errno_r = w < 0 ? errno : ENOSPC;
			break;
		}
		off += (size_t)w;
	}
	return off;
}

/* Writes the frames of the pass with one write (all: a scratch buffer);
 * sets why_v for those that did not fit. */
static void
publish_frames(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
	       struct buf *all)
{
	size_t *ends = calloc(n, sizeof *ends);
	for (size_t i = 0; i < n; i++) {
		if (msgs[i] == NULL || why_v[i] != NULL)
			continue;
		if (ends == NULL || buf_add(all, msgs[i]->frame.p, msgs[i]->frame.len) != BUF_OK)
			why_v[i] = "out of memory";
		else
			ends[i] = all->len;
	}
	if (all->len == 0) {
		free(ends);
		return;
	}
	if ((sp->cur_fd < 0 || sp->cur_size + all->len > SPOOL_SEG_MAX) && seg_roll(sp) < 0) {
		const char *why = errno_full(errno) ? spool_err_full : "cannot create a segment";
		for (size_t i = 0; i < n; i++)
			if (msgs[i] != NULL && why_v[i] == NULL)
				why_v[i] = why;
		free(ends);
		return;
	}
	seg_prezero(sp, all->len);
	int e = 0;
	size_t done = seg_append(sp, all->p, all->len, &e);
	if (done < all->len) {
		/* Keep the whole frames, cut the torn one away: nothing may
		 * follow a torn frame (readers stop there). */
		size_t keep = 0;
		for (size_t i = 0; i < n; i++) {
			if (msgs[i] == NULL || why_v[i] != NULL)
				continue;
			if (ends[i] <= done)
				keep = ends[i];
			else
				why_v[i] = errno_full(e) ? spool_err_full : "spool write failed";
		}
		log_err("spool: %s/seg/%016" PRIx64 ": write: %s", sp->dir, sp->cur_seq, strerror(e));
		if (ftruncate(sp->cur_fd, (off_t)(sp->cur_size + keep)) < 0) {
			/* Cannot cut: never append after it again. */
			log_err("spool: %s/seg/%016" PRIx64 ": truncate: %s", sp->dir, sp->cur_seq,
				strerror(errno));
			close(sp->cur_fd);
			sp->cur_fd = -1;
		}
		sp->cur_zeroed = 0;	/* the zeros went with the cut */
		done = keep;
	}
	sp->cur_size += done;
	free(ends);
}

/* Adds fd (a dup of it for SPOOL_FL_SEG and SPOOL_FL_DIR; fd itself,
 * taken over, for SPOOL_FL_FILE) to fl unless fl has that segment or
 * folder already.  Returns 0, or -1 when it cannot (fl full, no
 * descriptor left): then the caller flushes here and now. */
static int
flush_add(struct spool_flush *fl, int fd, enum spool_flush_kind kind, uint64_t seq)
{
	for (size_t i = 0; kind != SPOOL_FL_FILE && i < fl->n; i++)
		if (fl->kind[i] == kind && fl->seq[i] == seq)
			return 0;
	if (fl->n == SPOOL_FLUSH_FDS)
		return -1;
	int own = kind == SPOOL_FL_FILE ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return -1;
	fl->fd[fl->n] = own;
	fl->kind[fl->n] = (uint8_t)kind;
	fl->seq[fl->n] = seq;
	fl->n++;
	return 0;
}

/* Flushes one descriptor: a folder with fsync, a file's data with
 * fdatasync (which carries a size change). */
static int
flush_one(int fd, enum spool_flush_kind kind)
{
	return kind == SPOOL_FL_DIR ? fsync(fd) : fdatasync(fd);
}

/* Hands what a written pass needs flushed to fl, or flushes it on the
 * spot when fl cannot take it (correct, if slow).  Returns 0, or the
 * errno of a flush done here that failed. */
static int
flush_want(struct spool_flush *fl, int fd, enum spool_flush_kind kind, uint64_t seq)
{
	if (flush_add(fl, fd, kind, seq) == 0)
		return 0;
	int e = flush_one(fd, kind) == 0 ? 0 : errno;
	if (kind == SPOOL_FL_FILE)
		close(fd);
	return e;
}

void
spool_flush_init(struct spool_flush *fl)
{
	fl->n = 0;
	fl->err = 0;
}

int
spool_write_pass(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
		 struct spool_flush *fl)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		/* A message that cannot be published fails alone: the others
		 * of the group are not its hostages. */
		why_v[i] = msgs[i] == NULL ? "no message"
			 : !msgs[i]->closed || msgs[i]->failed ? "message not closed" : NULL;
	}
	bool renamed = publish_spilled(sp, msgs, n, why_v);
	struct buf all;
	buf_init(&all, SIZE_MAX / 2);
	publish_frames(sp, msgs, n, why_v, &all);
	buf_free(&all);
	int e = 0;
	for (size_t i = 0; i < n; i++) {
		struct spool_msg *m = msgs[i];
		if (m == NULL)
			continue;
		if (why_v[i] != NULL) {
			spool_msg_abort(&msgs[i]);
			continue;
		}
		/* Written: only its name matters now (a failed flush removes
		 * a large message's msg/ file), and its content's flush. */
		buf_free(&m->frame);
		free(m->wbuf);
		m->wbuf = NULL;
		if (m->fd >= 0 && e == 0)
			e = flush_want(fl, m->fd, SPOOL_FL_FILE, 0);
		else if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		ok++;
	}
	if (ok > 0 && e == 0 && renamed)
		e = flush_want(fl, sp->msgfd, SPOOL_FL_DIR, 1);
	if (ok > 0 && e == 0 && sp->seg_dir_dirty) {
		e = flush_want(fl, sp->segfd, SPOOL_FL_DIR, 0);
		sp->seg_dir_dirty = e != 0;
	}
	if (ok > 0 && e == 0)
		e = flush_want(fl, sp->cur_fd, SPOOL_FL_SEG, sp->cur_seq);
	if (e == 0)
		return 0;
	log_err("spool: %s: flush: %s", sp->dir, strerror(e));
	if (sp->cur_fd >= 0)
		close(sp->cur_fd);
	sp->cur_fd = -1;
	for (size_t i = 0; i < n; i++)
		if (msgs[i] != NULL) {
			why_v[i] = errno_full(e) ? spool_err_full : "spool fdatasync failed";
			spool_msg_abort(&msgs[i]);
		}
	return -1;
}

void
spool_flush_run(struct spool_flush *fl)
{
	/* ONE flush per segment, file and folder for the whole group. */
	for (size_t i = 0; i < fl->n; i++) {
		if (fl->err == 0 && flush_one(fl->fd[i], (enum spool_flush_kind)fl->kind[i]) < 0) {
			fl->err = errno;
			fl->err_kind = fl->kind[i];
			fl->err_seq = fl->seq[i];
		}
		close(fl->fd[i]);
	}
	fl->n = 0;
}

int
spool_flush_end(struct spool *sp, struct spool_flush *fl, const char **err_r)
{
	int e = fl->err;
	fl->err = 0;
	if (e == 0)
		return 0;
	if (fl->err_kind == SPOOL_FL_SEG)
		log_err("spool: %s/seg/%016" PRIx64 ": fdatasync: %s", sp->dir, fl->err_seq,
			strerror(e));
	else if (fl->err_kind == SPOOL_FL_DIR)
		log_err("spool: %s/%s: fsync: %s", sp->dir, fl->err_seq == 0 ? "seg" : "msg",
			strerror(e));
	else
		log_err("spool: %s/msg: a message's content: fdatasync: %s", sp->dir, strerror(e));
	*err_r = errno_full(e) ? spool_err_full : "spool fdatasync failed";
	/* After a failed flush the state of what it covered is unknown:
	 * never append to the current segment again (the next pass starts
	 * one, and fsyncs seg/ for it). */
	if (sp->cur_fd >= 0) {
		close(sp->cur_fd);
		sp->cur_fd = -1;
	}
	return -1;
}

void
spool_msg_settle(struct spool_msg **mp, bool durable)
{
	struct spool_msg *m = *mp;
	if (m == NULL || !durable) {
		spool_msg_abort(mp);
		return;
	}
	buf_free(&m->frame);
	free(m->wbuf);
	free(m);
	*mp = NULL;
}

int
spool_publish(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
	      const char **err_r)
{
	struct spool_flush fl;
	spool_flush_init(&fl);
	int rc = spool_write_pass(sp, msgs, n, why_v, &fl);
	if (rc == 0) {
		spool_flush_run(&fl);
		rc = spool_flush_end(sp, &fl, err_r);
	} else {
		*err_r = "spool fdatasync failed";
	}
	for (size_t i = 0; i < n; i++)
		spool_msg_settle(&msgs[i], rc == 0);
	return rc;
}
