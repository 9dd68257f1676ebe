/* config.c - the server's settings: keys, values, defaults. */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sasl/sasl.h"
#include "util/buf.h"
#include "util/conf.h"
#include "util/span.h"

/* What a key parser needs: the parsed file (for paths), the entry, and
 * where to put an error. */
struct ctx {
	const struct conf *conf;
	const struct conf_entry *e;
	struct config *cfg;
	char *err;
};

static int fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct ctx *x, const char *fmt, ...)
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

static int
set_str(struct ctx *x, char **dst)
{
	char *v = strdup(x->e->value);
	if (v == NULL)
		return fail(x, "out of memory");
	free(*dst);
	*dst = v;
	return 0;
}

static int
set_path(struct ctx *x, char **dst)
{
	if (x->e->value[0] == '\0')
		return fail(x, "%s: empty path", x->e->key);
	char *v = conf_path(x->conf, x->e->value);
	if (v == NULL)
		return fail(x, "out of memory");
	free(*dst);
	*dst = v;
	return 0;
}

/* "file:PATH", the only map type so far; the file is read with the
 * generation (server.c), so that SIGHUP rereads it. */
static int
set_map(struct ctx *x, char **dst)
{
	const char *v = x->e->value;
	if (strncmp(v, "file:", 5) != 0 || v[5] == '\0')
		return fail(x, "%s: '%s' is not file:PATH", x->e->key, v);
	char *p = conf_path(x->conf, v + 5);
	if (p == NULL)
		return fail(x, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

/* Whole decimal number with an optional unit suffix; mult gives the
 * unit's factor, 0 for suffixes that are not allowed. */
static int
parse_num(const char *s, const char *units, const unsigned long long *mult,
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

static int
set_size(struct ctx *x, size_t *dst)
{
	static const unsigned long long mult[] = { 1024, 1024, 1048576, 1073741824 };
	unsigned long long v;
	if (parse_num(x->e->value, "kKMG", mult, SIZE_MAX / 2, &v) < 0 || v == 0)
		return fail(x, "%s: '%s' is not a size in bytes (K, M, G suffixes allowed)",
			    x->e->key, x->e->value);
	*dst = (size_t)v;
	return 0;
}

static int
set_count(struct ctx *x, unsigned *dst)
{
	static const unsigned long long mult[] = { 1 };
	unsigned long long v;
	if (parse_num(x->e->value, "", mult, 10000000, &v) < 0 || v == 0)
		return fail(x, "%s: '%s' is not a positive whole number", x->e->key, x->e->value);
	*dst = (unsigned)v;
	return 0;
}

static int
set_secs(struct ctx *x, unsigned *dst)
{
	static const unsigned long long mult[] = { 1, 60, 3600 };
	unsigned long long v;
	if (parse_num(x->e->value, "smh", mult, 86400, &v) < 0 || v == 0)
		return fail(x, "%s: '%s' is not a duration (seconds, or with s, m, h)",
			    x->e->key, x->e->value);
	*dst = (unsigned)v;
	return 0;
}

/* "ADDR:PORT ROLE"; IPv6 addresses in brackets: "[::1]:10587". */
static int
parse_listen(struct ctx *x, struct listen_spec *l)
{
	struct span in = span_of(x->e->value), addr, role;
	char host[INET6_ADDRSTRLEN + 1], port[8];
	if (span_word(&in, &addr, 64) < 0 || span_word(&in, &role, 16) < 0 || in.n != 0)
		return fail(x, "listen: '%s' is not 'ADDR:PORT ROLE'", x->e->value);
	long colon = -1;
	for (size_t i = 0; i < addr.n; i++)
		if (addr.p[i] == ':')
			colon = (long)i;
	struct span h = { addr.p, colon < 0 ? 0 : (size_t)colon };
	struct span p = { addr.p + colon + 1, colon < 0 ? 0 : addr.n - (size_t)colon - 1 };
	bool v6 = h.n >= 2 && h.p[0] == '[' && h.p[h.n - 1] == ']';
	if (v6)
		h = (struct span){ h.p + 1, h.n - 2 };
	unsigned long long portnum = 0;
	static const unsigned long long one[] = { 1 };
	if (colon < 0 || span_cstr(h, host, sizeof host) < 0 || span_cstr(p, port, sizeof port) < 0 ||
	    parse_num(port, "", one, 65535, &portnum) < 0 || portnum == 0)
		return fail(x, "listen: '%.*s' is not ADDR:PORT", (int)addr.n, addr.p);
	memset(&l->addr, 0, sizeof l->addr);
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->addr;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)portnum);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return fail(x, "listen: '%s' is not an IPv6 address", host);
		l->addrlen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&l->addr;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)portnum);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return fail(x, "listen: '%s' is not an IPv4 address (IPv6 goes in brackets)", host);
		l->addrlen = sizeof *s4;
	}
	if (span_ieq(role, "submission"))
		l->role = ROLE_SUBMISSION;
	else if (span_ieq(role, "submissions"))
		l->role = ROLE_SUBMISSIONS;
	else if (span_ieq(role, "smtp"))
		l->role = ROLE_SMTP;
	else
		return fail(x, "listen: unknown role '%.*s' (submission, submissions or smtp)",
			    (int)role.n, role.p);
	l->text = strndup(addr.p, addr.n);
	l->line = x->e->line;
	return l->text ? 0 : fail(x, "out of memory");
}

