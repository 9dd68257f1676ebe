/* spool_seg.c - reading segments: message frames, checked whole before
 * anything of them is used, and their content in chunks (spool.h). */
#include "server/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool_impl.h"
#include "util/records.h"

static int
seg_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A segment name's sequence number; false for names that are not one. */
static bool
seg_name(const char *name, uint64_t *seq_r)
{
	size_t n = strspn(name, "0123456789abcdef");
	if (n != SPOOL_SEQ_LEN || name[n] != '\0')
		return false;
	*seq_r = strtoull(name, NULL, 16);
	return true;
}

long
spool_seg_list(struct spool *sp, uint64_t **v_r, char **err_r)
{
	*v_r = NULL;
	if (sp->segfd < 0)
		return 0;
	DIR *d = spool_opendir(sp->segfd);
	if (d == NULL) {
		*err_r = spool_errf("%s/seg: %s", sp->dir, strerror(errno));
		return -1;
	}
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	bool oom = false;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		if (!seg_name(de->d_name, &seq))
			continue;	/* not ours: editor files, lost+found */
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = ncap > SIZE_MAX / sizeof *v ? NULL : realloc(v, ncap * sizeof *v);
			if (nv == NULL) {
				oom = true;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = seq;
	}
	closedir(d);
	if (oom) {
		free(v);
		*err_r = spool_errf("%s/seg: out of memory", sp->dir);
		return -1;
	}
	if (n > 0)
		qsort(v, n, sizeof *v, seg_cmp);
	*v_r = v;
	return (long)n;
}

/* ---- one frame ---- */

static int
dec_torn(struct spool_entry *e, const char *why)
{
	if (!e->torn) {
		e->torn = true;
		e->torn_why = strdup(why);
	}
	return -1;
}

