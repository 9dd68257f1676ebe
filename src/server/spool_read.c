/* spool_read.c - reading spool v1 files (queue/ID, written before
 * spool v2): listed, shown, delivered and deleted like the others, never
 * written, so that an upgrade loses no queued mail.
 *
 * Every file is checked record by record (format in spool_impl.h).  A
 * file that does not end in END, that holds a record it should not, or
 * whose size record does not match its content is reported torn with
 * the reason and the offset, and its content is never handed on.
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

#include "server/spool_impl.h"
#include "util/log.h"

void
spool_entry_clear(struct spool_entry *e)
{
	struct spool_envelope *v = &e->env;
	const char *strs[] = { v->mail_from, v->auth_param, v->body, v->auth_user, v->auth_mech,
			       v->client_addr, v->helo, v->tls_version, v->tls_cipher };
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		free((void *)strs[i]);
	for (size_t i = 0; i < v->nrcpt; i++) {
		free((void *)v->rcpts[i]);
		if (e->rcpt != NULL)
			free(e->rcpt[i].last_reply);
	}
	free((void *)v->rcpts);
	free(e->rcpt);
	free(e->torn_why);
	memset(e, 0, sizeof *e);
}

/* One message file being read: records are checked in order. */
struct rd {
	int fd;
	spool_chunk_fn cb;	/* content goes here, or NULL */
	void *cb_arg;
	off_t off;
	off_t size;
	uint64_t content;	/* content bytes seen */
	uint64_t size_rec;	/* the REC_SIZE value */
	bool seen_env, seen_size, seen_arrival, seen_end;
	char why[160];		/* torn: why */
	char *out_err;		/* writing content failed */
};

static int rd_torn(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
rd_torn(struct rd *r, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	/* A reason cut short still says where the file is torn. */
	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	(void)snprintf(r->why, sizeof r->why, "%s (offset %lld of %lld bytes)", tmp, (long long)r->off,
		 (long long)r->size);
	return -1;
}

static int
rd_pread(struct rd *r, void *p, size_t n, off_t at)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(r->fd, (uint8_t *)p + got, n - got, at + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return rd_torn(r, "read: %s", strerror(errno));
		if (k == 0)
			return rd_torn(r, "file ends inside a record");
		got += (size_t)k;
	}
	return 0;
}

/* Hands a content record to the callback. */
static int
rd_copy(struct rd *r, off_t at, uint32_t len)
{
	uint8_t buf[16384];
	while (len > 0) {
		size_t k = len < sizeof buf ? len : sizeof buf;
		if (rd_pread(r, buf, k, at) < 0)
			return -1;
		if (r->cb(r->cb_arg, buf, k) < 0) {
			r->out_err = spool_errf("write: %s", strerror(errno));
			return -1;
		}
		at += (off_t)k;
		len -= (uint32_t)k;
	}
	return 0;
}

static int
rd_decimal(struct rd *r, const char *s, uint64_t *v_r, char type)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0)
		return rd_torn(r, "bad number in '%c' record", type);
	*v_r = v;
	return 0;
}

const char **
spool_env_slot(struct spool_envelope *env, uint8_t type)
{
	switch (type) {
	case REC_FROM: return &env->mail_from;
	case REC_AUTH_PARAM: return &env->auth_param;
	case REC_BODY: return &env->body;
	case REC_AUTH_USER: return &env->auth_user;
	case REC_AUTH_MECH: return &env->auth_mech;
	case REC_CLIENT: return &env->client_addr;
	case REC_HELO: return &env->helo;
	case REC_TLS_VERSION: return &env->tls_version;
	case REC_TLS_CIPHER: return &env->tls_cipher;
	default: return NULL;
	}
}

static int
rd_add_rcpt(struct spool_envelope *env, char *s)
{
	/* realloc, not reallocarray: gcc 12's analyzer loses track of the
	 * latter (false leak reports); nrcpt + 1 pointers cannot overflow */
	const char **v = realloc((void *)env->rcpts, (env->nrcpt + 1) * sizeof *v);
	if (v == NULL)
		return -1;
	env->rcpts = v;
	v[env->nrcpt++] = s;
	return 0;
}

