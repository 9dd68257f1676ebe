/* conf_keys.c - applying a table of keys (util/conf.h) to a parsed
 * "key = value" file: one loop, one checker per kind of value, so that
 * a reader's new key is one table row. */
#include "util/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

struct conf_ctx {
	const struct conf *conf;
	const struct conf_entry *e;
	char *err;
};

const struct conf_entry *
conf_ctx_entry(const struct conf_ctx *x)
{
	return x->e;
}

const struct conf *
conf_ctx_conf(const struct conf_ctx *x)
{
	return x->conf;
}

int
conf_fail(struct conf_ctx *x, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	buf_init(&b, 1024);
	buf_printf(&b, "%s:%u: ", x->conf->path, x->e->line);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(x->err);
	x->err = b.p ? (char *)b.p : strdup("out of memory");
	return -1;
}

int
conf_num(const char *s, const char *units, const unsigned long long *mult,
	 unsigned long long max, unsigned long long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	unsigned long long m = 1;
	if (*end != '\0') {
		const char *u = strchr(units, *end);
		if (u == NULL || end[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (v > max / m)
		return -1;
	*out = v * m;
	return 0;
}

/* The field of a row in obj. */
static void *
field(const struct conf_key *k, void *obj)
{
	return (char *)obj + k->off;
}

/* Replaces the char * field with s (taken; NULL means out of memory).
 * XXX: gcc 12's analyzer does not follow a pointer stored at an offset
 * it cannot compute (the table's) and reports s as leaked; the reader
 * frees it (config_free(), the caller of conf_apply()).  Only this
 * function has the warning off, as in client/config_keys.c. */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
set_owned(struct conf_ctx *x, const struct conf_key *k, void *obj, char *s)
{
	if (s == NULL)
		return conf_fail(x, "out of memory");
	/* Not through field(): the analyzer warns where the pointer is made. */
	char **dst = (char **)((char *)obj + k->off);
	free(*dst);
	*dst = s;
	return 0;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int
apply_string(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	if (v[0] == '\0' && (k->flags & CONF_NONEMPTY))
		return conf_fail(x, "%s: empty", k->name);
	return set_owned(x, k, obj, strdup(v));
}

static int
apply_path(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	if (v[0] == '\0')
		return conf_fail(x, "%s: empty path", k->name);
	return set_owned(x, k, obj, conf_path(x->conf, v));
}

static int
apply_size(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	static const unsigned long long mult[] = { 1024, 1024, 1048576, 1073741824 };
	unsigned long long n;
	if (conf_num(v, "kKMG", mult, SIZE_MAX / 2, &n) < 0 || n == 0)
		return conf_fail(x, "%s: '%s' is not a size in bytes (K, M, G suffixes allowed)",
				 k->name, v);
	size_t s = (size_t)n;
	memcpy(field(k, obj), &s, sizeof s);
	return 0;
}

static int
apply_count(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	static const unsigned long long mult[] = { 1 };
	unsigned long long n;
	if (conf_num(v, "", mult, 10000000, &n) < 0 || n == 0)
		return conf_fail(x, "%s: '%s' is not a positive whole number", k->name, v);
	unsigned u = (unsigned)n;
	memcpy(field(k, obj), &u, sizeof u);
	return 0;
}

/* CONF_SECS and CONF_MSECS: a day at most, so milliseconds fit too. */
static int
apply_secs(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	static const unsigned long long mult[] = { 1, 60, 3600 };
	unsigned long long n;
	if (conf_num(v, "smh", mult, 86400, &n) < 0 || n == 0)
		return conf_fail(x, "%s: '%s' is not a duration (seconds, or with s, m, h)",
				 k->name, v);
	unsigned u = (unsigned)n * (k->kind == CONF_MSECS ? 1000 : 1);
	memcpy(field(k, obj), &u, sizeof u);
	return 0;
}

/* "KEY: 'v' is not a, b or c" lists the words of the row. */
static int
enum_fail(struct conf_ctx *x, const struct conf_key *k, const char *v)
{
	struct buf b;
	buf_init(&b, 1024);
	for (size_t i = 0; k->words[i] != NULL; i++)
		buf_printf(&b, "%s%s", i == 0 ? "" : k->words[i + 1] == NULL ? " or " : ", ",
			   k->words[i]);
	int rc = conf_fail(x, "%s: '%s' is not %s", k->name, v, b.p ? (char *)b.p : "?");
	buf_free(&b);
	return rc;
}

static int
apply_enum(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	for (size_t i = 0; k->words[i] != NULL; i++) {
		if (strcmp(v, k->words[i]) != 0)
			continue;
		if (k->size == sizeof(bool)) {
			bool b = i != 0;
			memcpy(field(k, obj), &b, sizeof b);
		} else {
			int n = (int)i;	/* an enum field: int-sized (checked by its table) */
			memcpy(field(k, obj), &n, sizeof n);
		}
		return 0;
	}
	return enum_fail(x, k, v);
}

static int
apply_row(struct conf_ctx *x, const struct conf_key *k, void *obj, const char *v)
{
	switch (k->kind) {
	case CONF_STRING:
		return apply_string(x, k, obj, v);
	case CONF_PATH:
		return apply_path(x, k, obj, v);
	case CONF_SIZE:
		return apply_size(x, k, obj, v);
	case CONF_COUNT:
		return apply_count(x, k, obj, v);
	case CONF_SECS:
	case CONF_MSECS:
		return apply_secs(x, k, obj, v);
	case CONF_ENUM:
		return apply_enum(x, k, obj, v);
	case CONF_CUSTOM:
		return k->parse(x, obj, v);
	case CONF_UNUSED:
		log_debug("%s:%u: %s is not used by this version (%s)", x->conf->path,
			  x->e->line, k->name, k->doc);
		return 0;
	}
	return conf_fail(x, "%s: bad table row", k->name);	/* a bug */
}

const struct conf_key *
conf_key_find(const struct conf_key *keys, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, key) == 0)
			return &keys[i];
	return NULL;
}

int
conf_defaults(const struct conf_key *keys, size_t n, void *obj, char **err_r)
{
	/* A default that does not parse is a bug in the table: the message
	 * names it as "(default):0: KEY: ...". */
	struct conf fake = { .path = (char *)"(default)", .dir = (char *)"/" };
	struct conf_ctx x = { .conf = &fake };
	*err_r = NULL;
	for (size_t i = 0; i < n; i++) {
		if (keys[i].def == NULL)
			continue;
		struct conf_entry e = { keys[i].name, keys[i].def, 0 };
		x.e = &e;
		if (apply_row(&x, &keys[i], obj, keys[i].def) < 0) {
			*err_r = x.err;
			return -1;
		}
	}
	return 0;
}

int
conf_apply(const struct conf *c, const struct conf_key *keys, size_t n, void *obj,
	   unsigned flags, char **err_r)
{
	struct conf_ctx x = { .conf = c };
	*err_r = NULL;
	for (size_t i = 0; i < c->n; i++) {
		x.e = &c->v[i];
		const struct conf_key *k = conf_key_find(keys, n, x.e->key);
		int rc;
		if (k != NULL)
			rc = apply_row(&x, k, obj, x.e->value);
		else if (flags & CONF_APPLY_KNOWN_ONLY)
			rc = 0;
		else
			rc = conf_fail(&x, "unknown key '%s'", x.e->key);
		if (rc < 0) {
			*err_r = x.err ? x.err : strdup("out of memory");
			return -1;
		}
	}
	return 0;
}
