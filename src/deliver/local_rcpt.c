/* local_rcpt.c - the local recipients map: file format, comparisons and
 * expansion are described in local_rcpt.h. */
#include "deliver/local_rcpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/maildir.h"
#include "smtp/addr.h"
#include "util/linefile.h"
#include "util/span.h"
#include "util/str.h"

/* A line holds a key and its targets: sixteen addresses of the longest
 * legal size (RFC 5321 4.5.3.1.3: 256) fit; a longer list is split over
 * several keys (a target may itself be a key). */
#define LOCAL_RCPT_LINE_MAX 4096
/* The canonical form: a path of at most 256 octets, and its NUL. */
#define CANON_MAX (SMTP_PATH_MAX + 1)

struct entry {
	char *key;		/* canonical: "local@domain", "local" or "@domain" */
	char **targets;		/* as written (quotes kept), domain lower-cased */
	size_t ntargets;
	unsigned line;
};

struct local_rcpt {
	struct entry *v;	/* sorted by key (strcmp) */
	size_t n;
};

static char
lower(char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (char)(unsigned char)((unsigned char)c + ('a' - 'A'));
	return c;
}

/* The content of a local part: a quoted one unquoted (RFC 5321 4.1.2:
 * '\' quotes the next character), into out (size > SMTP_LOCAL_MAX).
 * -1 when it does not fit or the quotes are broken. */
static int
unquote_local(struct span lp, char *out, size_t size)
{
	size_t o = 0;
	if (lp.n >= 2 && lp.p[0] == '"' && lp.p[lp.n - 1] == '"') {
		for (size_t i = 1; i + 1 < lp.n; i++) {
			if (lp.p[i] == '\\' && i + 2 < lp.n)
				i++;
			if (o + 1 >= size)
				return -1;
			out[o++] = lp.p[i];
		}
	} else {
		if (lp.n >= size)
			return -1;
		memcpy(out, lp.p, lp.n);
		o = lp.n;
	}
	out[o] = '\0';
	return 0;
}

/* The canonical local part of lp into out (folded), -1 when lp can never
 * be a local recipient: the rule of maildir_local_ok() (a dot-atom
 * without '/', '%' or '!'), so that what the map knows is what delivery
 * takes, and no route is ever read into a local part. */
static int
canon_local(struct span lp, char *out, size_t size)
{
	char raw[SMTP_LOCAL_MAX + 2];
	if (unquote_local(lp, raw, sizeof raw) < 0 || !maildir_local_ok(raw))
		return -1;
	size_t n = strlen(raw);
	if (n >= size)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = lower(raw[i]);
	return 0;
}

/* Appends "@" and the domain d, lower-cased, at out + at; -1 when it
 * does not fit or d is empty. */
static int
canon_domain(struct span d, char *out, size_t at, size_t size)
{
	if (d.n == 0 || d.n > SMTP_DOMAIN_MAX || at + 1 + d.n >= size)
		return -1;
	out[at] = '@';
	for (size_t i = 0; i < d.n; i++) {
		if (d.p[i] == '\0')
			return -1;
		out[at + 1 + i] = lower(d.p[i]);
	}
	out[at + 1 + d.n] = '\0';
	return 0;
}

/* Splits mailbox at its last '@' (a quoted local part may hold one). */
static bool
split_at(struct span m, struct span *lp_r, struct span *dom_r)
{
	for (size_t i = m.n; i > 0; i--) {
		if (m.p[i - 1] == '@') {
			*lp_r = (struct span){ m.p, i - 1 };
			*dom_r = (struct span){ m.p + i, m.n - i };
			return true;
		}
	}
	return false;
}

int
local_rcpt_canon(const char *mailbox, char *out, size_t size)
{
	struct span lp, dom;
	if (!split_at(span_of(mailbox), &lp, &dom) || canon_local(lp, out, size) < 0)
		return -1;
	return canon_domain(dom, out, strlen(out), size);
}

/* ---- loading ---- */

/* The key of a line into out: "local@domain", bare "local" or
 * "@domain", canonical.  NULL when good, else why not. */