/* An envelope record: its payload as a string, into its field. */
static int
rd_envelope(struct rd *r, struct spool_entry *e, uint8_t type, off_t at, uint32_t len)
{
	const char **slot = spool_env_slot(&e->env, type);
	if (slot == NULL && type != REC_RCPT && type != REC_ARRIVAL && type != REC_SIZE)
		return rd_torn(r, "unknown record type 0x%02x", type);
	if (len > 1024 * 16)
		return rd_torn(r, "'%c' record of %u bytes is too long", type, len);
	char *s = malloc((size_t)len + 1);
	if (s == NULL)
		return rd_torn(r, "out of memory");
	if (rd_pread(r, s, len, at) < 0) {
		free(s);
		return -1;
	}
	s[len] = '\0';
	int rc = 0;
	if (memchr(s, '\0', len) != NULL) {
		rc = rd_torn(r, "NUL byte in '%c' record", type);
	} else if (type == REC_RCPT) {
		if (rd_add_rcpt(&e->env, s) == 0)
			return 0;
		rc = rd_torn(r, "out of memory");
	} else if (type == REC_ARRIVAL || type == REC_SIZE) {
		uint64_t v = 0;
		bool *seen = type == REC_ARRIVAL ? &r->seen_arrival : &r->seen_size;
		rc = *seen ? rd_torn(r, "duplicate '%c' record", type) : rd_decimal(r, s, &v, (char)type);
		*seen = true;
		if (type == REC_ARRIVAL)
			e->env.arrival = (time_t)v;
		else
			r->size_rec = v;
	} else if (slot != NULL && *slot == NULL) {
		*slot = s;
		return 0;
	} else {
		rc = rd_torn(r, "duplicate '%c' record", type);
	}
	free(s);
	return rc;
}

/* gcc 12's -fanalyzer reports the recipient strings rd_envelope() hands
 * to e->env.rcpts as leaked once rd_record() returns (they are freed by
 * spool_entry_clear(), as ASan's leak checker confirms in the unit
 * tests); the false report appeared when the reader's callers changed. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* One record at r->off; advances past it. */