static char *
dec_str(const uint8_t *v, size_t n)
{
	if (memchr(v, '\0', n) != NULL || n > 16384)
		return NULL;
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

static int
dec_rcpt(struct spool_entry *e, const uint8_t *v, size_t n)
{
	char *s = dec_str(v, n);
	const char **nv = s == NULL ? NULL : reallocarray((void *)e->env.rcpts, e->env.nrcpt + 1, sizeof *nv);
	if (nv == NULL) {
		free(s);
		return dec_torn(e, "bad recipient field");
	}
	e->env.rcpts = nv;
	nv[e->env.nrcpt++] = s;
	return 0;
}

struct dec {
	bool id, arrival, size, content, end;
	uint64_t size_v;
	size_t content_len;
};

static int
dec_field(struct spool_entry *e, struct dec *d, uint8_t t, const uint8_t *v, size_t n)
{
	uint64_t x = 0;
	const char **slot = spool_env_slot(&e->env, t);
	char tmp[SPOOL_ID_MAX];
	if (d->end)
		return dec_torn(e, "field after END");
	switch (t) {
	case REC_ID:
		if (d->id || n != SPOOL_ID_LEN)
			return dec_torn(e, "bad queue id field");
		memcpy(tmp, v, n);
		tmp[n] = '\0';
		if (!spool_id_valid(tmp))
			return dec_torn(e, "bad queue id field");
		memcpy(e->id, tmp, n + 1);
		d->id = true;
		return 0;
	case REC_ARRIVAL:
	case REC_SIZE:
		if ((t == REC_ARRIVAL ? d->arrival : d->size) || rec_u64(v, n, &x) < 0)
			return dec_torn(e, t == REC_ARRIVAL ? "bad arrival field" : "bad size field");
		if (t == REC_ARRIVAL) {
			d->arrival = true;
			e->env.arrival = (time_t)x;
		} else {
			d->size = true;
			d->size_v = x;
		}
		return 0;
	case REC_RCPT:
		return dec_rcpt(e, v, n);
	case REC_CONTENT:
	case REC_EXTERNAL:
		if (d->content)
			return dec_torn(e, "two content fields");
		d->content = true;
		d->content_len = n;
		if (t == REC_EXTERNAL) {
			char hex[9];
			char *endp;
			if (n != 8)
				return dec_torn(e, "bad checksum field");
			memcpy(hex, v, 8);
			hex[8] = '\0';
			e->crc = (uint32_t)strtoul(hex, &endp, 16);
			if (*endp != '\0' || strspn(hex, "0123456789abcdef") != 8)
				return dec_torn(e, "bad checksum field");
			e->external = true;
		}
		return 0;
	case REC_END:
		d->end = true;
		return n == 0 ? 0 : dec_torn(e, "END field with bytes");
	default:
		if (slot == NULL)
			return dec_torn(e, "unknown field type");
		if (*slot != NULL || (*slot = dec_str(v, n)) == NULL)
			return dec_torn(e, "bad or duplicate envelope field");
		return 0;
	}
}

int
spool_frame_decode(const uint8_t *p, size_t n, struct spool_entry *e)
{
	struct rec_iter it;
	struct dec d = { 0 };
	uint8_t t;
	const uint8_t *v;
	size_t vn;
	int r;
	rec_iter_init(&it, p, n);
	while ((r = rec_next(&it, &t, &v, &vn)) == 1)
		if (dec_field(e, &d, t, v, vn) < 0)
			return -1;
	if (r < 0)
		return dec_torn(e, "field runs past its frame");
	if (!d.id || !d.end)
		return dec_torn(e, !d.id ? "no queue id field" : "no END field");
	if (e->env.mail_from == NULL || e->env.nrcpt == 0 || !d.arrival)
		return dec_torn(e, "incomplete envelope");
	if (!d.content || !d.size || (!e->external && d.size_v != d.content_len))
		return dec_torn(e, "size field does not match the content");
	e->size = (size_t)d.size_v;
	return 0;
}

/* ---- a segment ---- */

static int
pread_all(int fd, void *p, size_t n, off_t at)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, (uint8_t *)p + got, n - got, at + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* seg_frame_at(): zeros where a frame would start (not a records.h code). */
#define SEG_END 2

/* Reads the frame at off of an open segment into *p_r (malloc'd).
 * Returns REC_OK (*flen_r, payload at *pl_r), SEG_END, REC_SHORT or
 * REC_BAD with *why_r. */
static int
seg_frame_at(int fd, uint64_t off, uint64_t fsize, uint8_t **p_r, const uint8_t **pl_r, size_t *pn_r,
	     size_t *flen_r, const char **why_r)
{
	uint8_t hdr[REC_FRAME_HDR] = { 0 };
	uint64_t left = fsize - off;
	size_t hn = left < REC_FRAME_HDR ? (size_t)left : REC_FRAME_HDR;
	*p_r = NULL;
	*why_r = "read error";
	if (pread_all(fd, hdr, hn, (off_t)off) < 0)
		return REC_BAD;
	/* The writer writes zeros ahead of its frames (spool.c
	 * seg_prezero): a zero header is where the frames end.  No frame
	 * starts with one (its magic is "PSM2"). */
	static const uint8_t zero[REC_FRAME_HDR];
	if (memcmp(hdr, zero, hn) == 0) {
		*why_r = "end of the frames";
		return SEG_END;
	}
	int rc = rec_frame_parse(hdr, hn, SPOOL_MSG_MAGIC, SPOOL_FRAME_MAX, pl_r, pn_r, flen_r, why_r);
	if (rc == REC_BAD || hn < REC_FRAME_HDR)
		return rc;
	size_t len = REC_FRAME_HDR + (size_t)rec_get_be32(hdr + 4);
	if (len > left)
		return REC_SHORT;
	uint8_t *p = malloc(len);
	if (p == NULL || pread_all(fd, p, len, (off_t)off) < 0) {
		free(p);
		*why_r = p == NULL ? "out of memory" : "read error";
		return REC_BAD;
	}
	rc = rec_frame_parse(p, len, SPOOL_MSG_MAGIC, SPOOL_FRAME_MAX, pl_r, pn_r, flen_r, why_r);
	if (rc != REC_OK)
		free(p);
	else
		*p_r = p;
	return rc;
}

/* A torn entry for the unreadable rest of a segment. */
static void
seg_torn_entry(struct spool_entry *e, uint64_t seq, uint64_t off, uint64_t size, const char *why)
{
	char msg[200];
	memset(e, 0, sizeof *e);
	(void)snprintf(e->id, sizeof e->id, "seg-%016" PRIx64, seq);
	(void)snprintf(e->where, sizeof e->where, "seg/%016" PRIx64 "@%" PRIu64, seq, off);
	(void)snprintf(msg, sizeof msg, "%s at offset %" PRIu64 " of %" PRIu64 " bytes; the %" PRIu64
		       " bytes from there on are never delivered", why, off, size, size - off);
	e->torn = true;
	e->torn_why = strdup(msg);
	e->seg = seq;
	e->off = off;
}

int
spool_seg_scan_one(struct spool *sp, uint64_t seq, spool_seg_fn fn, void *arg)
{
	char name[SPOOL_SEQ_LEN + 1];
	struct stat st;
	struct spool_entry e;
	(void)snprintf(name, sizeof name, "%016" PRIx64, seq);
	int fd = openat(sp->segfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd < 0 && errno == ENOENT)
			return 0;	/* removed meanwhile */
		seg_torn_entry(&e, seq, 0, 0, strerror(errno));
		if (fd >= 0)
			close(fd);
		int stop = fn(arg, &e);
		spool_entry_clear(&e);
		return stop;
	}
	uint64_t off = 0, size = (uint64_t)st.st_size;
	int stop = 0;
	while (off < size && stop == 0) {
		uint8_t *p;
		const uint8_t *pl;
		size_t pn, flen;
		const char *why;
		int rc = seg_frame_at(fd, off, size, &p, &pl, &pn, &flen, &why);
		if (rc == SEG_END)
			break;
		if (rc != REC_OK) {
			seg_torn_entry(&e, seq, off, size, rc == REC_SHORT ? "torn frame (cut short)" : why);
			stop = fn(arg, &e);
			spool_entry_clear(&e);
			break;
		}
		memset(&e, 0, sizeof e);
		if (spool_frame_decode(pl, pn, &e) < 0 && e.id[0] == '\0')
			(void)snprintf(e.id, sizeof e.id, "seg-%016" PRIx64, seq);
		e.seg = seq;
		e.off = off;
		(void)snprintf(e.where, sizeof e.where, "seg/%016" PRIx64 "@%" PRIu64, seq, off);
		free(p);
		stop = fn(arg, &e);
		spool_entry_clear(&e);
		off += flen;
	}
	close(fd);
	return stop;
}

