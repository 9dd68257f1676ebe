/* spool_query.c - what readers ask of the spool: the list of messages
 * with their recipients' states, one message, its content in chunks,
 * deleting (spool.h). */
#include "server/spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/spool_impl.h"

int
spool_seg_dirfd(const struct spool *sp)
{
	return sp->segfd;
}

void
spool_entries_free(struct spool_entry *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		spool_entry_clear(&v[i]);
	free(v);
}

struct spool_entry *
spool_entries_push(struct spool_entry **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct spool_entry *nv = reallocarray(*v, ncap, sizeof *nv);
		if (nv == NULL)
			return NULL;
		*v = nv;
		*cap = ncap;
	}
	struct spool_entry *e = &(*v)[(*n)++];
	memset(e, 0, sizeof *e);
	return e;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;
	if (x->env.arrival != y->env.arrival)
		return x->env.arrival < y->env.arrival ? -1 : 1;
	return strcmp(x->id, y->id);
}

struct collect {
	struct spool_states *st;
	struct spool_entry *v;
	size_t n, cap;
	const char *want;	/* only this id (spool_entry_get) */
	bool oom;
};

/* Moves *e into the vector unless it is done or not wanted. */
static int
collect_one(void *arg, struct spool_entry *e)
{
	struct collect *c = arg;
	if (c->want != NULL && strcmp(e->id, c->want) != 0)
		return 0;
	if (spool_states_apply(c->st, e))
		return c->want != NULL;	/* delivered, failed or deleted: gone */
	struct spool_entry *slot = spool_entries_push(&c->v, &c->n, &c->cap);
	if (slot == NULL) {
		c->oom = true;
		return 1;
	}
	*slot = *e;
	memset(e, 0, sizeof *e);	/* the vector owns the strings now */
	return c->want != NULL;
}

/* Segments and v1 files, states applied, into c. */
static int
collect(struct spool *sp, struct collect *c, char **err_r)
{
	c->st = spool_states_load(sp, false, err_r);
	if (c->st == NULL)
		return -1;
	int rc = spool_seg_scan(sp, collect_one, c, err_r);
	if (rc == 0 && !c->oom && (c->want == NULL || c->n == 0)) {
		size_t first = c->n;
		rc = spool_v1_list(sp, &c->v, &c->n, &c->cap, err_r);
		/* v1 messages take their states from the same journal */
		size_t w = first;
		for (size_t i = first; rc == 0 && i < c->n; i++) {
			if ((c->want != NULL && strcmp(c->v[i].id, c->want) != 0) ||
			    spool_states_apply(c->st, &c->v[i]))
				spool_entry_clear(&c->v[i]);
			else
				c->v[w++] = c->v[i];
		}
		if (rc == 0)
			c->n = w;
	}
	spool_states_free(&c->st);
	if (rc == 0 && c->oom) {
		*err_r = spool_errf("%s: out of memory", sp->dir);
		rc = -1;
	}
	if (rc < 0) {
		spool_entries_free(c->v, c->n);
		c->v = NULL;
		c->n = 0;
	}
	return rc;
}

long
spool_list(struct spool *sp, struct spool_entry **v_r, char **err_r)
{
	struct collect c = { 0 };
	if (collect(sp, &c, err_r) < 0)
		return -1;
	if (c.n > 0)
		qsort(c.v, c.n, sizeof *c.v, entry_cmp);
	*v_r = c.v;
	return (long)c.n;
}

int
spool_entry_get(struct spool *sp, const char *id, struct spool_entry **e_r, char **err_r)
{
	struct collect c = { .want = id };
	*e_r = NULL;
	if (!spool_id_valid(id))
		return 0;
	if (collect(sp, &c, err_r) < 0)
		return -1;
	if (c.n == 0) {
		free(c.v);
		return 0;
	}
	*e_r = c.v;	/* one entry */
	return 1;
}

int
spool_content(struct spool *sp, const struct spool_entry *e, spool_chunk_fn cb, void *arg,
	      char **err_r)
{
	*err_r = NULL;
	if (e->torn) {
		*err_r = spool_errf("%s/%s (message %s) is torn: %s", sp->dir, e->where, e->id,
				    e->torn_why ? e->torn_why : "?");
		return -1;
	}
	if (e->legacy)
		return spool_v1_content(sp, e->id, cb, arg, err_r);
	return spool_seg_content(sp, e, cb, arg, err_r);
}

static int
to_fd(void *arg, const void *p, size_t n)
{
	int fd = *(int *)arg;
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

int
spool_read_content(struct spool *sp, const char *id, int fd, char **err_r)
{
	struct spool_entry *e = NULL;
	*err_r = NULL;
	int rc = spool_entry_get(sp, id, &e, err_r);
	if (rc <= 0) {
		if (rc == 0)
			*err_r = spool_errf("no message %s in %s", id, sp->dir);
		return -1;
	}
	rc = spool_content(sp, e, to_fd, &fd, err_r);
	if (rc < 0 && *err_r == NULL)
		*err_r = spool_errf("write: %s", strerror(errno));
	spool_entries_free(e, 1);
	return rc;
}

int
spool_delete(struct spool *sp, const char *id, char **err_r)
{
	struct spool_entry *e = NULL;
	int rc = spool_entry_get(sp, id, &e, err_r);
	if (rc <= 0) {
		if (rc == 0)
			*err_r = spool_errf("no message %s in %s", id, sp->dir);
		return -1;
	}
	bool legacy = e->legacy;
	spool_entries_free(e, 1);
	if (legacy)
		return spool_v1_delete(sp, id, err_r);
	/* The segment is append-only: the message is marked deleted, and
	 * its space comes back when its segment is done (spool_gc). */
	struct spool_mark m = { .id = id, .state = 'X' };
	return spool_mark(sp, &m, 1, err_r);
}
