/* spool_state.c - the delivery state journal: replay, batched marks,
 * compaction (format and crash argument: spool.h). */
#include "server/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool_impl.h"
#include "util/atomic.h"
#include "util/log.h"
#include "util/records.h"

#define STATE_FILE "state"
#define STATE_NEW "state.new"
#define ST_WHOLE UINT32_MAX	/* the index of a whole-message record ('X') */

struct st_rec {
	char id[SPOOL_ID_LEN + 1];
	uint32_t idx;
	char state;
	unsigned attempts;
	time_t next_try;
	char *reply;
	size_t seq;		/* order in the journal: the last one wins */
};

struct spool_states {
	struct st_rec *v;
	size_t n;
};

void
spool_states_free(struct spool_states **st)
{
	if (*st == NULL)
		return;
	for (size_t i = 0; i < (*st)->n; i++)
		free((*st)->v[i].reply);
	free((*st)->v);
	free(*st);
	*st = NULL;
}

/* One state frame's payload into r; -1 when it is not a valid one. */
static int
st_decode(const uint8_t *p, size_t n, struct st_rec *r)
{
	struct rec_iter it;
	uint8_t t;
	const uint8_t *v;
	size_t vn;
	uint64_t x;
	memset(r, 0, sizeof *r);
	r->idx = ST_WHOLE;
	rec_iter_init(&it, p, n);
	while (rec_next(&it, &t, &v, &vn) == 1) {
		if (t == REC_ID && vn == SPOOL_ID_LEN) {
			memcpy(r->id, v, vn);
		} else if (t == REC_ST_STATE && vn == 1) {
			r->state = (char)v[0];
		} else if (t == REC_ST_REPLY && r->reply == NULL && memchr(v, '\0', vn) == NULL &&
			   (r->reply = malloc(vn + 1)) != NULL) {
			memcpy(r->reply, v, vn);
			r->reply[vn] = '\0';
		} else if (rec_u64(v, vn, &x) == 0 &&
			   (t == REC_ST_INDEX || t == REC_ST_ATTEMPTS || t == REC_ST_NEXT)) {
			if (t == REC_ST_INDEX)
				r->idx = x < ST_WHOLE ? (uint32_t)x : ST_WHOLE - 1;
			else if (t == REC_ST_ATTEMPTS)
				r->attempts = x > 1000000 ? 1000000 : (unsigned)x;
			else
				r->next_try = (time_t)x;
		}
	}
	if (!spool_id_valid(r->id) || strchr("PDZFBX", r->state) == NULL || r->state == '\0' ||
	    (r->state == 'X') != (r->idx == ST_WHOLE)) {
		free(r->reply);
		r->reply = NULL;
		return -1;
	}
	return 0;
}

