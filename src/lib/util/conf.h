/* conf.h - reading "key = value" files with "#" comments.
 *
 * Generic: it knows no keys.  The server's config (src/server/config.c)
 * and `postern passwd` look keys up in the parsed list.  Every entry
 * remembers its file and line so that messages can name them.
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

/* Default server config file. */
#define CONF_DEFAULT_PATH "/etc/postern/postern.conf"

#endif
