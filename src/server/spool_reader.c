/* spool_reader.c - pulling a message's content in chunks (spool_reader.h). */
#include "server/spool_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/spool.h"
#include "server/spool_impl.h"
#include "util/records.h"

struct spool_reader {
	const struct spool_entry *e;
	/* small and legacy messages: their content, taken through
	 * spool_content() (which checks the frame) */
	struct buf mem;
	size_t mem_off;
	/* large messages: msg/ID, checked as it is read */
	int fd;
	uint64_t total;
	uint32_t crc;
};

static int
to_mem(void *arg, const void *p, size_t n)
{
	struct spool_reader *r = arg;
	return buf_add(&r->mem, p, n);
}

struct spool_reader *
spool_reader_open(struct spool *sp, const struct spool_entry *e, char **err_r)
{
	*err_r = NULL;
	struct spool_reader *r = calloc(1, sizeof *r);
	if (r == NULL) {
		*err_r = strdup("out of memory");
		return NULL;
	}
	r->e = e;
	r->fd = -1;
	if (e->torn) {
		*err_r = spool_errf("%s/%s (message %s) is torn: %s", sp->dir, e->where, e->id,
				    e->torn_why ? e->torn_why : "?");
	} else if (e->external && !e->legacy) {
		r->fd = openat(sp->msgfd, e->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (r->fd < 0)
			*err_r = spool_errf("%s/msg/%s: %s", sp->dir, e->id, strerror(errno));
	} else {
		/* Inline content is at most SPOOL_INLINE_MAX.  A spool v1
		 * file (legacy, read only) has no streaming reader: it is
		 * taken whole, as spool v1 delivery would have. */
		buf_init(&r->mem, e->legacy ? SIZE_MAX / 2 : SPOOL_FRAME_MAX);
		if (spool_content(sp, e, to_mem, r, err_r) < 0 && *err_r == NULL)
			*err_r = spool_errf("message %s: out of memory", e->id);
	}
	if (*err_r != NULL)
		spool_reader_close(&r);
	return r;
}

static ssize_t
ext_read(struct spool_reader *r, void *buf, size_t cap, char **err_r)
{
	ssize_t k;
	do
		k = pread(r->fd, buf, cap, (off_t)r->total);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		*err_r = spool_errf("msg/%s: %s", r->e->id, strerror(errno));
		return -1;
	}
	r->total += (uint64_t)k;
	r->crc = rec_crc32c(r->crc, buf, (size_t)k);
	if (r->total > r->e->size || (k == 0 && r->total != r->e->size)) {
		*err_r = spool_errf("msg/%s: content file size does not match its frame", r->e->id);
		return -1;
	}
	if (k == 0 && r->crc != r->e->crc) {
		*err_r = spool_errf("msg/%s: content file checksum mismatch", r->e->id);
		return -1;
	}
	return k;
}

ssize_t
spool_reader_read(struct spool_reader *r, void *buf, size_t cap, char **err_r)
{
	*err_r = NULL;
	if (r->fd >= 0)
		return ext_read(r, buf, cap, err_r);
	size_t left = r->mem.len - r->mem_off;
	size_t k = left < cap ? left : cap;
	if (k > 0)
		memcpy(buf, r->mem.p + r->mem_off, k);
	r->mem_off += k;
	return (ssize_t)k;
}

void
spool_reader_close(struct spool_reader **rp)
{
	struct spool_reader *r = *rp;
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	buf_free(&r->mem);
	free(r);
	*rp = NULL;
}
