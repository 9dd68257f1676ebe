/* aliases.c - msmtp's aliases file: local recipients to addresses. */
#include "client/aliases.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/message.h"
#include "smtp/header.h"
#include "util/str.h"

/* msmtp's limits: lines of 512 bytes, 16 levels of expansion. */
#define ALIAS_LINE_MAX 512
#define ALIAS_DEPTH_MAX 16

struct alias {
	char *name;
	char **addrs;
	size_t naddrs;
};

struct table {
	struct alias *a;
	size_t n;
};

static bool
is_local(const char *s)
{
	return *s != '\0' && strchr(s, '@') == NULL;
}

/* s[0..len) without blanks around it, as a view. */
static const char *
trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
		(*len)--;
	return s;
}

static const struct alias *
find(const struct table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->a[i].name, name) == 0)
			return &t->a[i];
	return NULL;
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->a[i].name);
		smtp_list_free(&t->a[i].addrs, t->a[i].naddrs);
	}
	free(t->a);
	t->a = NULL;
	t->n = 0;
}

/* One line "name: addr, addr"; comments already cut.  0, or -1 with why. */
static int
parse_entry(struct table *t, const char *line, const char **why_r)
{
	size_t len = strlen(line);
	const char *p = trim(line, &len);
	if (len == 0)
		return 0;
	const char *colon = memchr(p, ':', len);
	if (colon == NULL || memchr(colon + 1, ':', len - (size_t)(colon + 1 - p)) != NULL) {
		*why_r = "single ':' delimiter expected";
		return -1;
	}
	size_t nl = (size_t)(colon - p);
	const char *name = trim(p, &nl);
	char *n = strndup(name, nl);
	if (n == NULL || !is_local(n) || find(t, n) != NULL) {
		*why_r = n == NULL ? "out of memory" : !is_local(n) ? "invalid alias (empty, or has '@')"
								  : "duplicate alias";
		free(n);
		return -1;
	}
	struct alias *na = realloc(t->a, (t->n + 1) * sizeof *na);
	if (na == NULL) {
		free(n);
		*why_r = "out of memory";
		return -1;
	}
	t->a = na;
	struct alias *e = &na[t->n++];
	*e = (struct alias){ .name = n };
	const char *rest = colon + 1, *end = p + len;
	while (rest < end) {
		const char *comma = memchr(rest, ',', (size_t)(end - rest));
		size_t al = (size_t)((comma ? comma : end) - rest);
		const char *addr = trim(rest, &al);
		if (al > 0 && smtp_list_add(&e->addrs, &e->naddrs, addr, al) != 0) {
			*why_r = "out of memory";
			return -1;
		}
		rest = comma ? comma + 1 : end;
	}
	return 0;
}

static int
read_table(const char *path, struct table *t, char **err_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	char line[ALIAS_LINE_MAX + 2];
	unsigned lnum = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		lnum++;
		const char *why = NULL;
		size_t l = strcspn(line, "\n");
		if (line[l] != '\n' && !feof(f))
			why = "line too long";
		line[l] = '\0';
		line[strcspn(line, "#")] = '\0';
		if (why != NULL || parse_entry(t, line, &why) != 0) {
			*err_r = str_printf("%s:%u: %s", path, lnum, why);
			rc = -1;
		}
	}
	if (rc == 0 && ferror(f)) {
		*err_r = str_printf("%s: read error", path);
		rc = -1;
	}
	(void)fclose(f);	/* read only */
	return rc;
}

/* Adds what name expands to onto *out. */
static int
expand(const struct table *t, const char *name, int depth, char ***out, size_t *nout,
       char **err_r)
{
	if (depth > ALIAS_DEPTH_MAX) {
		*err_r = str_printf("aliases nested deeper than %d (a loop?) at '%s'", ALIAS_DEPTH_MAX, name);
		return -1;
	}
	const struct alias *e = find(t, name);
	if (e == NULL)
		e = find(t, "default");
	if (e == NULL)
		return smtp_list_add(out, nout, name, strlen(name));
	for (size_t i = 0; i < e->naddrs; i++) {
		const char *a = e->addrs[i];
		int rc = is_local(a) ? expand(t, a, depth + 1, out, nout, err_r)
				     : smtp_list_add(out, nout, a, strlen(a));
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
client_aliases_expand(const char *path, char ***rcpts, size_t *n, char **err_r)
{
	*err_r = NULL;
	bool any = false;
	for (size_t i = 0; i < *n; i++)
		any = any || is_local((*rcpts)[i]);
	if (!any)
		return 0;
	struct table t = { 0 };
	char **out = NULL;
	size_t nout = 0;
	int rc = read_table(path, &t, err_r);
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		const char *r = (*rcpts)[i];
		rc = is_local(r) ? expand(&t, r, 0, &out, &nout, err_r)
				 : smtp_list_add(&out, &nout, r, strlen(r));
		if (rc != 0 && *err_r == NULL)
			*err_r = str_printf("out of memory");
	}
	table_free(&t);
	if (rc != 0) {
		smtp_list_free(&out, nout);
		return -1;
	}
	smtp_list_free(rcpts, *n);
	*rcpts = out;
	*n = nout;
	return 0;
}