static int
add_listen(struct ctx *x)
{
	struct config *c = x->cfg;
	struct listen_spec *v = realloc(c->listen, (c->nlisten + 1) * sizeof *v);
	if (v == NULL)
		return fail(x, "out of memory");
	c->listen = v;
	memset(&v[c->nlisten], 0, sizeof *v);
	if (parse_listen(x, &v[c->nlisten]) < 0) {
		free(v[c->nlisten].text);
		return -1;
	}
	c->nlisten++;
	return 0;
}

static int
parse_mechs(struct ctx *x, const char *list)
{
	struct span in = span_of(list), w;
	x->cfg->nmechs = 0;
	while (in.n > 0 && in.p[0] == ' ')
		span_skip(&in, 1);
	while (span_word(&in, &w, 64) == 0) {
		const struct sasl_mech *m = sasl_mech_find(w.p, w.n);
		if (m == NULL)
			return fail(x, "auth_mechanisms: unknown mechanism '%.*s'", (int)w.n, w.p);
		if (x->cfg->nmechs == CONFIG_MECH_MAX)
			return fail(x, "auth_mechanisms: too many mechanisms");
		x->cfg->mechs[x->cfg->nmechs++] = m;
	}
	if (in.n != 0)
		return fail(x, "auth_mechanisms: mechanism name too long");
	return 0;
}

/* The AUTH throttle's limits (auth/throttle.h has what each counts; the
 * defaults come from throttle_limits_default()). */
static const struct auth_key {
	const char *key;
	size_t off;		/* of an unsigned in struct throttle_limits */
	bool secs;		/* a duration, kept in milliseconds */
} auth_keys[] = {
	{ "auth_fail_limit_ip", offsetof(struct throttle_limits, ip_minute), false },
	{ "auth_fail_limit_ip_day", offsetof(struct throttle_limits, ip_day), false },
	{ "auth_fail_limit_subnet", offsetof(struct throttle_limits, subnet_minute), false },
	{ "auth_fail_limit_subnet_day", offsetof(struct throttle_limits, subnet_day), false },
	{ "auth_fail_limit_network", offsetof(struct throttle_limits, network_minute), false },
	{ "auth_fail_limit_network_day", offsetof(struct throttle_limits, network_day), false },
	{ "auth_fail_limit_user", offsetof(struct throttle_limits, user_minute), false },
	{ "auth_fail_limit_user_day", offsetof(struct throttle_limits, user_day), false },
	{ "auth_distinct_users_subnet", offsetof(struct throttle_limits, distinct_users_subnet), false },
	{ "auth_delay_max", offsetof(struct throttle_limits, delay_max_ms), true },
	{ "auth_cooldown", offsetof(struct throttle_limits, cooldown_ms), true },
	{ "auth_trusted_days", offsetof(struct throttle_limits, trusted_days), false },
};

static int
set_auth_key(struct ctx *x, const struct auth_key *k)
{
	unsigned v = 0;
	if (k->secs ? set_secs(x, &v) : set_count(x, &v))
		return -1;
	if (k->secs)
		v *= 1000;	/* set_secs() allows a day at most: fits */
	memcpy((char *)&x->cfg->throttle + k->off, &v, sizeof v);
	return 0;
}

