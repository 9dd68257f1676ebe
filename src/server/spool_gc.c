/* spool_gc.c - the lock holder's housekeeping: tmp/ emptied, segments
 * whose messages are all done removed with their msg/ files, orphan
 * msg/ files removed, the state journal compacted (order and crash
 * argument: spool.h). */
#include "server/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool_impl.h"
#include "util/log.h"

typedef char gc_id[SPOOL_ID_LEN + 1];

/* A growing list of queue ids. */
struct idvec {
	gc_id *v;
	size_t n, cap;
};

struct gc {
	struct spool *sp;
	struct spool_states *st;
	uint64_t seq;		/* segment being looked at */
	bool seg_done;		/* so far every message of it is done */
	bool seg_torn;
	struct idvec ext;	/* its messages with a msg/ file */
	struct idvec ids;	/* all its messages */
	struct idvec live;	/* messages of the segments kept: their states stay */
	struct idvec refs;	/* msg/ files a kept segment refers to */
	bool oom;
	/* spool_gc_live: which segments may go; NULL: every done one */
	bool (*may_remove)(void *arg, uint64_t seq);
	void *arg;
	off_t seg_size;		/* live: the segment's size before it was read */
};

static void
gc_push(struct gc *g, struct idvec *iv, const char *id)
{
	if (g->oom)
		return;
	if (iv->n == iv->cap) {
		size_t ncap = iv->cap ? iv->cap * 2 : 64;
		gc_id *nv = ncap > SIZE_MAX / sizeof *nv ? NULL : realloc(iv->v, ncap * sizeof *nv);
		if (nv == NULL) {
			g->oom = true;
			return;
		}
		iv->v = nv;
		iv->cap = ncap;
	}
	memcpy(iv->v[iv->n++], id, sizeof(gc_id));
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Removes every file left in tmp/: spill files of messages that were
 * never acknowledged, so the client still has them. */
static void
gc_tmp(struct spool *sp)
{
	DIR *d = spool_opendir(sp->tmpfd);
	if (d == NULL)
		return;
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
}

/* Live gc: an exclusive flock on segment name, which no writer holds
 * (each holds a shared one on its current segment, spool.c seg_roll),
 * and the segment has not grown since it was read: then no one appends
 * to it again.  Returns the locked descriptor, or -1: keep it. */
static int
gc_seg_lock(struct gc *g, const char *name)
{
	int fd = openat(g->sp->segfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
	    st.st_size == g->seg_size)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The segment g->seq has been read whole: remove it when done. */
static void
gc_seg_end(struct gc *g)
{
	char name[SPOOL_SEQ_LEN + 1];
	struct spool *sp = g->sp;
	bool current = (sp->cur_fd >= 0 && g->seq == sp->cur_seq) ||
		       (g->may_remove != NULL && !g->may_remove(g->arg, g->seq));
	(void)snprintf(name, sizeof name, "%016" PRIx64, g->seq);
	int lock = -1;
	if (g->seg_done && !current && g->may_remove != NULL)
		lock = gc_seg_lock(g, name);
	if (g->seg_done && !current && (g->may_remove == NULL || lock >= 0)) {
		for (size_t i = 0; i < g->ext.n; i++)
			if (unlinkat(sp->msgfd, g->ext.v[i], 0) < 0 && errno != ENOENT)
				log_warn("spool: %s/msg/%s: unlink: %s", sp->dir, g->ext.v[i], strerror(errno));
		if (unlinkat(sp->segfd, name, 0) < 0)
			log_warn("spool: %s/seg/%s: unlink: %s", sp->dir, name, strerror(errno));
		else
			log_info("spool: removed %s/seg/%s: all its messages are done%s", sp->dir, name,
				 g->seg_torn ? " (it had a torn frame, never delivered)" : "");
	} else {
		for (size_t i = 0; i < g->ext.n; i++)
			gc_push(g, &g->refs, g->ext.v[i]);
		/* done or not, a message of a kept segment keeps its states:
		 * dropping them would make it pending again */
		for (size_t i = 0; i < g->ids.n; i++)
			gc_push(g, &g->live, g->ids.v[i]);
	}
	if (lock >= 0)
		close(lock);		/* after the unlink: see seg_roll() */
	g->ext.n = 0;
	g->ids.n = 0;
}

/* Live gc: the size of segment g->seq before it is read (-1: unknown,
 * then it is kept). */
static off_t
gc_seg_size(struct gc *g)
{
	char name[SPOOL_SEQ_LEN + 1];
	struct stat st;
	(void)snprintf(name, sizeof name, "%016" PRIx64, g->seq);
	if (g->may_remove == NULL || fstatat(g->sp->segfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return st.st_size;
}

static int
gc_entry(void *arg, struct spool_entry *e)
{
	struct gc *g = arg;
	if (e->torn) {
		log_warn("spool: %s/%s: torn: %s", g->sp->dir, e->where, e->torn_why ? e->torn_why : "?");
		g->seg_torn = true;
		return 0;
	}
	if (e->external)
		gc_push(g, &g->ext, e->id);
	gc_push(g, &g->ids, e->id);
	if (!spool_states_apply(g->st, e))
		g->seg_done = false;
	return 0;
}

/* msg/ files no kept frame refers to: their pass never became durable. */
static void
gc_orphans(struct gc *g)
{
	struct spool *sp = g->sp;
	DIR *d = spool_opendir(sp->msgfd);
	if (d == NULL)
		return;
	if (g->refs.n > 0)
		qsort(g->refs.v, g->refs.n, sizeof *g->refs.v, id_cmp);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!spool_id_valid(de->d_name) ||
		    (g->refs.n > 0 && bsearch(de->d_name, g->refs.v, g->refs.n, sizeof *g->refs.v, id_cmp) != NULL))
			continue;
		if (unlinkat(sp->msgfd, de->d_name, 0) == 0)
			log_info("spool: removed %s/msg/%s: no segment refers to it (never acknowledged)",
				 sp->dir, de->d_name);
	}
	closedir(d);
}

static bool
gc_keep(void *arg, const char *id)
{
	struct gc *g = arg;
	if (g->live.n > 0 && bsearch(id, g->live.v, g->live.n, sizeof *g->live.v, id_cmp) != NULL)
		return true;
	/* v1 files take their states from the journal too */
	return g->sp->queuefd >= 0 && faccessat(g->sp->queuefd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int
gc_run(struct gc *gp, char **err_r)
{
	struct gc g = *gp;
	struct spool *sp = g.sp;
	bool live = g.may_remove != NULL;
	if (!live)
		gc_tmp(sp);
	g.st = spool_states_load(sp, true, err_r);
	if (g.st == NULL)
		return -1;
	uint64_t *segs;
	long nseg = spool_seg_list(sp, &segs, err_r);
	int rc = nseg < 0 ? -1 : 0;
	for (long i = 0; i < nseg; i++) {
		/* an empty segment (created, then a crash) is done too */
		g.seq = segs[i];
		g.seg_done = true;
		g.seg_torn = false;
		g.seg_size = gc_seg_size(&g);
		(void)spool_seg_scan_one(sp, segs[i], gc_entry, &g);
		gc_seg_end(&g);
	}
	if (rc == 0) {
		/* the removals first, made durable, then the journal */
		if (fsync(sp->segfd) < 0 || fsync(sp->msgfd) < 0)
			log_warn("spool: %s: fsync: %s", sp->dir, strerror(errno));
		if (nseg > 0 && sp->cur_seq < segs[nseg - 1])
			sp->cur_seq = segs[nseg - 1];
		if (!live)
			gc_orphans(&g);
		if (g.live.n > 0)
			qsort(g.live.v, g.live.n, sizeof *g.live.v, id_cmp);
		if (g.oom) {
			*err_r = spool_errf("%s: out of memory", sp->dir);
			rc = -1;
		} else {
			rc = spool_states_compact(sp, g.st, gc_keep, &g, err_r);
		}
	}
	if (nseg >= 0)
		free(segs);
	free(g.ext.v);
	free(g.ids.v);
	free(g.live.v);
	free(g.refs.v);
	spool_states_free(&g.st);
	return rc;
}

int
spool_gc(struct spool *sp, char **err_r)
{
	struct gc g = { .sp = sp };
	return gc_run(&g, err_r);
}

int
spool_gc_live(struct spool *sp, bool (*may_remove)(void *arg, uint64_t seq), void *arg,
	      char **err_r)
{
	struct gc g = { .sp = sp, .may_remove = may_remove, .arg = arg };
	return gc_run(&g, err_r);
}
