/* config.c - the client's msmtprc-compatible configuration file. */
#include "client/config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client/config_keys.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* ---- the file ---- */

/* RFC 4954's 12288-octet tokens plus the key, spaces and quotes. */
#define CONF_LINE_MAX (CLIENT_CONF_TOKEN_MAX + 256)

struct parser {
	struct client_config *c;
	const char *path;
	unsigned line;
	struct client_account *cur;	/* defaults or the last account */
	bool has_password;
};

/* Splits a line into command and argument (msmtp syntax: the argument
 * is the rest of the line, or a "double quoted" string with \" and \\).
 * Writes into line (our own copy, not network input).  Returns 0,
 * 1 for a blank/comment line, -1 for bad quoting. */
static int
split_line(char *line, char **cmd_r, char **arg_r)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 1;
	*cmd_r = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	char *end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*p != '"') {
		*arg_r = p;
		return 0;
	}
	char *o = p, *i = p + 1;
	for (; *i && *i != '"'; i++) {
		if (*i == '\\' && (i[1] == '"' || i[1] == '\\'))
			i++;
		*o++ = *i;
	}
	if (*i != '"' || i[1] != '\0')
		return -1;
	*o = '\0';
	*arg_r = p;
	return 0;
}

static struct client_account *
find_account(struct client_config *c, const char *name)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

/* "account NAME [: P1[,P2]]" and "account default : NAME". */
static int
start_account(struct parser *ps, char *arg, char **why_r)
{
	struct client_config *c = ps->c;
	char *colon = strchr(arg, ':');
	char *parents = NULL;
	if (colon) {
		parents = colon + 1;
		*colon = '\0';
	}
	char *end = arg + strlen(arg);
	while (end > arg && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*arg == '\0') {
		*why_r = str_printf("account needs a name");
		return -1;
	}
	if (find_account(c, arg) != NULL) {
		*why_r = str_printf("account %s is defined twice", arg);
		return -1;
	}
	struct client_account *n = realloc(c->accounts, (c->naccounts + 1) * sizeof *n);
	if (n == NULL) {
		*why_r = str_printf("out of memory");
		return -1;
	}
	c->accounts = n;
	struct client_account *a = &n[c->naccounts];
	client_account_init(a);
	client_account_inherit(a, &c->defaults);
	a->name = str_dup(arg);
	a->file = str_dup(ps->path);
	a->line = ps->line;
	c->naccounts++;
	ps->cur = a;
	if (parents == NULL)
		return 0;
	for (char *save = NULL, *p = strtok_r(parents, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ' || *p == '\t')
			p++;
		char *e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		const struct client_account *par = find_account(c, p);
		if (par == NULL || par == a) {
			*why_r = str_printf("account %s not (yet) defined", p);
			return -1;
		}
		client_account_inherit(a, par);
	}
	/* "account default : NAME" defines an alias: NAME is the default. */
	if (strcmp(a->name, "default") == 0 && c->default_name == NULL)
		c->default_name = str_dup("default");
	return 0;
}

/* Keeps "FILE:LINE: note" for `send -v`. */
static void
add_note(struct parser *ps, char *note)
{
	char *n = str_printf("%s:%u: %s", ps->path, ps->line, note);
	free(note);
	char **l = n ? realloc(ps->c->notes, (ps->c->nnotes + 1) * sizeof *l) : NULL;
	if (l == NULL) {
		free(n);	/* a note is a courtesy: losing it is fine */
		return;
	}
	ps->c->notes = l;
	l[ps->c->nnotes++] = n;
}

static int parse_line(struct parser *ps, char *line, bool in_eval, char **why_r);

/* msmtp's "eval CMD": the line is replaced by the first line CMD
 * prints (evaluated when the file is read, as in msmtp). */
static int
eval_line(struct parser *ps, const char *cmd, char **why_r)
{
	struct buf out;
	buf_init(&out, CONF_LINE_MAX);
	char *why = NULL;
	int rc = client_eval_first_line(cmd, &out, &why);
	if (rc != 0) {
		*why_r = str_printf("eval: %s", why ? why : "out of memory");
		free(why);
	} else {
		char *line = strdup(buf_cstr(&out));	/* parse_line writes into it */
		rc = line ? parse_line(ps, line, true, why_r) : -1;
		if (line) {
			OPENSSL_cleanse(line, strlen(line));	/* it may have been a password line */
			free(line);
		}
	}
	buf_wipe_free(&out);
	return rc;
}

static int
parse_line(struct parser *ps, char *line, bool in_eval, char **why_r)
{
	char *cmd, *arg;
	int rc = split_line(line, &cmd, &arg);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		*why_r = str_printf("unterminated or misplaced quote");
		return -1;
	}
	if (strcmp(cmd, "eval") == 0) {
		if (in_eval) {
			*why_r = str_printf("eval printed another eval line");
			return -1;
		}
		return eval_line(ps, arg, why_r);
	}
	if (strcmp(cmd, "defaults") == 0) {
		ps->cur = &ps->c->defaults;
		return 0;
	}
	if (strcmp(cmd, "account") == 0)
		return start_account(ps, arg, why_r);
	if (strcmp(cmd, "password") == 0 || strcmp(cmd, "oauth_client_secret") == 0)
		ps->has_password = true;
	char *note = NULL;
	rc = client_key_set(ps->cur, cmd, arg, why_r, &note);
	if (rc == 1)
		add_note(ps, note);
	return rc < 0 ? -1 : 0;
}