static const char *
key_canon(struct span w, char *out, size_t size)
{
	struct span lp, dom;
	if (w.n > 0 && w.p[w.n - 1] == ':')
		w.n--;
	if (w.n == 0)
		return "empty key";
	if (!split_at(w, &lp, &dom)) {
		if (canon_local(w, out, size) < 0)
			return "not a plain local part (a dot-atom without '/', '%' or '!')";
		return NULL;
	}
	out[0] = '\0';
	if (lp.n > 0 && canon_local(lp, out, size) < 0)
		return "not a plain local part (a dot-atom without '/', '%' or '!')";
	if (canon_domain(dom, out, strlen(out), size) < 0)
		return "bad or missing domain";
	return NULL;
}

/* A target as the SMTP path parser takes it (so that the queue runner
 * can hand it on as RCPT TO), or a bare local part; the domain folded. */
static const char *
target_check(struct span w, char **out_r)
{
	char path[SMTP_PATH_MAX + 8], mailbox[SMTP_PATH_MAX + 1];
	const char *why = "syntax";
	struct span params;
	*out_r = NULL;
	if (w.n > SMTP_PATH_MAX)
		return "longer than 256 octets";
	if (span_chr(w, '@') < 0) {
		char tmp[SMTP_LOCAL_MAX + 2];
		if (canon_local(w, tmp, sizeof tmp) < 0)
			return "not a plain local part (a dot-atom without '/', '%' or '!')";
		*out_r = strndup(w.p, w.n);
		return *out_r == NULL ? "out of memory" : NULL;
	}
	int len = snprintf(path, sizeof path, "<%.*s>", (int)w.n, w.p);
	if (len < 0 || (size_t)len >= sizeof path)
		return "too long";
	if (smtp_path_parse((struct span){ path, (size_t)len }, false, mailbox, &params, &why) !=
		    SMTP_ADDR_OK ||
	    params.n != 0)
		return why;
	char *at = strrchr(mailbox, '@');
	if (at == NULL)
		return "missing '@domain'";
	for (; *at; at++)
		*at = lower(*at);
	*out_r = strdup(mailbox);
	return *out_r == NULL ? "out of memory" : NULL;
}

static void
entry_free(struct entry *e)
{
	free(e->key);
	for (size_t i = 0; i < e->ntargets; i++)
		free(e->targets[i]);
	free(e->targets);
}

static int
entry_add_target(struct entry *e, char *t)
{
	char **v = reallocarray(e->targets, e->ntargets + 1, sizeof *v);
	if (v == NULL) {
		free(t);
		return -1;
	}
	e->targets = v;
	v[e->ntargets++] = t;
	return 0;
}

/* Takes the next word: bytes up to a space, tab or comma, and skips the
 * separators after it.  False at the end. */
static bool
next_word(struct span *in, struct span *w_r)
{
	size_t i = 0;
	while (i < in->n && in->p[i] != ' ' && in->p[i] != '\t' && in->p[i] != ',')
		i++;
	*w_r = (struct span){ in->p, i };
	while (i < in->n && (in->p[i] == ' ' || in->p[i] == '\t' || in->p[i] == ','))
		i++;
	span_skip(in, i);
	return w_r->n > 0;
}

static struct span
strip_line(struct span line)
{
	long hash = span_chr(line, '#');
	if (hash >= 0)
		line.n = (size_t)hash;
	while (line.n > 0 && (line.p[0] == ' ' || line.p[0] == '\t' || line.p[0] == ','))
		span_skip(&line, 1);
	while (line.n > 0 && (line.p[line.n - 1] == ' ' || line.p[line.n - 1] == '\t' ||
			      line.p[line.n - 1] == '\r'))
		line.n--;
	return line;
}