static int
parse_key(struct ctx *x)
{
	const char *k = x->e->key, *v = x->e->value;
	struct config *c = x->cfg;
	if (strcmp(k, "hostname") == 0)
		return v[0] ? set_str(x, &c->hostname) : fail(x, "hostname: empty");
	if (strcmp(k, "listen") == 0)
		return add_listen(x);
	if (strcmp(k, "tls_certificate") == 0)
		return set_path(x, &c->tls_certificate);
	if (strcmp(k, "tls_key") == 0)
		return set_path(x, &c->tls_key);
	if (strcmp(k, "credentials") == 0)
		return v[0] ? set_str(x, &c->credentials) : fail(x, "credentials: empty");
	if (strcmp(k, "auth_mechanisms") == 0)
		return parse_mechs(x, v);
	if (strcmp(k, "plaintext_auth") == 0) {
		if (strcmp(v, "tls-only") != 0 && strcmp(v, "always") != 0)
			return fail(x, "plaintext_auth: '%s' is not tls-only or always", v);
		c->plaintext_always = strcmp(v, "always") == 0;
		return 0;
	}
	if (strcmp(k, "submission_tls") == 0) {
		if (strcmp(v, "required") != 0 && strcmp(v, "optional") != 0)
			return fail(x, "submission_tls: '%s' is not required or optional", v);
		c->submission_tls_optional = strcmp(v, "optional") == 0;
		return 0;
	}
	if (strcmp(k, "spool") == 0)
		return set_path(x, &c->spool);
	if (strcmp(k, "local_domains") == 0)
		return set_str(x, &c->local_domains);
	if (strcmp(k, "sender_login_map") == 0)
		return set_map(x, &c->sender_login_map);
	if (strcmp(k, "check_header_from") == 0) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return fail(x, "check_header_from: '%s' is not yes or no", v);
		c->check_header_from = strcmp(v, "yes") == 0;
		return 0;
	}
	if (strcmp(k, "max_message_size") == 0)
		return set_size(x, &c->max_message_size);
	if (strcmp(k, "max_recipients") == 0)
		return set_count(x, &c->max_recipients);
	if (strcmp(k, "max_connections") == 0)
		return set_count(x, &c->max_connections);
	if (strcmp(k, "max_connections_per_ip") == 0)
		return set_count(x, &c->max_connections_per_ip);
	if (strcmp(k, "max_errors") == 0)
		return set_count(x, &c->max_errors);
	if (strcmp(k, "command_timeout") == 0)
		return set_secs(x, &c->command_timeout);
	if (strcmp(k, "data_timeout") == 0)
		return set_secs(x, &c->data_timeout);
	if (strcmp(k, "tls_handshake_timeout") == 0)
		return set_secs(x, &c->tls_handshake_timeout);
	if (strcmp(k, "shutdown_grace") == 0)
		return set_secs(x, &c->shutdown_grace);
	for (size_t i = 0; i < sizeof auth_keys / sizeof *auth_keys; i++)
		if (strcmp(k, auth_keys[i].key) == 0)
			return set_auth_key(x, &auth_keys[i]);
	if (strcmp(k, "auth_max_failures_per_session") == 0)
		return set_count(x, &c->auth_max_failures);
	if (strcmp(k, "log") == 0) {
		if (strcmp(v, "stderr") != 0 && strcmp(v, "syslog") != 0)
			return fail(x, "log: '%s' is not stderr or syslog", v);
		c->log_syslog = strcmp(v, "syslog") == 0;
		return 0;
	}
	if (strcmp(k, "log_level") == 0) {
		static const char *const lv[] = { "error", "warning", "info", "debug" };
		for (size_t i = 0; i < sizeof lv / sizeof *lv; i++)
			if (strcmp(v, lv[i]) == 0) {
				c->log_level = (enum log_level)i;
				return 0;
			}
		return fail(x, "log_level: '%s' is not error, warning, info or debug", v);
	}
	if (strcmp(k, "user") == 0) {
		c->user_line = x->e->line;
		return v[0] ? set_str(x, &c->user) : fail(x, "user: empty");
	}
	if (strcmp(k, "auth_workers") == 0) {
		/* 0 is allowed here (one per CPU), unlike set_count(). */
		if (strcmp(v, "0") == 0) {
			c->auth_workers = 0;
			return 0;
		}
		if (set_count(x, &c->auth_workers) < 0)
			return -1;
		return c->auth_workers <= 64 ? 0 : fail(x, "auth_workers: at most 64");
	}
	if (strcmp(k, "auth_client_inflight") == 0)
		return set_count(x, &c->auth_client_inflight);
	/* Keys of the delivery issue (DESIGN.md): accepted now so that one
	 * config file serves both versions; nothing reads them yet. */
	if (strcmp(k, "relay_host") == 0 || strcmp(k, "relay_tls") == 0 ||
	    strcmp(k, "relay_credentials") == 0 || strcmp(k, "local_delivery") == 0) {
		log_debug("%s:%u: %s is not used by this version (no delivery yet)",
			  x->conf->path, x->e->line, k);
		return 0;
	}
	return fail(x, "unknown key '%s'", k);
}