int
client_config_load(struct client_config *c, const char *path, char **err_r)
{
	memset(c, 0, sizeof *c);
	client_account_init(&c->defaults);
	c->path = str_dup(path);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, strerror(errno));
		client_config_free(c);
		return -1;
	}
	struct parser ps = { .c = c, .path = path, .cur = &c->defaults };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		ps.line++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		char *why = NULL;
		if ((size_t)n > CONF_LINE_MAX)
			why = str_printf("line longer than %d bytes", CONF_LINE_MAX);
		else if (memchr(line, '\0', (size_t)n) != NULL)
			why = str_printf("NUL byte in line");
		if (why == NULL && parse_line(&ps, line, false, &why) == 0)
			continue;
		*err_r = str_printf("%s:%u: %s", path, ps.line, why ? why : "out of memory");
		free(why);
		rc = -1;
		break;
	}
	if (line) {
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	/* A password in a file that others can read is one they can use.
	 * msmtp refuses such a file of the user's own, and so do we: a
	 * warning on every message goes unread by scripts and breaks Emacs,
	 * which takes any output on stderr for a failure.  A file owned by
	 * someone else (a system-wide config kept group-readable for a mail
	 * group) is the administrator's choice. */
	struct stat st;
	if (rc == 0 && ps.has_password && fstat(fileno(f), &st) == 0 && st.st_uid == geteuid() &&
	    (st.st_mode & 077) != 0) {
		*err_r = str_printf("%s: contains a password and therefore must have no more than "
				    "user read/write permissions (chmod 600 %s)", path, path);
		rc = -1;
	}
	(void)fclose(f);	/* read only: nothing to lose */
	if (rc != 0)
		client_config_free(c);
	return rc;
}

void
client_config_free(struct client_config *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		client_account_clear(&c->accounts[i]);
	free(c->accounts);
	client_account_clear(&c->defaults);
	for (size_t i = 0; i < c->nnotes; i++)
		free(c->notes[i]);
	free(c->notes);
	free(c->default_name);
	free(c->path);
	memset(c, 0, sizeof *c);
}

bool
client_from_is_pattern(const char *from)
{
	return from != NULL && strpbrk(from, "?*[") != NULL;
}

/* msmtp's rule: a wildcard pattern (glob(7)) or the same address
 * (case-insensitive); "user+detail@domain" also matches "user@domain". */
