/* clientmap.c - tls_client_map (format and reasons in clientmap.h). */
#include "server/clientmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "sasl/sasl.h"
#include "util/span.h"
#include "util/str.h"

/* A DN of RFC 5280's upper bounds (64 per attribute, a dozen of them)
 * and a user name fit comfortably. */
#define CLIENTMAP_LINE_MAX 2048

enum cm_kind { CM_EMAIL, CM_DNS, CM_SUBJECT };

struct cm_entry {
	enum cm_kind kind;
	char *id;	/* after the "email:"/"dns:"/"subject:" prefix */
	char *user;
};

struct clientmap {
	struct cm_entry *v;	/* file order: the first match wins */
	size_t n;
};

static const struct {
	const char *prefix;
	enum cm_kind kind;
} cm_prefixes[] = {
	{ "email:", CM_EMAIL }, { "dns:", CM_DNS }, { "subject:", CM_SUBJECT },
};

static int cm_err(char **err_r, const char *path, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
cm_err(char **err_r, const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = str_vprintf(fmt, ap);
	va_end(ap);
	*err_r = str_printf("%s:%u: %s", path, line, what ? what : "out of memory");
	free(what);
	return -1;
}

/* "KIND:ID USER" into e; NULL when good, else why. */
static const char *
cm_parse(struct span line, struct cm_entry *e)
{
	size_t end = line.n;
	while (end > 0 && line.p[end - 1] != ' ')
		end--;
	struct span id = span_rtrim((struct span){ line.p, end });
	struct span user = { line.p + end, line.n - end };
	if (end == 0 || id.n == 0)
		return "want 'email:ADDRESS USER', 'dns:NAME USER' or 'subject:DN USER'";
	if (user.n > SASL_NAME_MAX)
		return "user name longer than 255 bytes";
	for (size_t i = 0; i < sizeof cm_prefixes / sizeof *cm_prefixes; i++) {
		size_t k = strlen(cm_prefixes[i].prefix);
		if (id.n > k && strncasecmp(id.p, cm_prefixes[i].prefix, k) == 0) {
			e->kind = cm_prefixes[i].kind;
			e->id = strndup(id.p + k, id.n - k);
			e->user = strndup(user.p, user.n);
			return e->id != NULL && e->user != NULL ? NULL : "out of memory";
		}
	}
	return "the identity must start with email:, dns: or subject:";
}

static int
cm_line(struct clientmap *m, const char *path, unsigned no, struct span line, char **err_r)
{
	for (size_t i = 0; i < line.n; i++) {
		unsigned char ch = (unsigned char)line.p[i];
		if (ch < 0x20 || ch == 0x7f)
			return cm_err(err_r, path, no, "control byte 0x%02x", ch);
	}
	while (line.n > 0 && line.p[0] == ' ')
		span_skip(&line, 1);
	line = span_rtrim(line);
	if (line.n == 0 || line.p[0] == '#')
		return 0;
	struct cm_entry e = { 0 };
	const char *why = cm_parse(line, &e);
	struct cm_entry *v = why == NULL ? reallocarray(m->v, m->n + 1, sizeof *v) : NULL;
	if (v == NULL) {
		free(e.id);
		free(e.user);
		return cm_err(err_r, path, no, "%s", why != NULL ? why : "out of memory");
	}
	m->v = v;
	m->v[m->n++] = e;
	return 0;
}

static int
cm_read(struct clientmap *m, const char *path, FILE *f, char **err_r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned no = 0;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		no++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		for (ssize_t i = 0; i < len; i++)	/* tabs align columns */
			if (line[i] == '\t')
				line[i] = ' ';
		if ((size_t)len > CLIENTMAP_LINE_MAX)
			rc = cm_err(err_r, path, no, "line longer than %d bytes", CLIENTMAP_LINE_MAX);
		else
			rc = cm_line(m, path, no, (struct span){ line, (size_t)len }, err_r);
	}
	if (rc == 0 && ferror(f))
		rc = cm_err(err_r, path, no, "read error: %s", strerror(errno));
	free(line);
	return rc;
}

struct clientmap *
clientmap_load(const char *path, char **err_r)
{
	*err_r = NULL;
	struct clientmap *m = calloc(1, sizeof *m);
	FILE *f = m != NULL ? fopen(path, "re") : NULL;
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, m == NULL ? "out of memory" : strerror(errno));
		clientmap_free(&m);
		return NULL;
	}
	int rc = cm_read(m, path, f, err_r);
	(void)fclose(f);
	if (rc < 0)
		clientmap_free(&m);
	return m;
}

void
clientmap_free(struct clientmap **mp)
{
	struct clientmap *m = *mp;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].id);
		free(m->v[i].user);
	}
	free(m->v);
	free(m);
	*mp = NULL;
}

char *
clientmap_subject(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p = NULL;
	if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
		long n = BIO_get_mem_data(b, &p);
		if (n >= 0 && p != NULL)
			out = strndup(p, (size_t)n);
	}
	BIO_free(b);
	return out;
}

/* Does cert carry a subjectAltName of type (GEN_EMAIL or GEN_DNS)
 * equal to want, ignoring ASCII case?  A name with a NUL inside (the
 * 2009 "paypal.com\0.evil" trick) equals nothing. */
static bool
cm_has_san(X509 *cert, int type, const char *want)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool found = false;
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !found; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != type)
			continue;
		const ASN1_IA5STRING *s = type == GEN_EMAIL ? g->d.rfc822Name : g->d.dNSName;
		const char *p = (const char *)ASN1_STRING_get0_data(s);
		size_t n = (size_t)ASN1_STRING_length(s);
		found = n == strlen(want) && memchr(p, '\0', n) == NULL && strncasecmp(p, want, n) == 0;
	}
	GENERAL_NAMES_free(names);
	return found;
}

const char *
clientmap_user(const struct clientmap *m, X509 *cert)
{
	char *subject = NULL;
	const char *user = NULL;
	for (size_t i = 0; m != NULL && cert != NULL && i < m->n && user == NULL; i++) {
		const struct cm_entry *e = &m->v[i];
		bool hit;
		if (e->kind == CM_SUBJECT) {
			if (subject == NULL)
				subject = clientmap_subject(cert);
			hit = subject != NULL && strcmp(subject, e->id) == 0;
		} else {
			hit = cm_has_san(cert, e->kind == CM_EMAIL ? GEN_EMAIL : GEN_DNS, e->id);
		}
		if (hit)
			user = e->user;
	}
	free(subject);
	return user;
}
