/* sendermap.c - sender_login_map (format and comparisons in sendermap.h). */
#include "server/sendermap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/addr.h"
#include "util/linefile.h"
#include "util/span.h"
#include "util/str.h"

/* A line holds a login and its addresses; 4096 bytes is sixteen
 * addresses of the longest legal size (RFC 5321 4.5.3.1.3: 256). */
#define SENDERMAP_LINE_MAX 4096

struct grant {
	char *login;
	char *addr;	/* "local@domain", or "@domain" for the whole domain */
};

struct sendermap {
	struct grant *v;	/* sorted by login */
	size_t n;
};

/* An address or "@domain", checked with the SMTP path parser so that
 * the map takes exactly what MAIL FROM can carry.  NULL when good. */
static const char *
entry_why(struct span w)
{
	char path[SMTP_PATH_MAX + 8], mailbox[SMTP_PATH_MAX + 1];
	const char *why = "syntax";
	bool wild = w.n > 0 && w.p[0] == '@';
	if (w.n > SMTP_PATH_MAX)
		return "longer than 256 octets";
	int len = snprintf(path, sizeof path, "<%s%.*s>", wild ? "x" : "", (int)w.n, w.p);
	struct span params;
	if (len < 0 || (size_t)len >= sizeof path)
		return "too long";
	if (smtp_path_parse((struct span){ path, (size_t)len }, false, mailbox, &params, &why) !=
	    SMTP_ADDR_OK)
		return why;
	/* The parser takes a bare <postmaster> (a recipient form). */
	if (smtp_addr_domain(mailbox)[0] == '\0')
		return "missing '@domain'";
	return NULL;
}

static int
add_grant(struct sendermap *m, struct span login, struct span addr)
{
	char *l = strndup(login.p, login.n), *a = strndup(addr.p, addr.n);
	struct grant *v = l != NULL && a != NULL ? reallocarray(m->v, m->n + 1, sizeof *v) : NULL;
	if (v == NULL) {
		free(l);
		free(a);
		return -1;
	}
	m->v = v;
	v[m->n++] = (struct grant){ l, a };
	return 0;
}

/* "login address [address...]"; blank and '#' lines are skipped
 * (linefile_fn; line is our own copy, tabs made spaces). */
static int
map_words(struct linefile *c, struct sendermap *m, struct span line)
{
	for (size_t i = 0; i < line.n; i++) {
		unsigned char ch = (unsigned char)line.p[i];
		if (ch < 0x20 || ch >= 0x7f)
			return linefile_err(c, "control or non-ASCII byte 0x%02x", ch);
	}
	while (line.n > 0 && line.p[0] == ' ')
		span_skip(&line, 1);
	line = span_rtrim(line);
	if (line.n == 0 || line.p[0] == '#')
		return 0;
	struct span login, w;
	if (span_word(&line, &login, SMTP_PATH_MAX) < 0)
		return linefile_err(c, "login longer than %d octets", SMTP_PATH_MAX);
	if (line.n == 0)
		return linefile_err(c, "login '%.*s' has no addresses (want 'login address [address...]')",
			    (int)login.n, login.p);
	while (line.n > 0) {
		if (span_word(&line, &w, SENDERMAP_LINE_MAX) < 0)
			return linefile_err(c, "bad word");
		const char *why = entry_why(w);
		if (why != NULL)
			return linefile_err(c, "'%.*s' is not an address or @domain (%s)", (int)w.n, w.p, why);
		if (add_grant(m, login, w) < 0)
			return linefile_err(c, "out of memory");
	}
	return 0;
}

static int
grant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct grant *)a)->login, ((const struct grant *)b)->login);
}

/* Tabs separate words as spaces do (maps are often aligned with
 * tabs): the words are read from a copy where they are spaces. */
static int
map_line(struct linefile *c, struct span line, void *arg)
{
	char copy[SENDERMAP_LINE_MAX];
	memcpy(copy, line.p, line.n);
	for (size_t i = 0; i < line.n; i++)
		if (copy[i] == '\t')
			copy[i] = ' ';
	return map_words(c, arg, (struct span){ copy, line.n });
}

struct sendermap *
sendermap_load(const char *path, char **err_r)
{
	*err_r = NULL;
	struct sendermap *m = calloc(1, sizeof *m);
	if (m == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return NULL;
	}
	if (linefile_read(path, SENDERMAP_LINE_MAX, map_line, m, err_r) < 0) {
		sendermap_free(&m);
		return NULL;
	}
	if (m->n > 0)
		qsort(m->v, m->n, sizeof *m->v, grant_cmp);
	return m;
}

void
sendermap_free(struct sendermap **mp)
{
	struct sendermap *m = *mp;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].login);
		free(m->v[i].addr);
	}
	free(m->v);
	free(m);
	*mp = NULL;
}

static bool
grant_matches(const char *grant, const char *address)
{
	if (grant[0] == '@')
		return strcasecmp(grant + 1, smtp_addr_domain(address)) == 0;
	return strcasecmp(grant, address) == 0;
}

/* The default: the login as an address, or login@each local domain. */
static bool
default_grants(const char *login, const char *address, const char *local_domains)
{
	if (strchr(login, '@') != NULL)
		return strcasecmp(login, address) == 0;
	const char *domain = smtp_addr_domain(address);
	size_t local_len = (size_t)(domain - address) - 1;
	return strlen(login) == local_len && strncasecmp(login, address, local_len) == 0 &&
	       smtp_domain_in_list(domain, local_domains);
}

bool
sendermap_grants(const struct sendermap *m, const char *login, const char *address,
		 const char *local_domains)
{
	if (address[0] == '\0' || smtp_addr_domain(address)[0] == '\0')
		return false;
	/* The first grant of login: a lower bound in the sorted array. */
	size_t lo = 0, hi = m != NULL ? m->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(m->v[mid].login, login) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (m == NULL || lo == m->n || strcmp(m->v[lo].login, login) != 0)
		return default_grants(login, address, local_domains);
	for (size_t i = lo; i < m->n && strcmp(m->v[i].login, login) == 0; i++)
		if (grant_matches(m->v[i].addr, address))
			return true;
	return false;
}
