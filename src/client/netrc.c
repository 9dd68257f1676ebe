/* netrc.c - credentials from ~/.netrc and ~/.authinfo, and the password
 * lookup order of an account (password, netrc, authinfo, passwordeval). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/crypto.h>

#include "client/config.h"
#include "util/buf.h"
#include "util/log.h"


/* A netrc file is small; a bigger one is not what we think it is. */
#define NETRC_MAX ((size_t)1024 * 1024)

/* Next whitespace-separated token; "double quoted" tokens (authinfo)
 * may hold spaces and \" \\ escapes.  Returns 0, -1 at the end. */
static int
next_token(const char **pp, const char *end, struct buf *tok)
{
	const char *p = *pp;
	buf_wipe(tok);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p >= end)
		return -1;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			buf_addch(tok, (uint8_t)*p);
		}
		if (p < end)
			p++;
	} else {
		while (p < end && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			buf_addch(tok, (uint8_t)*p++);
	}
	*pp = p;
	return 0;
}

struct entry {
	struct buf machine, login, password, port;
	bool is_default, any;
};

static bool
entry_matches(const struct entry *e, const char *host, unsigned port, const char *user)
{
	if (!e->any)
		return false;
	if (!e->is_default && strcmp(buf_cstr(&e->machine), host) != 0)
		return false;
	if (user && e->login.len > 0 && strcmp(buf_cstr(&e->login), user) != 0)
		return false;
	if (e->password.len == 0)
		return false;
	if (port != 0 && e->port.len > 0) {
		char want[16];
		(void)snprintf(want, sizeof want, "%u", port);	/* at most 10 digits */
		/* authinfo also names ports by service: smtp / submission(s). */
		const char *p = buf_cstr(&e->port);
		bool ok = strcmp(p, want) == 0 || (port == 25 && strcmp(p, "smtp") == 0) ||
			  (port == 587 && strcmp(p, "submission") == 0) ||
			  (port == 465 && (strcmp(p, "submissions") == 0 || strcmp(p, "smtps") == 0));
		if (!ok)
			return false;
	}
	return true;
}

static void
entry_reset(struct entry *e)
{
	buf_wipe(&e->machine);
	buf_wipe(&e->login);
	buf_wipe(&e->password);
	buf_wipe(&e->port);
	e->is_default = e->any = false;
}

/* Walks the tokens of a file; returns 1 found, 0 not found. */
static int
scan(const char *p, const char *end, const char *host, unsigned port, const char *user,
     char **user_r, char **pw_r)
{
	struct buf tok;
	struct entry e;
	int found = 0;
	buf_init(&tok, 16384);
	buf_init(&e.machine, 1024);
	buf_init(&e.login, 1024);
	buf_init(&e.password, 16384);
	buf_init(&e.port, 64);
	e.is_default = e.any = false;
	while (!found) {
		int more = next_token(&p, end, &tok);
		const char *t = buf_cstr(&tok);
		bool starts = more == 0 && (strcmp(t, "machine") == 0 || strcmp(t, "default") == 0);
		if (more != 0 || starts) {
			if (entry_matches(&e, host, port, user)) {
				if (user_r && !user)
					*user_r = strdup(buf_cstr(&e.login));
				*pw_r = strdup(buf_cstr(&e.password));
				found = 1;
				break;
			}
			entry_reset(&e);
			if (more != 0)
				break;
			e.any = true;
			if (strcmp(t, "default") == 0)
				e.is_default = true;
			else if (next_token(&p, end, &e.machine) != 0)
				break;
			continue;
		}
		struct buf *dst = NULL;
		if (strcmp(t, "login") == 0 || strcmp(t, "user") == 0)
			dst = &e.login;
		else if (strcmp(t, "password") == 0)
			dst = &e.password;
		else if (strcmp(t, "port") == 0 || strcmp(t, "protocol") == 0)
			dst = &e.port;
		else if (strcmp(t, "macdef") == 0) {
			/* A macro runs to the next empty line. */
			const char *blank = NULL;
			for (const char *q = p; q + 1 < end; q++)
				if (q[0] == '\n' && q[1] == '\n') {
					blank = q + 2;
					break;
				}
			p = blank ? blank : end;
			continue;
		}
		if (dst && next_token(&p, end, dst) != 0)
			dst = NULL;
		else if (!dst)
			next_token(&p, end, &tok);	/* "account X" and other pairs */
	}
	buf_wipe_free(&tok);
	buf_wipe_free(&e.machine);
	buf_wipe_free(&e.login);
	buf_wipe_free(&e.password);
	buf_wipe_free(&e.port);
	return found;
}