int
spool_seg_scan(struct spool *sp, spool_seg_fn fn, void *arg, char **err_r)
{
	uint64_t *v;
	long n = spool_seg_list(sp, &v, err_r);
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		if (spool_seg_scan_one(sp, v[i], fn, arg) != 0)
			break;
	free(v);
	return 0;
}

/* ---- content ---- */

/* Hands n bytes to cb in chunks of at most SPOOL_WBUF. */
static int
chunks(const uint8_t *p, size_t n, spool_chunk_fn cb, void *arg)
{
	for (size_t off = 0; off < n;) {
		size_t k = n - off < SPOOL_WBUF ? n - off : SPOOL_WBUF;
		if (cb(arg, p + off, k) < 0)
			return -1;
		off += k;
	}
	return 0;
}

/* Reads msg/ID in chunks; cb NULL: only checks size and checksum. */
static int
ext_pass(int fd, const struct spool_entry *e, spool_chunk_fn cb, void *arg, const char **why_r)
{
	uint8_t *buf = malloc(SPOOL_WBUF);
	uint64_t total = 0;
	uint32_t crc = 0;
	int rc = 0;
	*why_r = NULL;
	if (buf == NULL) {
		*why_r = "out of memory";
		return -1;
	}
	for (;;) {
		ssize_t k = pread(fd, buf, SPOOL_WBUF, (off_t)total);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			*why_r = "read error";
			rc = -1;
			break;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (cb == NULL)
			crc = rec_crc32c(crc, buf, (size_t)k);
		else if (cb(arg, buf, (size_t)k) < 0) {
			rc = -1;
			break;
		}
	}
	free(buf);
	if (rc == 0 && cb == NULL && (total != e->size || crc != e->crc)) {
		*why_r = total != e->size ? "content file size does not match its frame"
					  : "content file checksum mismatch";
		rc = -1;
	}
	return rc;
}

int
spool_seg_content(struct spool *sp, const struct spool_entry *e, spool_chunk_fn cb, void *arg,
		  char **err_r)
{
	char name[SPOOL_SEQ_LEN + 1];
	const char *why = NULL;
	*err_r = NULL;
	(void)snprintf(name, sizeof name, "%016" PRIx64, e->seg);
	int fd = openat(sp->segfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	uint8_t *p = NULL;
	const uint8_t *pl;
	size_t pn, flen;
	int rc = -1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		why = strerror(errno);
	} else if (seg_frame_at(fd, e->off, (uint64_t)st.st_size, &p, &pl, &pn, &flen, &why) != REC_OK) {
		why = why ? why : "torn frame";
	} else {
		/* the frame checked whole: find its content */
		struct rec_iter it;
		uint8_t t;
		const uint8_t *v = NULL;
		size_t vn = 0;
		rec_iter_init(&it, pl, pn);
		while (rec_next(&it, &t, &v, &vn) == 1 && t != REC_CONTENT && t != REC_EXTERNAL)
			;
		if (!e->external) {
			rc = chunks(v, vn, cb, arg);
		} else {
			int xfd = openat(sp->msgfd, e->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (xfd < 0)
				why = "content file missing";
			else if (ext_pass(xfd, e, NULL, NULL, &why) == 0)
				rc = ext_pass(xfd, e, cb, arg, &why);
			if (xfd >= 0)
				close(xfd);
		}
	}
	if (rc < 0 && why != NULL)
		*err_r = spool_errf("%s/seg/%s@%" PRIu64 " (message %s): %s", sp->dir, name, e->off, e->id,
				    why);
	free(p);
	if (fd >= 0)
		close(fd);
	return rc;
}