static int
st_cmp(const void *a, const void *b)
{
	const struct st_rec *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	if (c != 0)
		return c;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the whole journal into memory (it is compacted at every start,
 * so it holds the changes of one run at most). */
static int
st_read(struct spool *sp, int fd, uint8_t **p_r, size_t *n_r, char **err_r)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (*p_r = malloc((size_t)st.st_size + 1)) == NULL) {
		*err_r = spool_errf("%s/" STATE_FILE ": %s", sp->dir, strerror(errno));
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = pread(fd, *p_r + got, (size_t)st.st_size - got, (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	*n_r = got;
	return 0;
}

static int
st_push(struct spool_states *st, size_t *cap, const struct st_rec *r)
{
	if (st->n == *cap) {
		struct st_rec *nv = reallocarray(st->v, *cap ? *cap * 2 : 64, sizeof *nv);
		if (nv == NULL)
			return -1;
		st->v = nv;
		*cap = *cap ? *cap * 2 : 64;
	}
	st->v[st->n] = *r;
	st->v[st->n].seq = st->n;
	st->n++;
	return 0;
}

/* Sorts by (id, index, order) and keeps the last record of each. */
static void
st_squash(struct spool_states *st)
{
	if (st->n == 0)
		return;
	qsort(st->v, st->n, sizeof *st->v, st_cmp);
	size_t w = 0;
	for (size_t i = 0; i < st->n; i++) {
		if (i + 1 < st->n && strcmp(st->v[i].id, st->v[i + 1].id) == 0 &&
		    st->v[i].idx == st->v[i + 1].idx) {
			free(st->v[i].reply);
			continue;
		}
		st->v[w++] = st->v[i];
	}
	st->n = w;
}

struct spool_states *
spool_states_load(struct spool *sp, bool truncate, char **err_r)
{
	struct spool_states *st = calloc(1, sizeof *st);
	if (st == NULL) {
		*err_r = spool_errf("%s: out of memory", sp->dir);
		return NULL;
	}
	int fd = openat(sp->dirfd, STATE_FILE, (truncate ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return st;	/* nothing delivered yet */
		*err_r = spool_errf("%s/" STATE_FILE ": %s", sp->dir, strerror(errno));
		free(st);
		return NULL;
	}
	uint8_t *p = NULL;
	size_t n = 0, off = 0, cap = 0;
	if (st_read(sp, fd, &p, &n, err_r) < 0) {
		close(fd);
		spool_states_free(&st);
		return NULL;
	}
	while (off < n) {
		const uint8_t *pl;
		size_t pn, flen;
		const char *why;
		struct st_rec r;
		int rc = rec_frame_parse(p + off, n - off, SPOOL_STATE_MAGIC, 65536, &pl, &pn, &flen, &why);
		if (rc != REC_OK) {
			/* A torn tail: the batch in flight, never acknowledged
			 * to anyone; its deliveries are repeated. */
			log_warn("spool: %s/" STATE_FILE ": %s at offset %zu of %zu: %s", sp->dir,
				 rc == REC_SHORT ? "torn frame" : why, off, n,
				 truncate ? "cut there" : "ignored from there on");
			if (truncate && (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0))
				log_err("spool: %s/" STATE_FILE ": truncate: %s", sp->dir, strerror(errno));
			break;
		}
		if (st_decode(pl, pn, &r) == 0 && st_push(st, &cap, &r) < 0)
			free(r.reply);
		off += flen;
	}
	free(p);
	close(fd);
	st_squash(st);
	return st;
}

/* The first record of id, or NULL. */
static const struct st_rec *
st_find(const struct spool_states *st, const char *id, size_t *end_r)
{
	size_t lo = 0, hi = st->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(st->v[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < st->n && strcmp(st->v[end].id, id) == 0)
		end++;
	*end_r = end;
	return lo < end ? &st->v[lo] : NULL;
}

bool
spool_states_apply(const struct spool_states *st, struct spool_entry *e)
{
	size_t n = e->env.nrcpt, end = 0;
	if (e->rcpt == NULL && n > 0 && (e->rcpt = calloc(n, sizeof *e->rcpt)) == NULL)
		return false;	/* shown without states; never "done" */
	for (size_t i = 0; i < n; i++)
		if (e->rcpt[i].state == 0)
			e->rcpt[i].state = SPOOL_PENDING;
	const struct st_rec *r = st == NULL || e->torn ? NULL : st_find(st, e->id, &end);
	for (; r != NULL && r < st->v + end; r++) {
		if (r->idx == ST_WHOLE)
			return true;	/* deleted */
		if (r->idx >= n)
			continue;
		struct spool_rcpt_state *s = &e->rcpt[r->idx];
		s->state = r->state;
		s->attempts = r->attempts;
		s->next_try = r->next_try;
		free(s->last_reply);
		s->last_reply = r->reply != NULL ? strdup(r->reply) : NULL;
	}
	bool done = n > 0;
	for (size_t i = 0; i < n; i++)
		if (e->rcpt[i].state != SPOOL_DELIVERED && e->rcpt[i].state != SPOOL_FAILED)
			done = false;
	return done;
}

/* One change as a frame appended to b. */
static int
st_frame(struct buf *b, const char *id, uint32_t idx, char state, unsigned attempts, time_t next,
	 const char *reply)
{
	size_t at;
	char s[2] = { state, '\0' };
	int rc = rec_frame_begin(b, &at);
	rc |= rec_field_str(b, REC_ID, id);
	if (idx != ST_WHOLE)
		rc |= rec_field_u64(b, REC_ST_INDEX, idx);
	rc |= rec_field_str(b, REC_ST_STATE, s);
	rc |= rec_field_u64(b, REC_ST_ATTEMPTS, attempts);
	rc |= rec_field_u64(b, REC_ST_NEXT, next < 0 ? 0 : (uint64_t)next);
	rc |= rec_field_str(b, REC_ST_REPLY, reply);
	if (rc != 0)
		return -1;
	rec_frame_end(b, at, SPOOL_STATE_MAGIC);
	return 0;
}

/* Writes all of b to fd.  Returns 0 or an errno. */
static int
st_write_all(int fd, const struct buf *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->p + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : ENOSPC;
		off += (size_t)w;
	}
	return 0;
}

/* Writes all of b to fd, then fdatasync.  Returns 0 or an errno. */
static int
st_write_sync(int fd, const struct buf *b)
{
	int e = st_write_all(fd, b);
	return e != 0 ? e : fdatasync(fd) < 0 ? errno : 0;
}

int
spool_mark(struct spool *sp, const struct spool_mark *v, size_t n, char **err_r)
{
	struct buf b;
	buf_init(&b, SIZE_MAX / 2);
	for (size_t i = 0; i < n; i++) {
		bool whole = v[i].state == 'X';
		if (!spool_id_valid(v[i].id) || strchr("PDZFBX", v[i].state) == NULL || v[i].state == '\0' ||
		    st_frame(&b, v[i].id, whole ? ST_WHOLE : (uint32_t)v[i].rcpt, v[i].state, v[i].attempts,
			     v[i].next_try, v[i].last_reply) < 0) {
			buf_free(&b);
			*err_r = spool_errf("%s/" STATE_FILE ": bad state change for %s", sp->dir, v[i].id);
			return -1;
		}
	}
	/* Opened for each batch: a compaction may have replaced the file. */
	int fd = openat(sp->dirfd, STATE_FILE, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	bool created = false;
	if (fd < 0 && errno == ENOENT) {
		fd = openat(sp->dirfd, STATE_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = true;
	}
	int e = fd < 0 ? errno : st_write_sync(fd, &b);
	if (e == 0 && created && fsync(sp->dirfd) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	if (e != 0) {
		*err_r = spool_errf("%s/" STATE_FILE ": %s", sp->dir, strerror(e));
		return -1;
	}
	return 0;
}

int
spool_states_compact(struct spool *sp, const struct spool_states *st,
		     bool (*keep)(void *arg, const char *id), void *arg, char **err_r)
{
	struct buf b;
	buf_init(&b, SIZE_MAX / 2);
	for (size_t i = 0; i < st->n; i++) {
		const struct st_rec *r = &st->v[i];
		if (r->state == SPOOL_PENDING || !keep(arg, r->id))
			continue;
		if (st_frame(&b, r->id, r->idx, r->state, r->attempts, r->next_try, r->reply) < 0) {
			buf_free(&b);
			*err_r = spool_errf("%s/" STATE_FILE ": out of memory", sp->dir);
			return -1;
		}
	}
	int fd = openat(sp->dirfd, STATE_NEW, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int e = fd < 0 ? errno : st_write_all(fd, &b);
	const char *step = "write";
	buf_free(&b);
	/* write new, flush, rename over, flush the folder (the helper the
	 * outbox uses too): the journal is the old one or the new one,
	 * whole, at every instant */
	if (fd >= 0 && e != 0) {
		close(fd);
		(void)unlinkat(sp->dirfd, STATE_NEW, 0);
	} else if (fd >= 0 && atomic_publish(sp->dirfd, fd, STATE_NEW, STATE_FILE, true, &step) < 0) {
		e = errno;
	}
	if (e != 0) {
		*err_r = spool_errf("%s/" STATE_FILE ": compaction: %s: %s", sp->dir, step, strerror(e));
		return -1;
	}
	return 0;
}
