/* config.c - the client's msmtprc-compatible configuration file. */
#include "client/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "util/log.h"

/* Bits of client_account.set: which keys an account (or defaults) gave,
 * so that inheritance copies only those. */
enum {
	K_HOST = 1u << 0, K_PORT = 1u << 1, K_TLS = 1u << 2, K_STARTTLS = 1u << 3,
	K_TRUST = 1u << 4, K_CERTCHECK = 1u << 5, K_FPR = 1u << 6, K_AUTH = 1u << 7,
	K_USER = 1u << 8, K_PASSWORD = 1u << 9, K_PWEVAL = 1u << 10, K_FROM = 1u << 11,
	K_DOMAIN = 1u << 12, K_QUEUE = 1u << 13,
};

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
account_clear(struct client_account *a)
{
	free(a->name);
	free(a->file);
	free(a->host);
	free(a->tls_trust_file);
	free(a->auth_mech);
	free(a->user);
	if (a->password) {
		OPENSSL_cleanse(a->password, strlen(a->password));
		free(a->password);
	}
	free(a->passwordeval);
	free(a->from);
	free(a->domain);
	memset(a, 0, sizeof *a);
}

static void
account_init(struct client_account *a)
{
	memset(a, 0, sizeof *a);
	a->tls_starttls = true;
	a->tls_certcheck = true;
}

static void
replace(char **dst, const char *src)
{
	char *n = xstrdup(src);
	if (*dst != NULL)
		OPENSSL_cleanse(*dst, strlen(*dst));
	free(*dst);
	*dst = n;
}

/* Copies every key that src set into dst (inheritance). */
static void
account_inherit(struct client_account *dst, const struct client_account *src)
{
	unsigned s = src->set;
	if (s & K_HOST) replace(&dst->host, src->host);
	if (s & K_PORT) dst->port = src->port;
	if (s & K_TLS) dst->tls = src->tls;
	if (s & K_STARTTLS) dst->tls_starttls = src->tls_starttls;
	if (s & K_TRUST) replace(&dst->tls_trust_file, src->tls_trust_file);
	if (s & K_CERTCHECK) dst->tls_certcheck = src->tls_certcheck;
	if (s & K_FPR) {
		dst->has_fingerprint = src->has_fingerprint;
		memcpy(dst->fingerprint, src->fingerprint, sizeof dst->fingerprint);
	}
	if (s & K_AUTH) {
		dst->auth = src->auth;
		replace(&dst->auth_mech, src->auth_mech);
	}
	if (s & K_USER) replace(&dst->user, src->user);
	if (s & K_PASSWORD) replace(&dst->password, src->password);
	if (s & K_PWEVAL) replace(&dst->passwordeval, src->passwordeval);
	if (s & K_FROM) replace(&dst->from, src->from);
	if (s & K_DOMAIN) replace(&dst->domain, src->domain);
	if (s & K_QUEUE) dst->queue = src->queue;
	dst->set |= s;
}

