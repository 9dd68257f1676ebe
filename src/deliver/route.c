/* route.c - the delivery keys of the config, and the route of one
 * recipient (contract in route.h). */
#include "deliver/route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "deliver/dns_mx.h"
#include "deliver/dns_resolver.h"
#include "smtp/addr.h"
#include "util/str.h"

void
route_conf_init(struct route_conf *rc)
{
	memset(rc, 0, sizeof *rc);
	rc->relay_tls = ROUTE_TLS_REQUIRED;
	rc->relay_port = 25;
}

void
route_conf_clear(struct route_conf *rc)
{
	free(rc->maildir);
	free(rc->lmtp_host);
	free(rc->lmtp_unix);
	free(rc->relay_text);
	free(rc->relay_host);
	free(rc->relay_credentials);
	free(rc->relay_tls_trust_file);
	free(rc->dns_servers);
	route_conf_init(rc);
}

const char *
route_kind_name(enum route_kind k)
{
	static const char *const names[] = { "maildir", "lmtp", "relay", "mx" };
	return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

/* ---- config values ---- */

/* value made absolute against dir (the config file's folder). */
static char *
abs_path(const char *value, const char *dir)
{
	if (value[0] == '/' || dir == NULL)
		return strdup(value);
	return str_printf("%s/%s", dir, value);
}

/* "1".."65535" -> 0 and *port_r, else -1. */
static int
parse_port(const char *s, unsigned *port_r)
{
	unsigned v = 0;
	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port_r = v;
	return 0;
}

static bool
is_ip(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* "HOST:PORT", "[HOST]:PORT", "[HOST]" or "HOST" (port_opt: the port may
 * be left out, then *port_r is untouched).  *host_r malloc'd without
 * brackets; *bracketed_r says whether it had them.  0, or -1 with *err_r. */
static int
parse_hostport(const char *v, bool port_opt, char **host_r, bool *bracketed_r, unsigned *port_r,
	       char **err_r)
{
	const char *hs = v, *he, *port = NULL;
	*bracketed_r = v[0] == '[';
	if (*bracketed_r) {
		hs = v + 1;
		he = strchr(hs, ']');
		if (he == NULL || (he[1] != '\0' && he[1] != ':'))
			goto bad;
		if (he[1] == ':')
			port = he + 2;
	} else {
		he = strrchr(v, ':');
		if (he != NULL && strchr(v, ':') != he)
			goto bad;	/* an IPv6 address needs brackets */
		if (he != NULL)
			port = he + 1;
		else
			he = v + strlen(v);
	}
	if (port == NULL && !port_opt)
		goto bad;
	if (port != NULL && parse_port(port, port_r) < 0) {
		*err_r = str_printf("'%s': the port must be 1..65535", v);
		return -1;
	}
	char *host = strndup(hs, (size_t)(he - hs));
	if (host == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	if (!is_ip(host) && !dns_mx_name_ok(host)) {
		*err_r = str_printf("'%s' is not a host name or IP address", host);
		free(host);
		return -1;
	}
	*host_r = host;
	return 0;
bad:
	*err_r = str_printf(port_opt ? "'%s' is not HOST, HOST:PORT, [HOST] or [HOST]:PORT"
				     : "'%s' is not HOST:PORT or [IPV6]:PORT", v);
	return -1;
}

/* A Maildir template: only %u, %d and %% after '%' (maildir.h). */
static int
check_template(const char *t, char **err_r)
{
	for (const char *p = t; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p != 'u' && *p != 'd' && *p != '%') {
			*err_r = str_printf("maildir:%s: only %%u, %%d and %%%% may follow '%%'", t);
			return -1;
		}
	}
	return 0;
}

int
route_set_local_delivery(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	*err_r = NULL;
	free(rc->maildir);
	free(rc->lmtp_host);
	free(rc->lmtp_unix);
	rc->maildir = rc->lmtp_host = rc->lmtp_unix = NULL;
	rc->local = ROUTE_LOCAL_UNSET;
	if (strncmp(v, "maildir:", 8) == 0 && v[8] != '\0') {
		if (check_template(v + 8, err_r) < 0)
			return -1;
		rc->maildir = abs_path(v + 8, dir);
		rc->local = ROUTE_LOCAL_MAILDIR;
	} else if (strncmp(v, "lmtp:unix:", 10) == 0 && v[10] != '\0') {
		rc->lmtp_unix = abs_path(v + 10, dir);
		rc->local = ROUTE_LOCAL_LMTP;
	} else if (strncmp(v, "lmtp:", 5) == 0) {
		bool br;
		if (parse_hostport(v + 5, false, &rc->lmtp_host, &br, &rc->lmtp_port, err_r) < 0)
			return -1;
		rc->local = ROUTE_LOCAL_LMTP;
	} else {
		*err_r = str_printf("'%s' is not maildir:PATH, lmtp:HOST:PORT or lmtp:unix:PATH", v);
		return -1;
	}
	if (rc->maildir == NULL && rc->lmtp_host == NULL && rc->lmtp_unix == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	return 0;
}

/* Postfix's relayhost syntax: brackets turn the MX lookup off.  An IP
 * address has no MX, so it is used as written, brackets or not. */
int
route_set_relay_host(struct route_conf *rc, const char *v, char **err_r)
{
	char *host = NULL;
	bool br = false;
	unsigned port = 25;
	*err_r = NULL;
	if (parse_hostport(v, true, &host, &br, &port, err_r) < 0)
		return -1;
	char *text = strdup(v);
	if (text == NULL) {
		free(host);
		*err_r = strdup("out of memory");
		return -1;
	}
	free(rc->relay_host);
	free(rc->relay_text);
	rc->relay_host = host;
	rc->relay_text = text;
	rc->relay_port = port;
	rc->relay_mx = !br && !is_ip(host);
	return 0;
}

int
route_set_relay_tls(struct route_conf *rc, const char *v, char **err_r)
{
	*err_r = NULL;
	if (strcmp(v, "required") == 0)
		rc->relay_tls = ROUTE_TLS_REQUIRED;
	else if (strcmp(v, "opportunistic") == 0)
		rc->relay_tls = ROUTE_TLS_OPPORTUNISTIC;
	else if (strcmp(v, "none") == 0)
		rc->relay_tls = ROUTE_TLS_NONE;
	else {
		*err_r = str_printf("'%s' is not required, opportunistic or none", v);
		return -1;
	}
	return 0;
}

int
route_set_relay_tls_trust_file(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	*err_r = NULL;
	if (v[0] == '\0') {
		*err_r = strdup("empty");
		return -1;
	}
	char *p = abs_path(v, dir);
	FILE *f = p ? fopen(p, "r") : NULL;
	if (f == NULL) {
		*err_r = p ? str_printf("%s: %s", p, strerror(errno)) : strdup("out of memory");
		free(p);
		return -1;
	}
	(void)fclose(f);
	free(rc->relay_tls_trust_file);
	rc->relay_tls_trust_file = p;
	return 0;
}

int
route_set_dns_resolver(struct route_conf *rc, const char *v, char **err_r)
{
	char *csv = NULL;
	if (dns_resolver_parse(v, &csv, err_r) < 0)
		return -1;
	free(rc->dns_servers);
	rc->dns_servers = csv;
	return 0;
}

/* ---- relay credentials ---- */

int
route_read_credentials(const char *path, char **user_r, char **pass_r, char **err_r)
{
	char line[1024];
	*user_r = *pass_r = NULL;
	*err_r = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*err_r = str_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	bool got = fgets(line, sizeof line, f) != NULL;
	(void)fclose(f);
	size_t n = got ? strcspn(line, "\r\n") : 0;
	bool whole = got && line[n] != '\0';
	line[n] = '\0';
	size_t ul = strcspn(line, " \t");
	const char *pw = line + ul + strspn(line + ul, " \t");
	if (!whole || ul == 0 || *pw == '\0') {
		*err_r = str_printf("%s: the first line must be \"USER PASSWORD\" (at most %zu bytes)",
				    path, sizeof line - 2);
		OPENSSL_cleanse(line, sizeof line);
		return -1;
	}
	*user_r = strndup(line, ul);
	*pass_r = strdup(pw);
	OPENSSL_cleanse(line, sizeof line);
	if (*user_r == NULL || *pass_r == NULL) {
		str_wipe_free(user_r);
		str_wipe_free(pass_r);
		*err_r = strdup("out of memory");
		return -1;
	}
	return 0;
}

/* A token file must be a JSON object with an access or a refresh token
 * (the refresh needs token_endpoint and client_id: transport_oauth.c). */
static int
check_token_file(const char *path, char **err_r)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (j == NULL) {
		*err_r = str_printf("%s:%d: %s", path, je.line, je.text);
		return -1;
	}
	bool ok = json_is_object(j) && (json_is_string(json_object_get(j, "access_token")) ||
					json_is_string(json_object_get(j, "refresh_token")));
	json_decref(j);
	if (!ok) {
		*err_r = str_printf("%s: not a token file (a JSON object with access_token or "
				    "refresh_token)", path);
		return -1;
	}
	return 0;
}

int
route_set_relay_credentials(struct route_conf *rc, const char *v, const char *dir, char **err_r)
{
	bool oauth = strncmp(v, "oauth:", 6) == 0;
	const char *file = oauth ? v + 6 : v;
	*err_r = NULL;
	if (file[0] == '\0') {
		*err_r = strdup(oauth ? "oauth: needs a token file" : "empty");
		return -1;
	}
	char *p = abs_path(file, dir);
	if (p == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	int rc2;
	if (oauth) {
		rc2 = check_token_file(p, err_r);
	} else {
		char *u = NULL, *pw = NULL;
		rc2 = route_read_credentials(p, &u, &pw, err_r);
		str_wipe_free(&u);
		str_wipe_free(&pw);
	}
	if (rc2 < 0) {
		free(p);
		return -1;
	}
	free(rc->relay_credentials);
	rc->relay_credentials = p;
	rc->relay_oauth = oauth;
	return 0;
}

/* ---- the route of a recipient ---- */

long
route_split(const char *rcpt)
{
	/* The domain cannot hold '@' (a quoted local part can): the last
	 * one is the separator. */
	const char *at = strrchr(rcpt, '@');
	if (at == NULL || at == rcpt || at[1] == '\0')
		return -1;
	return at - rcpt;
}

bool
route_is_local_domain(const struct route_conf *rc, const char *domain, size_t len)
{
	char d[ROUTE_DOMAIN_MAX];
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof d)
		return false;
	memcpy(d, domain, len);
	d[len] = '\0';
	return smtp_domain_in_list(d, rc->local_domains);
}

static int route_fail(struct route_error *e, bool temporary, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
route_fail(struct route_error *e, bool temporary, const char *enh, const char *fmt, ...)
{
	va_list ap;
	e->temporary = temporary;
	(void)snprintf(e->enhanced, sizeof e->enhanced, "%s", enh);
	va_start(ap, fmt);
	(void)vsnprintf(e->why, sizeof e->why, fmt, ap);
	va_end(ap);
	return -1;
}

static int
route_local(const struct route_conf *rc, struct route *r, struct route_error *e)
{
	r->local = true;
	switch (rc->local) {
	case ROUTE_LOCAL_MAILDIR:
		r->kind = ROUTE_MAILDIR;
		(void)snprintf(r->key, sizeof r->key, "maildir");
		return 0;
	case ROUTE_LOCAL_LMTP:
		r->kind = ROUTE_LMTP;
		if (rc->lmtp_unix != NULL)
			(void)snprintf(r->key, sizeof r->key, "lmtp:unix:%s", rc->lmtp_unix);
		else
			(void)snprintf(r->key, sizeof r->key,
				       strchr(rc->lmtp_host, ':') ? "lmtp:[%s]:%u" : "lmtp:%s:%u",
				       rc->lmtp_host, rc->lmtp_port);
		return 0;
	case ROUTE_LOCAL_UNSET:
		break;
	}
	return route_fail(e, true, "4.3.5", "%s is a local domain but local_delivery is not set",
			  r->domain[0] ? r->domain : "postmaster");
}

int
route_of(const struct route_conf *rc, const char *rcpt, struct route *r, struct route_error *e)
{
	memset(r, 0, sizeof *r);
	memset(e, 0, sizeof *e);
	long at = route_split(rcpt);
	if (at < 0) {
		/* RFC 5321 4.5.1: the bare <Postmaster> is ours. */
		if (strcasecmp(rcpt, "postmaster") == 0)
			return route_local(rc, r, e);
		return route_fail(e, false, "5.1.3", "'%.200s' has no domain", rcpt);
	}
	const char *dom = rcpt + at + 1;
	size_t dl = strlen(dom);
	if (dl > 0 && dom[dl - 1] == '.')
		dl--;
	if (dl == 0 || dl >= sizeof r->domain)
		return route_fail(e, false, "5.1.2", "'%.200s': bad domain", rcpt);
	for (size_t i = 0; i < dl; i++)
		r->domain[i] = (char)tolower((unsigned char)dom[i]);
	r->domain[dl] = '\0';
	if (route_is_local_domain(rc, r->domain, dl))
		return route_local(rc, r, e);
	if (rc->relay_host != NULL) {
		r->kind = ROUTE_RELAY;
		r->mx = rc->relay_mx;
		(void)snprintf(r->domain, sizeof r->domain, "%s", rc->relay_host);
		for (char *p = r->domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		(void)snprintf(r->key, sizeof r->key, "relay:%s", rc->relay_text);
		return 0;
	}
	if (r->domain[0] == '[' || !dns_mx_name_ok(r->domain))
		return route_fail(e, false, "5.1.2",
				  "'%.200s': not a domain that can be looked up (address literals "
				  "are not delivered to)", rcpt);
	r->kind = ROUTE_MX;
	r->mx = true;
	(void)snprintf(r->key, sizeof r->key, "mx:%s", r->domain);
	return 0;
}