/* Defaults, chosen so that a config with listen + TLS files works. */
static int
set_defaults(struct config *c)
{
	char host[256];
	c->plaintext_always = false;
	/* RFC 8314 and Postfix's stock submission service
	 * (smtpd_tls_security_level=encrypt): no clear-text submission. */
	c->submission_tls_optional = false;
	c->max_message_size = 26214400;	/* 25 MiB, as common providers */
	c->max_recipients = 100;	/* RFC 5321 4.5.3.1.8: at least 100 */
	c->max_connections = 1000;
	c->max_connections_per_ip = 20;
	c->max_errors = 10;
	/* RFC 5321 4.5.3.2.7: "Server Timeout: 5 minutes" while awaiting
	 * the next command. */
	c->command_timeout = 300;
	/* RFC 5321 4.5.3.2 asks 3 minutes per DATA block and 10 for the
	 * final dot; one bufferevent read timeout covers both, so we take
	 * the larger: a slow but live client is never cut off. */
	c->data_timeout = 600;
	c->tls_handshake_timeout = 30;
	c->shutdown_grace = 10;
	/* Through a copy: handing &c->throttle to another file makes gcc
	 * 12 -fanalyzer forget what c holds (a false leak of a listen text). */
	struct throttle_limits lim;
	throttle_limits_default(&lim);
	c->throttle = lim;
	/* Three tries cover a typo and a second thought; a fourth in one
	 * session is a guesser (Postfix's smtpd_hard_error_limit is wider
	 * but counts every error). */
	c->auth_max_failures = 3;
	c->log_level = LOG_LVL_INFO;
	if (gethostname(host, sizeof host) < 0 || host[0] == '\0')
		memcpy(host, "localhost", sizeof "localhost");
	host[sizeof host - 1] = '\0';
	c->hostname = strdup(host);
	c->credentials = strdup("file:users");
	c->local_domains = strdup("");
	c->user = strdup("postern");
	c->auth_workers = 0;
	/* Two checks in flight per network keep a mail client that opens
	 * a few connections at once fast, and hold a spray from one
	 * subnet to two workers' worth of CPU. */
	c->auth_client_inflight = 2;
	return c->hostname && c->credentials && c->local_domains && c->user ? 0 : -1;
}

/* Checks that need the whole file: which keys go together. */
static char *
check_whole(const struct config *c)
{
	char *err = NULL;
	bool needs_tls = false;
	for (size_t i = 0; i < c->nlisten; i++)
		needs_tls |= c->listen[i].role != ROLE_SMTP;
	if (c->nlisten == 0)
		(void)!asprintf(&err, "%s: no 'listen' line", c->path);
	else if (c->spool == NULL)
		(void)!asprintf(&err, "%s: no 'spool' line", c->path);
	else if ((c->tls_certificate == NULL) != (c->tls_key == NULL))
		(void)!asprintf(&err, "%s: tls_certificate and tls_key go together", c->path);
	else if (needs_tls && c->tls_certificate == NULL)
		(void)!asprintf(&err, "%s: submission listeners need tls_certificate and tls_key",
				c->path);
	return err;
}

struct config *
config_load(const char *path, char **err_r)
{
	struct conf conf = { 0 };
	struct config *c = calloc(1, sizeof *c);
	*err_r = NULL;
	if (c == NULL || set_defaults(c) < 0) {
		config_free(&c);
		*err_r = strdup("out of memory");
		return NULL;
	}
	if (conf_load(&conf, path, err_r) < 0) {
		config_free(&c);
		return NULL;
	}
	c->path = strdup(conf.path);
	c->dir = strdup(conf.dir);
	struct ctx x = { .conf = &conf, .cfg = c };
	int rc = (c->path && c->dir) ? 0 : -1;
	if (rc == 0 && conf_get(&conf, "auth_mechanisms") == NULL) {
		struct conf_entry e = { "auth_mechanisms", "", 0 };
		x.e = &e;
		rc = parse_mechs(&x, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	}
	for (size_t i = 0; rc == 0 && i < conf.n; i++) {
		x.e = &conf.v[i];
		rc = parse_key(&x);
	}
	if (rc == 0)
		x.err = check_whole(c);
	conf_free(&conf);
	if (rc < 0 || x.err != NULL) {
		*err_r = x.err ? x.err : strdup("out of memory");
		config_free(&c);
		return NULL;
	}
	return c;
}

void
config_free(struct config **cp)
{
	struct config *c = *cp;
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i].text);
	free(c->listen);
	free(c->path);
	free(c->dir);
	free(c->hostname);
	free(c->tls_certificate);
	free(c->tls_key);
	free(c->credentials);
	free(c->spool);
	free(c->local_domains);
	free(c->sender_login_map);
	free(c->user);
	free(c);
	*cp = NULL;
}

const char *
config_role_name(enum listen_role r)
{
	static const char *const names[] = { "submission", "submissions", "smtp" };
	return names[r];
}