/* msmtp: "on" or an empty argument is on, "off" is off. */
static int
parse_bool(const char *v, bool *out)
{
	if (*v == '\0' || strcmp(v, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "off") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

int
client_parse_fingerprint(const char *s, uint8_t out[32])
{
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == ':')
			continue;
		int v;
		if (*p >= '0' && *p <= '9') v = *p - '0';
		else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
		else return -1;
		if (n >= 64)
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 64 ? 0 : -1;
}

/* Sets key=v in a.  Returns 0, 1 for a key that is ignored with a
 * warning, or -1 with *why_r (malloc'd) set. */
static int
account_set(struct client_account *a, const char *key, const char *v, char **why_r)
{
	bool b;
	if (strcmp(key, "host") == 0) {
		replace(&a->host, v);
		a->set |= K_HOST;
	} else if (strcmp(key, "port") == 0) {
		char *end;
		errno = 0;
		unsigned long p = strtoul(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || p == 0 || p > 65535) {
			*why_r = str_printf("invalid port '%s'", v);
			return -1;
		}
		a->port = (unsigned)p;
		a->set |= K_PORT;
	} else if (strcmp(key, "tls") == 0 || strcmp(key, "tls_starttls") == 0 ||
		   strcmp(key, "tls_certcheck") == 0) {
		if (parse_bool(v, &b) != 0) {
			*why_r = str_printf("invalid argument '%s' for %s (on or off)", v, key);
			return -1;
		}
		if (key[3] == '\0') {
			a->tls = b;
			a->set |= K_TLS;
		} else if (key[4] == 's') {
			a->tls_starttls = b;
			a->set |= K_STARTTLS;
		} else {
			a->tls_certcheck = b;
			a->set |= K_CERTCHECK;
		}
	} else if (strcmp(key, "tls_trust_file") == 0) {
		/* msmtp: "system" (or empty) means the system store. */
		replace(&a->tls_trust_file, (*v == '\0' || strcmp(v, "system") == 0) ? NULL : v);
		a->set |= K_TRUST;
	} else if (strcmp(key, "tls_fingerprint") == 0) {
		a->has_fingerprint = *v != '\0';
		if (a->has_fingerprint && client_parse_fingerprint(v, a->fingerprint) != 0) {
			*why_r = str_printf("invalid tls_fingerprint '%s' (want the SHA-256 of the "
				     "certificate: 64 hex digits, colons allowed)", v);
			return -1;
		}
		a->set |= K_FPR;
	} else if (strcmp(key, "auth") == 0) {
		free(a->auth_mech);
		a->auth_mech = NULL;
		if (*v == '\0' || strcmp(v, "on") == 0) {
			a->auth = CLIENT_AUTH_ON;
		} else if (strcmp(v, "off") == 0) {
			a->auth = CLIENT_AUTH_OFF;
		} else {
			const struct sasl_mech *m = sasl_mech_find(v, strlen(v));
			if (m == NULL) {
				*why_r = str_printf("unsupported authentication mechanism '%s'", v);
				return -1;
			}
			a->auth = CLIENT_AUTH_MECH;
			a->auth_mech = xstrdup(sasl_mech_name(m));
		}
		a->set |= K_AUTH;
	} else if (strcmp(key, "user") == 0) {
		replace(&a->user, *v ? v : NULL);
		a->set |= K_USER;
	} else if (strcmp(key, "password") == 0) {
		replace(&a->password, *v ? v : NULL);
		a->set |= K_PASSWORD;
	} else if (strcmp(key, "passwordeval") == 0) {
		replace(&a->passwordeval, *v ? v : NULL);
		a->set |= K_PWEVAL;
	} else if (strcmp(key, "from") == 0) {
		replace(&a->from, *v ? v : NULL);
		a->set |= K_FROM;
	} else if (strcmp(key, "domain") == 0) {
		replace(&a->domain, *v ? v : NULL);
		a->set |= K_DOMAIN;
	} else if (strcmp(key, "queue") == 0) {
		if (strcmp(v, "never") == 0) a->queue = CLIENT_QUEUE_NEVER;
		else if (strcmp(v, "always") == 0) a->queue = CLIENT_QUEUE_ALWAYS;
		else if (strcmp(v, "on-failure") == 0) a->queue = CLIENT_QUEUE_ON_FAILURE;
		else {
			*why_r = str_printf("invalid argument '%s' for queue (never, always or on-failure)", v);
			return -1;
		}
		a->set |= K_QUEUE;
	} else {
		/* msmtp keys that have no meaning here: accepted so that an
		 * existing ~/.msmtprc works, with a warning. */
		static const char *const ignored[] = {
			"logfile", "logfile_time_format", "syslog", "aliases", "auto_from",
			"maildomain", "dsn_notify", "dsn_return", "set_from_header",
			"set_date_header", "remove_bcc_headers", "undisclosed_recipients",
			"timeout", "protocol", "tls_crl_file", "tls_priorities",
			"tls_min_dh_prime_bits", "tls_host_override", "tls_key_file",
			"tls_cert_file", "source_ip", "ntlmdomain", "add_missing_from_header",
			"add_missing_date_header", "set_msgid_header",
		};
		for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
			if (strcmp(key, ignored[i]) == 0)
				return 1;
		*why_r = str_printf("unknown command '%s'", key);
		return -1;
	}
	return 0;
}

/* ---- the file ---- */

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
	account_init(a);
	account_inherit(a, &c->defaults);
	a->name = xstrdup(arg);
	a->file = xstrdup(ps->path);
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
		account_inherit(a, par);
	}
	/* "account default : NAME" defines an alias: NAME is the default. */
	if (strcmp(a->name, "default") == 0 && c->default_name == NULL)
		c->default_name = xstrdup("default");
	return 0;
}

static int
parse_line(struct parser *ps, char *line, char **why_r)
{
	char *cmd, *arg;
	int rc = split_line(line, &cmd, &arg);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		*why_r = str_printf("unterminated or misplaced quote");
		return -1;
	}
	if (strcmp(cmd, "defaults") == 0) {
		ps->cur = &ps->c->defaults;
		return 0;
	}
	if (strcmp(cmd, "account") == 0)
		return start_account(ps, arg, why_r);
	if (strcmp(cmd, "password") == 0)
		ps->has_password = true;
	rc = account_set(ps->cur, cmd, arg, why_r);
	if (rc == 1)
		log_warn("%s:%u: '%s' is not supported by postern, ignored", ps->path, ps->line, cmd);
	return rc < 0 ? -1 : 0;
}

/* RFC 4954's 12288-octet tokens plus the key, spaces and quotes. */
#define CONF_LINE_MAX (CLIENT_CONF_TOKEN_MAX + 256)

int
client_config_load(struct client_config *c, const char *path, char **err_r)
{
	memset(c, 0, sizeof *c);
	account_init(&c->defaults);
	c->path = xstrdup(path);
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
		if (why == NULL && parse_line(&ps, line, &why) == 0)
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
	/* A password in a file that others can read is one they can use. */
	struct stat st;
	if (rc == 0 && ps.has_password && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("%s: contains a password but is readable by group or others "
			 "(chmod 600 %s)", path, path);
	(void)fclose(f);	/* read only: nothing to lose */
	if (rc != 0)
		client_config_free(c);
	return rc;
}

void
client_config_free(struct client_config *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		account_clear(&c->accounts[i]);
	free(c->accounts);
	account_clear(&c->defaults);
	free(c->default_name);
	free(c->path);
	memset(c, 0, sizeof *c);
}

const struct client_account *
client_config_account(const struct client_config *c, const char *name, char **err_r)
{
	struct client_config *cc = (struct client_config *)c;
	const struct client_account *a;
	if (name != NULL) {
		a = find_account(cc, name);
		if (a == NULL)
			*err_r = str_printf("%s: account %s not found", c->path, name);
		return a;
	}
	a = find_account(cc, "default");
	if (a != NULL)
		return a;
	/* XXX: msmtp insists on an account named "default"; a file with
	 * one account is unambiguous, so we take it. */
	if (c->naccounts == 1)
		return &c->accounts[0];
	if (c->naccounts == 0 && (c->defaults.set & K_HOST)) {
		/* Only "defaults" (or no section at all): use them. */
		return &c->defaults;
	}
	*err_r = str_printf("%s: no account given (-a) and no default account "
		     "(add 'account default : NAME')", c->path);
	return NULL;
}

enum client_auth_mode
client_account_auth(const struct client_account *a)
{
	if (a->set & K_AUTH)
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
