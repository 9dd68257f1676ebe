/* spool.c - the durable queue of accepted messages.
 *
 * Writing (the server): spool_msg_new() creates tmp/ID, the content is
 * streamed into it through a 64 KiB buffer as it arrives, and
 * spool_msg_close() appends the envelope and END and fsyncs the file.
 * spool_publish() renames a group of closed files into queue/ and fsyncs
 * queue/ once for all of them (group commit, STYLE.md 20): only then may
 * the server answer 250.  A crash at any point leaves either nothing in
 * queue/ or a whole message there; tmp/ is emptied at the next start,
 * under the spool's lock (spool_lock.c), so never while a server runs.
 *
 * Reading (postern queue, the queue runner): every file is checked
 * record by record; a file that does not end in END, or that holds a
 * record it should not, is reported torn with the reason and is never
 * delivered.
 *
 * Record: type (1 byte), length (4 bytes, big-endian), bytes.  A fixed
 * binary length was chosen over decimal: no parsing ambiguity, and a cut
 * inside a length is still detected because the file then ends before
 * the record does.
 */
#include "server/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "server/spool_impl.h"
#include "util/log.h"

struct spool_msg {
	struct spool *sp;
	char id[SPOOL_ID_MAX];
	int fd;
	uint8_t *wbuf;
	size_t wlen;
	size_t chunk_at;	/* offset of the open content record, or SIZE_MAX */
	uint64_t size;		/* content bytes */
	bool closed;
	bool failed;
};

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

/* ---- opening ---- */