/* One "KEY [TARGET...]" line into a new entry of m (linefile_fn). */
static int
map_line(struct linefile *c, struct span line, void *arg)
{
	struct local_rcpt *m = arg;
	for (size_t i = 0; i < line.n; i++) {
		unsigned char ch = (unsigned char)line.p[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch >= 0x7f)
			return linefile_err(c, "control or non-ASCII byte 0x%02x", ch);
	}
	line = strip_line(line);
	struct span w;
	if (!next_word(&line, &w))
		return 0;
	char key[CANON_MAX];
	const char *why = key_canon(w, key, sizeof key);
	if (why != NULL)
		return linefile_err(c, "'%.*s': %s", (int)w.n, w.p, why);
	struct entry *v = reallocarray(m->v, m->n + 1, sizeof *v);
	if (v == NULL)
		return linefile_err(c, "out of memory");
	m->v = v;
	struct entry *e = &v[m->n];
	*e = (struct entry){ .key = strdup(key), .line = c->line };
	if (e->key == NULL)
		return linefile_err(c, "out of memory");
	m->n++;
	while (next_word(&line, &w)) {
		char *t = NULL;
		why = target_check(w, &t);
		if (why != NULL)
			return linefile_err(c, "target '%.*s' is not an address or local part (%s)",
				    (int)w.n, w.p, why);
		if (entry_add_target(e, t) < 0)
			return linefile_err(c, "out of memory");
	}
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

/* After sorting: a key listed twice is an error naming both lines. */
static int
map_dups(struct linefile *c, const struct local_rcpt *m)
{
	for (size_t i = 1; i < m->n; i++) {
		if (strcmp(m->v[i - 1].key, m->v[i].key) != 0)
			continue;
		unsigned a = m->v[i - 1].line, b = m->v[i].line;
		c->line = a > b ? a : b;
		return linefile_err(c, "'%s' is listed twice (also on line %u)", m->v[i].key, a < b ? a : b);
	}
	return 0;
}

static char *
map_path(const char *spec, const char *base_dir)
{
	const char *p = strncmp(spec, "file:", 5) == 0 ? spec + 5 : spec;
	if (p[0] == '/' || base_dir == NULL)
		return strdup(p);
	return str_printf("%s/%s", base_dir, p);
}

struct local_rcpt *
local_rcpt_load(const char *spec, const char *base_dir, char **err_r)
{
	*err_r = NULL;
	char *path = map_path(spec, base_dir);
	struct local_rcpt *m = calloc(1, sizeof *m);
	if (path == NULL || m == NULL) {
		*err_r = str_printf("%s: out of memory", spec);
	} else if (linefile_read(path, LOCAL_RCPT_LINE_MAX, map_line, m, err_r) == 0 && m->n > 0) {
		struct linefile c = { path, 0, err_r };
		qsort(m->v, m->n, sizeof *m->v, entry_cmp);
		(void)map_dups(&c, m);
	}
	free(path);
	if (*err_r != NULL)
		local_rcpt_free(&m);
	return m;
}

void
local_rcpt_free(struct local_rcpt **mp)
{
	struct local_rcpt *m = *mp;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_free(&m->v[i]);
	free(m->v);
	free(m);
	*mp = NULL;
}

/* ---- lookup ---- */

static const struct entry *
find_key(const struct local_rcpt *m, const char *key)
{
	struct entry k = { .key = (char *)key };
	return m->n == 0 ? NULL : bsearch(&k, m->v, m->n, sizeof *m->v, entry_cmp);
}

/* The entry for the canonical address canon: exact, bare local part,
 * then "@domain" (*catchall_r says which matched).  NULL: none. */
static const struct entry *
find_entry(const struct local_rcpt *m, const char *canon, bool *catchall_r)
{
	*catchall_r = false;
	const struct entry *e = find_key(m, canon);
	const char *at = strrchr(canon, '@');
	if (e == NULL && at != NULL) {
		char bare[CANON_MAX];
		size_t n = (size_t)(at - canon);
		memcpy(bare, canon, n);
		bare[n] = '\0';
		e = find_key(m, bare);
		if (e == NULL && (e = find_key(m, at)) != NULL)
			*catchall_r = true;
	}
	return e;
}

enum local_rcpt_match
local_rcpt_lookup(const struct local_rcpt *m, const char *mailbox)
{
	char canon[CANON_MAX];
	bool catchall;
	if (m == NULL || local_rcpt_canon(mailbox, canon, sizeof canon) < 0 ||
	    find_entry(m, canon, &catchall) == NULL)
		return LOCAL_RCPT_NONE;
	return catchall ? LOCAL_RCPT_CATCHALL : LOCAL_RCPT_EXACT;
}

/* ---- expansion ---- */

struct expand {
	const struct local_rcpt *m;
	char **list;
	size_t n;
	char *err;
	/* The chain being expanded, canonical, for loops and messages. */
	char chain[LOCAL_RCPT_DEPTH_MAX + 1][CANON_MAX];
	size_t depth;
};

static int
expand_fail(struct expand *x, const char *what, const char *last)
{
	size_t len = strlen(what) + strlen(last) + 8;
	for (size_t i = 0; i < x->depth; i++)
		len += strlen(x->chain[i]) + 4;
	char *s = malloc(len);
	if (s == NULL)
		return -1;
	size_t o = (size_t)snprintf(s, len, "%s: ", what);
	for (size_t i = 0; i < x->depth && o < len; i++)
		o += (size_t)snprintf(s + o, len - o, "%s -> ", x->chain[i]);
	if (o < len)
		(void)snprintf(s + o, len - o, "%s", last);
	x->err = s;
	return -1;
}

/* Adds a final address (domain folded), once (compared canonically
 * where a canonical form exists, else as written).
 * XXX: gcc 12's analyzer loses the copy once it is stored in x->list
 * (an array in a heap struct, handed through recursive calls) and reports
 * it leaked; local_rcpt_expand() hands the list to its caller or frees
 * it.  Only this function has the warning off, as in conf_keys.c. */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
expand_final(struct expand *x, const char *addr)
{
	char a[CANON_MAX], b[CANON_MAX];
	bool ca = local_rcpt_canon(addr, a, sizeof a) == 0;
	for (size_t i = 0; i < x->n; i++) {
		bool cb = local_rcpt_canon(x->list[i], b, sizeof b) == 0;
		if (ca && cb ? strcmp(a, b) == 0 : strcmp(addr, x->list[i]) == 0)
			return 0;
	}
	if (x->n == LOCAL_RCPT_EXPAND_MAX)
		return expand_fail(x, "alias expansion gives more than 1000 recipients", addr);
	char *copy = strdup(addr);
	if (copy == NULL)
		return -1;
	for (char *p = strrchr(copy, '@'); p != NULL && *p; p++)
		*p = lower(*p);
	x->list[x->n++] = copy;
	return 0;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int expand_addr(struct expand *x, const char *addr);

/* The targets of e, reached from addr (canonical form canon). */
static int
expand_targets(struct expand *x, const struct entry *e, const char *addr, const char *canon)
{
	const char *dom = strrchr(canon, '@');
	for (size_t i = 0; i < e->ntargets; i++) {
		char full[SMTP_PATH_MAX + 2], tc[CANON_MAX];
		const char *t = e->targets[i];
		if (strchr(t, '@') == NULL) {
			int len = snprintf(full, sizeof full, "%s%s", t, dom);
			if (len < 0 || (size_t)len >= sizeof full)
				return expand_fail(x, "alias target too long", t);
			t = full;
		}
		/* "alice: alice, archive": a copy for alice herself. */
		int rc = local_rcpt_canon(t, tc, sizeof tc) == 0 && strcmp(tc, canon) == 0
				 ? expand_final(x, addr)
				 : expand_addr(x, t);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
expand_addr(struct expand *x, const char *addr)
{
	char canon[CANON_MAX];
	bool catchall;
	const struct entry *e = NULL;
	if (local_rcpt_canon(addr, canon, sizeof canon) == 0)
		e = find_entry(x->m, canon, &catchall);
	if (e == NULL || e->ntargets == 0)
		return expand_final(x, addr);
	for (size_t i = 0; i < x->depth; i++)
		if (strcmp(x->chain[i], canon) == 0)
			return expand_fail(x, "alias loop", canon);
	if (x->depth == LOCAL_RCPT_DEPTH_MAX)
		return expand_fail(x, "alias chain deeper than 20", canon);
	memcpy(x->chain[x->depth++], canon, sizeof canon);
	int rc = expand_targets(x, e, addr, canon);
	x->depth--;
	return rc;
}

int
local_rcpt_expand(const struct local_rcpt *m, const char *mailbox, char ***list_r, size_t *n_r,
		  char **err_r)
{
	static const struct local_rcpt empty = { NULL, 0 };
	struct expand *x = calloc(1, sizeof *x);
	*list_r = NULL;
	*n_r = 0;
	*err_r = NULL;
	if (x == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	x->m = m != NULL ? m : &empty;
	/* The bound is small (8 KiB of pointers): allocated once, never grown. */
	x->list = calloc(LOCAL_RCPT_EXPAND_MAX, sizeof *x->list);
	int rc = x->list != NULL ? expand_addr(x, mailbox) : -1;
	if (rc == 0) {
		*list_r = x->list;
		*n_r = x->n;
	} else {
		*err_r = x->err != NULL ? x->err : strdup("out of memory");
		local_rcpt_list_free(&x->list, x->n);
	}
	free(x);
	return rc;
}

void
local_rcpt_list_free(char ***list_r, size_t n)
{
	char **l = *list_r;
	if (l == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
	*list_r = NULL;
}
