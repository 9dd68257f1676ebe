/* conf.c - reading "key = value" files with "#" comments. */
#include "util/conf.h"
#include "util/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* A config line longer than this is a mistake, not a value: certificate
 * paths and domain lists fit easily. */
#define CONF_LINE_MAX 4096
/* A config file is a few dozen lines; the cap only stops a wrong path
 * (a log file, a device) from being read whole. */
#define CONF_FILE_MAX ((size_t)1024 * 1024)

/* Trims spaces and tabs around p[0..n), ends the result with a NUL in
 * place (the text is our own copy of the file) and returns its start. */
static char *
trim_in_place(char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	p[n] = '\0';
	return p;
}

/* line[0..n) holds no NUL and line[n] is ours to overwrite (the LF, CR,
 * "#" or the buffer's own NUL). */
static int
conf_add(struct conf *c, char *line, size_t n, unsigned lineno, char **err_r)
{
	char *eq = memchr(line, '=', n);
	if (eq == NULL) {
		*err_r = str_printf("%s:%u: expected 'key = value'", c->path, lineno);
		return -1;
	}
	const char *value = trim_in_place(eq + 1, n - (size_t)(eq - line) - 1);
	const char *key = trim_in_place(line, (size_t)(eq - line));
	if (*key == '\0' || strcspn(key, " \t") != strlen(key)) {
		*err_r = str_printf("%s:%u: bad key '%s'", c->path, lineno, key);
		return -1;
	}
	struct conf_entry *v = realloc(c->v, (c->n + 1) * sizeof *v);
	if (v == NULL) {
		*err_r = str_printf("%s:%u: out of memory", c->path, lineno);
		return -1;
	}
	c->v = v;
	c->v[c->n++] = (struct conf_entry){ key, value, lineno };
	return 0;
}

/* Strips a comment: "#" at the start of a line or after a space. */
static size_t
conf_strip_comment(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t'))
			return i;
	return n;
}

/* The whole file into text (at most CONF_FILE_MAX bytes), so that lines
 * are cut by explicit lengths and a NUL inside one shows. */
static int
conf_read(const struct conf *c, FILE *f, struct buf *text, char **err_r)
{
	uint8_t chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		int rc = buf_add(text, chunk, n);
		if (rc == BUF_TOOBIG) {
			*err_r = str_printf("%s: larger than %zu bytes: not a config file?", c->path,
					   CONF_FILE_MAX);
			return -1;
		}
		if (rc != BUF_OK) {
			*err_r = str_printf("%s: out of memory", c->path);
			return -1;
		}
	}
	if (ferror(f)) {
		*err_r = str_printf("%s: %s", c->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* One line without its LF. */
static int
conf_line(struct conf *c, char *line, size_t n, unsigned lineno, char **err_r)
{
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n > CONF_LINE_MAX) {
		*err_r = str_printf("%s:%u: line longer than %d bytes", c->path, lineno, CONF_LINE_MAX);
		return -1;
	}
	if (memchr(line, '\0', n) != NULL) {
		*err_r = str_printf("%s:%u: NUL byte in line", c->path, lineno);
		return -1;
	}
	n = conf_strip_comment(line, n);
	size_t i = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == n)
		return 0;
	return conf_add(c, line, n, lineno, err_r);
}

static int
conf_parse(struct conf *c, FILE *f, char **err_r)
{
	struct buf text;
	buf_init(&text, CONF_FILE_MAX);
	int rc = conf_read(c, f, &text, err_r);
	/* The entries point into the text: c owns it from here on. */
	c->text = (char *)text.p;
	char *p = c->text;
	size_t left = text.len;
	unsigned lineno = 0;
	while (rc == 0 && left > 0) {
		char *nl = memchr(p, '\n', left);
		size_t n = nl != NULL ? (size_t)(nl - p) : left;
		rc = conf_line(c, p, n, ++lineno, err_r);
		size_t used = nl != NULL ? n + 1 : n;
		p += used;
		left -= used;
	}
	return rc;
}

int
conf_load(struct conf *c, const char *path, char **err_r)
{
	memset(c, 0, sizeof *c);
	*err_r = NULL;
	c->path = strdup(path);
	const char *slash = strrchr(path, '/');
	c->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (c->path == NULL || c->dir == NULL) {
		conf_free(c);
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, strerror(errno));
		conf_free(c);
		return -1;
	}
	int rc = conf_parse(c, f, err_r);
	(void)fclose(f);	/* read only: nothing to lose */
	if (rc < 0)
		conf_free(c);
	return rc;
}

void
conf_free(struct conf *c)
{
	free(c->v);
	free(c->text);
	free(c->path);
	free(c->dir);
	memset(c, 0, sizeof *c);
}

const struct conf_entry *
conf_get(const struct conf *c, const char *key)
{
	for (size_t i = c->n; i > 0; i--)
		if (strcmp(c->v[i - 1].key, key) == 0)
			return &c->v[i - 1];
	return NULL;
}

char *
conf_path(const struct conf *c, const char *value)
{
	if (value[0] == '/')
		return strdup(value);
	size_t n = strlen(c->dir) + 1 + strlen(value) + 1;
	char *p = malloc(n);
	if (p != NULL && snprintf(p, n, "%s/%s", c->dir, value) != (int)(n - 1)) {
		free(p);
		p = NULL;
	}
	return p;
}
