/* patterns.c - msmtp's substitution patterns in `from` and `domain`:
 * %U user name, %H host name, %C its canonical name, %M /etc/mailname. */
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/config.h"
#include "util/buf.h"

/* msmtp's SYSCONFDIR on Debian. */
#define MAILNAME_FILE "/etc/mailname"
/* A host or mail name is at most 255 bytes (RFC 1035 2.3.4). */
#define NAME_MAX_LEN 256

static int
user_name(char *out, size_t cap)
{
	const char *u = getenv("USER");
	if (u == NULL || *u == '\0')
		u = getenv("LOGNAME");
	if (u == NULL || *u == '\0') {
		const struct passwd *pw = getpwuid(getuid());	/* NOLINT(concurrency-mt-unsafe): one thread */
		u = pw ? pw->pw_name : NULL;
	}
	return u && snprintf(out, cap, "%s", u) < (int)cap ? 0 : -1;
}

static int
host_name(char *out, size_t cap)
{
	const char *h = getenv("HOSTNAME");
	if (h && *h)
		return snprintf(out, cap, "%s", h) < (int)cap ? 0 : -1;
	if (gethostname(out, cap) != 0)
		return -1;
	out[cap - 1] = '\0';
	return 0;
}

static int
canonical_name(char *out, size_t cap)
{
	if (host_name(out, cap) != 0)
		return -1;
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *ai = NULL;
	/* msmtp: the host name itself when it has no canonical name. */
	if (getaddrinfo(out, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
		(void)snprintf(out, cap, "%s", ai->ai_canonname);	/* cut if longer: not a name */
	if (ai)
		freeaddrinfo(ai);
	return 0;
}

static int
mail_name(char *out, size_t cap)
{
	FILE *f = fopen(MAILNAME_FILE, "r");
	if (f == NULL)
		return -1;
	char *ok = fgets(out, (int)cap, f);
	(void)fclose(f);	/* read only */
	if (ok == NULL)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return *out ? 0 : -1;
}

char *
client_expand_patterns(const char *s, bool expand_user, char **err_r)
{
	struct buf b;
	buf_init(&b, 4096);
	int rc = BUF_OK;
	for (const char *p = s; rc == BUF_OK && *p; p++) {
		char v[NAME_MAX_LEN];
		int got = 1;	/* 1: not a pattern */
		if (p[0] == '%' && p[1] == 'U' && expand_user)
			got = user_name(v, sizeof v);
		else if (p[0] == '%' && p[1] == 'H')
			got = host_name(v, sizeof v);
		else if (p[0] == '%' && p[1] == 'C')
			got = canonical_name(v, sizeof v);
		else if (p[0] == '%' && p[1] == 'M')
			got = mail_name(v, sizeof v);
		if (got == 1) {
			rc = buf_addch(&b, (uint8_t)*p);
			continue;
		}
		if (got != 0) {
			*err_r = p[1] == 'M' ? str_printf("%%M: %s: %s", MAILNAME_FILE,
							  errno ? strerror(errno) : "empty")
					     : str_printf("%%%c: cannot find the %s name", p[1],
							  p[1] == 'U' ? "user" : "host");
			buf_free(&b);
			return NULL;
		}
		/* a control byte would end up on the wire: msmtp's sanitize_string */
		for (char *q = v; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		rc = buf_addstr(&b, v);
		p++;
	}
	char *r = rc == BUF_OK ? strdup(buf_cstr(&b)) : NULL;
	if (r == NULL)
		*err_r = str_printf("out of memory");
	buf_free(&b);
	return r;
}