static int
rd_record(struct rd *r, struct spool_entry *e)
{
	uint8_t hdr[REC_HDR];
	if (r->seen_end)
		return rd_torn(r, "data after END");
	if (rd_pread(r, hdr, sizeof hdr, r->off) < 0)
		return -1;
	uint32_t len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
	off_t at = r->off + REC_HDR;
	if (len > REC_MAX)
		return rd_torn(r, "record length %u over %u", len, (unsigned)REC_MAX);
	if ((off_t)len > r->size - at)
		return rd_torn(r, "file ends inside a '%c' record of %u bytes", hdr[0], len);
	if ((r->off == 0) != (hdr[0] == REC_VERSION))
		return rd_torn(r, r->off == 0 ? "no version record" : "misplaced version record");
	int rc = 0;
	if (hdr[0] == REC_VERSION) {
		char v[8] = "";
		if (len != strlen(SPOOL_FORMAT_VERSION) || rd_pread(r, v, len, at) < 0 ||
		    memcmp(v, SPOOL_FORMAT_VERSION, len) != 0)
			rc = r->why[0] ? -1 : rd_torn(r, "unsupported format version");
	} else if (hdr[0] == REC_CONTENT) {
		if (r->seen_env)
			rc = rd_torn(r, "content record after the envelope");
		else if (r->cb != NULL)
			rc = rd_copy(r, at, len);
		r->content += len;
	} else if (hdr[0] == REC_END) {
		r->seen_end = true;
		if (len != 0)
			rc = rd_torn(r, "END record with %u bytes", len);
	} else {
		r->seen_env = true;
		rc = rd_envelope(r, e, hdr[0], at, len);
	}
	r->off = at + (off_t)len;
	return rc;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* What a whole file must have once its records all read well. */
static int
rd_complete(struct rd *r, struct spool_entry *e)
{
	if (!r->seen_end)
		return rd_torn(r, "no END record");
	if (e->env.mail_from == NULL)
		return rd_torn(r, "no sender record");
	if (e->env.nrcpt == 0)
		return rd_torn(r, "no recipient record");
	if (!r->seen_arrival)
		return rd_torn(r, "no arrival record");
	if (!r->seen_size || r->size_rec != r->content)
		return rd_torn(r, "size record %" PRIu64 " does not match %" PRIu64 " content bytes",
			       r->size_rec, r->content);
	return 0;
}

/* Reads the file open on fd into e; a torn file sets e->torn.  Content
 * goes to out_fd when it is not -1.  Returns -1 only when writing the
 * content failed (*err_r). */
static int
spool_read_file(const char *id, int fd, spool_chunk_fn cb, void *arg, struct spool_entry *e,
		char **err_r)
{
	struct rd r = { .fd = fd, .cb = cb, .cb_arg = arg };
	struct stat st;
	memset(e, 0, sizeof *e);
	(void)snprintf(e->id, sizeof e->id, "%s", id);	/* callers pass valid ids */
	(void)snprintf(e->where, sizeof e->where, "queue/%.20s", id);
	e->legacy = true;
	if (fstat(fd, &st) < 0)
		rd_torn(&r, "stat: %s", strerror(errno));
	else
		r.size = st.st_size;
	while (r.why[0] == '\0' && r.out_err == NULL && r.off < r.size)
		rd_record(&r, e);
	if (r.out_err != NULL) {
		*err_r = r.out_err;
		return -1;
	}
	if (r.why[0] == '\0')
		rd_complete(&r, e);
	e->size = (size_t)r.content;
	if (r.why[0] != '\0') {
		e->torn = true;
		e->torn_why = strdup(r.why);
	}
	/* The id tells the arrival time to the microsecond when the
	 * arrival record is missing. */
	if (!r.seen_arrival) {
		char hex[17];
		memcpy(hex, id, 16);
		hex[16] = '\0';
		e->env.arrival = (time_t)(strtoull(hex, NULL, 16) / 1000000);
	}
	return 0;
}

/* Opens queue/ID.  Returns the fd, -1 with errno ENOENT when there is
 * no such message, or -1 with *err_r. */
static int
spool_open_msg(struct spool *sp, const char *id, char **err_r)
{
	if (!spool_id_valid(id) || sp->queuefd < 0) {
		errno = ENOENT;
		return -1;
	}
	int fd = openat(sp->queuefd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		*err_r = spool_errf("%s/queue/%s: %s", sp->dir, id, strerror(errno));
	return fd;
}

/* Adds the entry for one file name of queue/ to the vector. */
static int
spool_list_one(struct spool *sp, const char *name, struct spool_entry **v, size_t *n, size_t *cap)
{
	char *err = NULL;
	int fd = spool_open_msg(sp, name, &err);
	if (fd < 0 && err == NULL)
		return 0;	/* delivered or deleted meanwhile */
	struct spool_entry *e = spool_entries_push(v, n, cap);
	if (e == NULL) {
		free(err);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd < 0) {
		memcpy(e->id, name, SPOOL_ID_LEN + 1);	/* name is a valid id */
		(void)snprintf(e->where, sizeof e->where, "queue/%.20s", name);
		e->legacy = true;
		e->torn = true;
		e->torn_why = err;
	} else {
		spool_read_file(name, fd, NULL, NULL, e, &err);
		close(fd);
	}
	return 0;
}

int
spool_v1_list(struct spool *sp, struct spool_entry **v_r, size_t *n_r, size_t *cap_r, char **err_r)
{
	if (sp->queuefd < 0)
		return 0;
	DIR *d = spool_opendir(sp->queuefd);
	if (d == NULL) {
		*err_r = spool_errf("%s/queue: %s", sp->dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		/* Names that are not queue ids are not ours: editor files,
		 * "lost+found". */
		if (spool_id_valid(de->d_name) && spool_list_one(sp, de->d_name, v_r, n_r, cap_r) < 0) {
			closedir(d);
			*err_r = spool_errf("%s/queue: out of memory", sp->dir);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int
spool_v1_get(struct spool *sp, const char *id, struct spool_entry **e_r, char **err_r)
{
	*e_r = NULL;
	int fd = spool_open_msg(sp, id, err_r);
	if (fd < 0)
		return errno == ENOENT && *err_r == NULL ? 0 : -1;
	struct spool_entry *e = calloc(1, sizeof *e);
	if (e == NULL) {
		close(fd);
		*err_r = spool_errf("%s/queue/%s: out of memory", sp->dir, id);
		return -1;
	}
	spool_read_file(id, fd, NULL, NULL, e, err_r);
	close(fd);
	*e_r = e;
	return 1;
}

int
spool_v1_content(struct spool *sp, const char *id, spool_chunk_fn cb, void *arg, char **err_r)
{
	*err_r = NULL;
	int fd = spool_open_msg(sp, id, err_r);
	if (fd < 0) {
		if (*err_r == NULL)
			*err_r = spool_errf("no message %s in %s", id, sp->dir);
		return -1;
	}
	/* Check the whole file first: a torn message is never handed on,
	 * not even in part. */
	struct spool_entry e;
	spool_read_file(id, fd, NULL, NULL, &e, err_r);
	int rc = 0;
	if (e.torn) {
		*err_r = spool_errf("%s/queue/%s: torn: %s", sp->dir, id, e.torn_why ? e.torn_why : "?");
		rc = -1;
	} else {
		spool_entry_clear(&e);
		rc = spool_read_file(id, fd, cb, arg, &e, err_r);
	}
	spool_entry_clear(&e);
	close(fd);
	return rc;
}

int
spool_v1_delete(struct spool *sp, const char *id, char **err_r)
{
	if (!spool_id_valid(id) || unlinkat(sp->queuefd, id, 0) < 0) {
		if (!spool_id_valid(id) || errno == ENOENT)
			*err_r = spool_errf("no message %s in %s", id, sp->dir);
		else
			*err_r = spool_errf("%s/queue/%s: unlink: %s", sp->dir, id, strerror(errno));
		return -1;
	}
	if (fsync(sp->queuefd) < 0)
		log_warn("spool: %s/queue: fsync: %s", sp->dir, strerror(errno));
	return 0;
}