static bool
from_matches(const char *acc_from, const char *from)
{
	if (client_from_is_pattern(acc_from))
		return fnmatch(acc_from, from, 0) == 0;
	if (strcasecmp(acc_from, from) == 0)
		return true;
	const char *plus = strchr(from, '+'), *at = strchr(from, '@');
	if (plus == NULL || at == NULL || plus > at || strchr(acc_from, '+') != NULL)
		return false;
	size_t user = (size_t)(plus - from);
	return strncasecmp(acc_from, from, user) == 0 && acc_from[user] == '@' &&
	       strcasecmp(acc_from + user, at) == 0;
}

const char *
client_config_find_by_from(const struct client_config *c, const char *from)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].from && from_matches(c->accounts[i].from, from))
			return c->accounts[i].name;
	return NULL;
}

static struct client_account *
pick_account(struct client_config *c, const char *name, char **err_r)
{
	struct client_account *a;
	if (name != NULL) {
		a = find_account(c, name);
		if (a == NULL)
			*err_r = str_printf("%s: account %s not found", c->path, name);
		return a;
	}
	a = find_account(c, "default");
	if (a != NULL)
		return a;
	/* XXX: msmtp insists on an account named "default"; a file with
	 * one account is unambiguous, so we take it. */
	if (c->naccounts == 1)
		return &c->accounts[0];
	if (c->naccounts == 0 && (c->defaults.set & CLIENT_FIELD_BIT(F_HOST))) {
		/* Only "defaults" (or no section at all): use them. */
		return &c->defaults;
	}
	*err_r = str_printf("%s: no account given (-a) and no default account "
		     "(add 'account default : NAME')", c->path);
	return NULL;
}

/* Replaces *field by its pattern expansion (only when it has a '%'). */
static int
expand_field(const struct client_account *a, const char *what, char **field, bool user,
	     char **err_r)
{
	if (*field == NULL || strchr(*field, '%') == NULL)
		return 0;
	char *why = NULL;
	char *n = client_expand_patterns(*field, user, &why);
	if (n == NULL) {
		*err_r = str_printf("%s:%u: %s: %s", a->file ? a->file : "config", a->line, what,
				    why ? why : "out of memory");
		free(why);
		return -1;
	}
	free(*field);
	*field = n;
	return 0;
}

const struct client_account *
client_config_account(const struct client_config *c, const char *name, char **err_r)
{
	/* c is ours to finish: expanding patterns of the account in use
	 * (only that one, as msmtp: a %M elsewhere must not fail here). */
	struct client_account *a = pick_account((struct client_config *)c, name, err_r);
	if (a == NULL || expand_field(a, "from", &a->from, true, err_r) != 0 ||
	    expand_field(a, "domain", &a->domain, false, err_r) != 0)
		return NULL;
	return a;
}

enum client_auth_mode
client_account_auth(const struct client_account *a)
{
	if (a->set & CLIENT_FIELD_BIT(F_AUTH))
		return a->auth;
	return a->user ? CLIENT_AUTH_ON : CLIENT_AUTH_OFF;
}

unsigned
client_account_port(const struct client_account *a)
{
	if (a->port)
		return a->port;
	/* msmtp's defaults: 465 for TLS without STARTTLS, else 25. */
	return (a->tls && !a->tls_starttls) ? 465 : 25;
}

static bool
file_exists(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0;
}

char *
client_config_default_path(char **tried_r)
{
	const char *home = getenv("HOME");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *a = NULL, *b = NULL;
	if (xdg && *xdg)
		a = str_printf("%s/postern/config", xdg);
	else if (home)
		a = str_printf("%s/.config/postern/config", home);
	if (home)
		b = str_printf("%s/.msmtprc", home);
	if (file_exists(a)) {
		free(b);
		return a;
	}
	if (file_exists(b)) {
		free(a);
		return b;
	}
	*tried_r = str_printf("%s or %s", a ? a : "$XDG_CONFIG_HOME/postern/config",
		       b ? b : "~/.msmtprc");
	free(a);
	free(b);
	return NULL;
}