int
client_netrc_lookup(const char *path, const char *host, unsigned port, const char *user,
		    char **user_r, char **pw_r, char **err_r)
{
	*pw_r = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		*err_r = str_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct buf b;
	buf_init(&b, NETRC_MAX);
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_add(&b, chunk, n) != BUF_OK) {
			*err_r = str_printf("%s: larger than %zu bytes", path, NETRC_MAX);
			rc = -1;
			break;
		}
	OPENSSL_cleanse(chunk, sizeof chunk);
	if (rc == 0 && ferror(f)) {
		*err_r = str_printf("%s: read error", path);
		rc = -1;
	}
	(void)fclose(f);	/* read only: nothing to lose */
	if (rc == 0) {
		const char *p = b.p ? (const char *)b.p : "";
		rc = scan(p, p + b.len, host, port, user, user_r, pw_r);
	}
	buf_wipe_free(&b);
	return rc;
}

int
client_eval_first_line(const char *cmd, struct buf *out, char **why_r)
{
	(void)fflush(NULL);	/* the child must not repeat our buffered output */
	FILE *p = popen(cmd, "r");	// NOLINT(cert-env33-c): a shell command by design, as in msmtp
	if (p == NULL) {
		*why_r = str_printf("%s", strerror(errno));
		return -1;
	}
	int c, rc = 0;
	bool eol = false;
	while ((c = fgetc(p)) != EOF) {
		if (c == '\n')
			eol = true;
		if (!eol && buf_addch(out, (uint8_t)c) != BUF_OK)
			rc = -1;
	}
	int st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || rc != 0 || out->len == 0) {
		*why_r = str_printf("command failed%s", rc ? ": output too long" :
					out->len == 0 ? " or printed nothing" : "");
		return -1;
	}
	if (out->len > 0 && out->p[out->len - 1] == '\r')
		buf_truncate(out, out->len - 1);
	return 0;
}

/* First line of passwordeval's output (msmtp runs it with sh -c). */
static int
password_eval(const struct client_account *a, char **pw_r, char **err_r)
{
	struct buf b;
	buf_init(&b, CLIENT_CONF_TOKEN_MAX);
	char *why = NULL;
	if (client_eval_first_line(a->passwordeval, &b, &why) != 0) {
		*err_r = str_printf("%s:%u: passwordeval %s (account %s)", a->file ? a->file : "?",
				    a->line, why ? why : "failed", a->name ? a->name : "defaults");
		free(why);
		buf_wipe_free(&b);
		return -1;
	}
	*pw_r = strdup(buf_cstr(&b));
	buf_wipe_free(&b);
	return 0;
}

int
client_account_password(const struct client_account *a, char **pw_r, char **err_r)
{
	*pw_r = NULL;
	if (a->password) {
		*pw_r = strdup(a->password);
		return *pw_r ? 0 : -1;
	}
	const char *home = getenv("HOME");
	if (home && a->host) {
		static const char *const files[] = { ".netrc", ".authinfo" };
		for (size_t i = 0; i < 2; i++) {
			char *path = str_printf("%s/%s", home, files[i]);
			if (path == NULL)
				return -1;
			int rc = client_netrc_lookup(path, a->host, client_account_port(a), a->user,
						     NULL, pw_r, err_r);
			free(path);
			if (rc != 0)
				return rc < 0 ? -1 : 0;
		}
	}
	if (a->passwordeval)
		return password_eval(a, pw_r, err_r);
	return 0;
}
