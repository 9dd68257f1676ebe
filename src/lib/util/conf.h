/* conf.h - reading "key = value" files with "#" comments.
 *
 * Generic: it knows no keys.  A reader describes its keys in a table
 * (struct conf_key below, applied by conf_keys.c): the server's config
 * (src/server/config.c, also read by `postern queue`) and `postern
 * passwd` (the credentials row, store/store.h).  Every entry remembers
 * its file and line so that messages can name them.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stddef.h>

struct conf_entry {
	const char *key;	/* lower-case as written; keys are case-sensitive */
	const char *value;	/* trimmed; may be "" */
	unsigned line;
};

struct conf {
	char *path;		/* as given */
	char *dir;		/* folder of the file, for relative paths */
	char *text;		/* our copy of the file; keys and values point into it */
	struct conf_entry *v;
	size_t n;
};

/* Reads path. Returns 0, or -1 with *err_r = malloc'd "FILE:LINE: what"
 * (or "FILE: strerror" when it cannot be read). */
int conf_load(struct conf *c, const char *path, char **err_r);
void conf_free(struct conf *c);
/* The last entry for key, or NULL. */
const struct conf_entry *conf_get(const struct conf *c, const char *key);
/* Resolves a path value against the config's folder: returns a malloc'd
 * absolute path, or the value itself copied when it is absolute. */
char *conf_path(const struct conf *c, const char *value);

/* ---- keys as table rows ----
 *
 * A reader describes its keys in a table, one row per key, and
 * conf_apply() checks every entry against it and stores the value at
 * the row's offset in the reader's struct (the "object").  Messages are
 * "FILE:LINE: KEY: ..." as the rows' kinds say below. */

struct conf_ctx;

enum conf_kind {
	CONF_STRING,	/* char *, copied; CONF_NONEMPTY refuses "" ("KEY: empty") */
	CONF_PATH,	/* char *, resolved against the file's folder; "" refused */
	CONF_SIZE,	/* size_t bytes; K, M, G suffixes (1024-based) */
	CONF_COUNT,	/* unsigned, 1..10000000 */
	CONF_SECS,	/* unsigned seconds, 1s..24h; s, m, h suffixes */
	CONF_MSECS,	/* as CONF_SECS, kept in milliseconds */
	CONF_ENUM,	/* one of words[]: its index, into a bool or an int-sized enum */
	CONF_CUSTOM,	/* parse() does it all (lists, repeatable keys) */
	CONF_UNUSED,	/* accepted, ignored; logged at debug with doc as the reason */
};

#define CONF_NONEMPTY	0x1u	/* CONF_STRING: "" is an error */
#define CONF_RESTART	0x2u	/* a SIGHUP reload cannot change it: restart */

struct conf_key {
	const char *name;
	enum conf_kind kind;
	size_t off;		/* offsetof the field in the object */
	size_t size;		/* sizeof the field (CONF_ENUM: bool or enum) */
	const char *def;	/* default, written as in the file; NULL: none or set by code */
	const char *const *words;	/* CONF_ENUM: NULL-terminated */
	int (*parse)(struct conf_ctx *x, void *obj, const char *value);	/* CONF_CUSTOM */
	unsigned flags;
	const char *doc;	/* one line, for readers of the table */
};

/* Row helpers: R is the object's struct type, F the field (a CONF_CUSTOM
 * row whose parser finds its fields itself writes offsetof(R, F), 0). */
#define CONF_FIELD(R, F) offsetof(R, F), sizeof(((R *)0)->F)

/* Reject entries whose key no row names ("FILE:LINE: unknown key 'x'"),
 * or pass over them (a command that needs a few keys of a file whose
 * other keys another reader checks). */
#define CONF_APPLY_KNOWN_ONLY 0x1u

/* Sets every row's default in obj, then applies each entry of c in file
 * order (the last of a key wins; a CONF_CUSTOM row may collect them).
 * Returns 0, or -1 with *err_r malloc'd ("FILE:LINE: KEY: ..."). */
int conf_defaults(const struct conf_key *keys, size_t n, void *obj, char **err_r);
int conf_apply(const struct conf *c, const struct conf_key *keys, size_t n, void *obj,
	       unsigned flags, char **err_r);
/* The row named key, or NULL. */
const struct conf_key *conf_key_find(const struct conf_key *keys, size_t n, const char *key);

/* For CONF_CUSTOM parsers: the entry being applied, and its file. */
const struct conf_entry *conf_ctx_entry(const struct conf_ctx *x);
const struct conf *conf_ctx_conf(const struct conf_ctx *x);
/* Sets the error to "FILE:LINE: " + the message; returns -1. */
int conf_fail(struct conf_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whole decimal number s with an optional unit suffix (one of units,
 * whose factor is mult[i]) at most max: 0, or -1. */
int conf_num(const char *s, const char *units, const unsigned long long *mult,
	     unsigned long long max, unsigned long long *out);

/* Default server config file. */
#define CONF_DEFAULT_PATH "/etc/postern/postern.conf"

#endif