static int
spool_subdir(struct spool *sp, const char *name, bool create, int *fd_r, char **err_r)
{
	if (create && mkdirat(sp->dirfd, name, 0700) < 0 && errno != EEXIST) {
		*err_r = spool_errf("%s/%s: mkdir: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	*fd_r = openat(sp->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd_r < 0) {
		*err_r = spool_errf("%s/%s: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Removes every file left in tmp/: messages that were never
 * acknowledged, so the client still has them and will send again. */
static int
spool_clean_tmp(struct spool *sp, char **err_r)
{
	int fd = dup(sp->tmpfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		*err_r = spool_errf("%s/tmp: %s", sp->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(sp->tmpfd, de->d_name, 0) < 0 && errno != ENOENT)
			log_warn("spool: %s/tmp/%s: unlink: %s", sp->dir, de->d_name, strerror(errno));
		else
			log_info("spool: removed unfinished %s/tmp/%s", sp->dir, de->d_name);
	}
	closedir(d);
	return 0;
}

static struct spool *
spool_open_mode(const char *dir, bool writer, int lock_fd, char **err_r)
{
	struct spool *sp = calloc(1, sizeof *sp);
	if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
		free(sp);
		*err_r = spool_errf("%s: out of memory", dir);
		return NULL;
	}
	sp->dirfd = sp->tmpfd = sp->queuefd = -1;
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
	if (spool_subdir(sp, "queue", writer, &sp->queuefd, err_r) < 0)
		goto fail;
	if (writer) {
		if (spool_subdir(sp, "tmp", true, &sp->tmpfd, err_r) < 0 || spool_clean_tmp(sp, err_r) < 0)
			goto fail;
		/* make the new sub-folders themselves durable */
		if (fsync(sp->dirfd) < 0) {
			*err_r = spool_errf("%s: fsync: %s", dir, strerror(errno));
			goto fail;
		}
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
	return spool_open_mode(dir, true, lock_fd, err_r);
}

struct spool *
spool_open_existing(const char *dir, char **err_r)
{
	return spool_open_mode(dir, false, -1, err_r);
}

void
spool_free(struct spool **sp)
{
	if (*sp == NULL)
		return;
	int fds[] = { (*sp)->dirfd, (*sp)->tmpfd, (*sp)->queuefd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free((*sp)->dir);
	free(*sp);
	*sp = NULL;
}

/* ---- writing ---- */

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

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Fills in the header of the open content record, if any. */
static void
msg_end_chunk(struct spool_msg *m)
{
	if (m->chunk_at == SIZE_MAX)
		return;
	m->wbuf[m->chunk_at] = REC_CONTENT;
	put_be32(m->wbuf + m->chunk_at + 1, (uint32_t)(m->wlen - m->chunk_at - REC_HDR));
	m->chunk_at = SIZE_MAX;
}

static int
msg_flush(struct spool_msg *m)
{
	msg_end_chunk(m);
	size_t off = 0;
	while (off < m->wlen) {
		ssize_t w = write(m->fd, m->wbuf + off, m->wlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_err("spool: %s/tmp/%s: write: %s", m->sp->dir, m->id,
				w < 0 ? strerror(errno) : "no progress");
			m->failed = true;
			return -1;
		}
		off += (size_t)w;
	}
	m->wlen = 0;
	return 0;
}

/* Appends one whole record to the buffer. */
static int
msg_record(struct spool_msg *m, uint8_t type, const void *p, size_t n)
{
	if (n > REC_MAX)
		return -1;
	msg_end_chunk(m);
	if (m->wlen + REC_HDR + n > SPOOL_WBUF && msg_flush(m) < 0)
		return -1;
	m->wbuf[m->wlen] = type;
	put_be32(m->wbuf + m->wlen + 1, (uint32_t)n);
	if (n > 0)
		memcpy(m->wbuf + m->wlen + REC_HDR, p, n);
	m->wlen += REC_HDR + n;
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
	m->chunk_at = SIZE_MAX;
	/* Ids are unique by construction within this process; O_EXCL and
	 * the look into queue/ guard against another writer. */
	for (int tries = 0; tries < 8 && m->fd < 0; tries++) {
		if (spool_new_id(sp, m->id) < 0)
			break;
		if (faccessat(sp->queuefd, m->id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		m->fd = openat(sp->tmpfd, m->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd < 0 && errno != EEXIST)
			break;
	}
	if (m->fd < 0) {
		log_err("spool: %s/tmp/%s: create: %s", sp->dir, m->id, strerror(errno));
		*err_r = "cannot create a spool file";
		free(m->wbuf);
		free(m);
		return NULL;
	}
	msg_record(m, REC_VERSION, SPOOL_FORMAT_VERSION, strlen(SPOOL_FORMAT_VERSION));
	memcpy(id_r, m->id, SPOOL_ID_MAX);
	return m;
}

int
spool_msg_write(struct spool_msg *m, const void *p, size_t n)
{
	const uint8_t *in = p;
	if (m->failed || m->closed)
		return -1;
	while (n > 0) {
		if (m->chunk_at == SIZE_MAX) {
			if (m->wlen + REC_HDR + 1 > SPOOL_WBUF && msg_flush(m) < 0)
				return -1;
			m->chunk_at = m->wlen;
			m->wlen += REC_HDR;
		}
		size_t k = SPOOL_WBUF - m->wlen;
		if (k > n)
			k = n;
		memcpy(m->wbuf + m->wlen, in, k);
		m->wlen += k;
		m->size += k;
		in += k;
		n -= k;
		if (m->wlen == SPOOL_WBUF && msg_flush(m) < 0)
			return -1;
	}
	return 0;
}

static int
msg_str(struct spool_msg *m, uint8_t type, const char *s)
{
	return s == NULL ? 0 : msg_record(m, type, s, strlen(s));
}

static int
msg_envelope(struct spool_msg *m, const struct spool_envelope *env)
{
	char num[32];
	int rc = 0;
	(void)snprintf(num, sizeof num, "%lld", (long long)env->arrival);	/* <= 20 digits */
	rc |= msg_str(m, REC_ARRIVAL, num);
	rc |= msg_str(m, REC_FROM, env->mail_from ? env->mail_from : "");
	rc |= msg_str(m, REC_AUTH_PARAM, env->auth_param);
	for (size_t i = 0; i < env->nrcpt; i++)
		rc |= msg_str(m, REC_RCPT, env->rcpts[i]);
	rc |= msg_str(m, REC_BODY, env->body);
	rc |= msg_str(m, REC_AUTH_USER, env->auth_user);
	rc |= msg_str(m, REC_AUTH_MECH, env->auth_mech);
	rc |= msg_str(m, REC_CLIENT, env->client_addr);
	rc |= msg_str(m, REC_HELO, env->helo);
	rc |= msg_str(m, REC_TLS_VERSION, env->tls_version);
	rc |= msg_str(m, REC_TLS_CIPHER, env->tls_cipher);
	(void)snprintf(num, sizeof num, "%" PRIu64, m->size);	/* <= 20 digits */
	rc |= msg_str(m, REC_SIZE, num);
	rc |= msg_record(m, REC_END, NULL, 0);
	return rc != 0 ? -1 : 0;
}

int
spool_msg_close(struct spool_msg *m, const struct spool_envelope *env, const char **err_r)
{
	if (m->failed || m->closed) {
		*err_r = "spool write failed";
		return -1;
	}
	if (env->nrcpt == 0) {
		*err_r = "no recipient";	/* a bug in the caller */
		return -1;
	}
	if (msg_envelope(m, env) < 0 || msg_flush(m) < 0) {
		m->failed = true;
		*err_r = "spool write failed";
		return -1;
	}
	if (fsync(m->fd) < 0) {
		log_err("spool: %s/tmp/%s: fsync: %s", m->sp->dir, m->id, strerror(errno));
		m->failed = true;
		*err_r = "spool fsync failed";
		return -1;
	}
	close(m->fd);
	m->fd = -1;
	m->closed = true;
	free(m->wbuf);
	m->wbuf = NULL;
	return 0;
}

int
spool_publish(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
	      const char **err_r)
{
	for (size_t i = 0; i < n; i++) {
		struct spool_msg *m = msgs[i];
		why_v[i] = NULL;
		if (m == NULL)
			continue;
		/* A message that cannot be published fails alone: the others
		 * of the group are not its hostages. */
		if (!m->closed || m->failed) {
			why_v[i] = "message not closed";
			spool_msg_abort(&msgs[i]);
			continue;
		}
		if (renameat(sp->tmpfd, m->id, sp->queuefd, m->id) < 0) {
			log_err("spool: %s/tmp/%s -> queue: rename: %s", sp->dir, m->id, strerror(errno));
			why_v[i] = "spool rename failed";
			spool_msg_abort(&msgs[i]);
			continue;
		}
		free(m);
		msgs[i] = NULL;
	}
	/* The renames are durable only once the folder is synced. */
	if (fsync(sp->queuefd) < 0) {
		log_err("spool: %s/queue: fsync: %s", sp->dir, strerror(errno));
		*err_r = "spool folder fsync failed";
		return -1;
	}
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
	if (unlinkat(m->sp->tmpfd, m->id, 0) < 0 && errno != ENOENT)
		log_warn("spool: %s/tmp/%s: unlink: %s", m->sp->dir, m->id, strerror(errno));
	free(m->wbuf);
	free(m);
	*mp = NULL;
}
