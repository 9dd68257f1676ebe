/* config.c - the server's settings: one table row per key, its value
 * checked by util/conf_keys.c, defaults, and the checks across keys. */
#include "server/config.h"

#include <arpa/inet.h>
#include <assert.h>
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
#include "server/config_route.h"
#include "server/config_tls.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/conf.h"
#include "util/span.h"

/* XXX: gcc 12's analyzer loses l->text once l points into the array
 * that add_listen() grew with realloc() and reports it leaked; add_listen()
 * frees it on failure and config_free() after.  The warning is off for
 * this function alone (as for set_owned() in util/conf_keys.c). */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* "ADDR:PORT ROLE"; IPv6 addresses in brackets: "[::1]:10587". */
static int
parse_listen(struct conf_ctx *x, const char *value, struct listen_spec *l)
{
	struct span in = span_of(value), addr, role;
	char host[INET6_ADDRSTRLEN + 1], port[8];
	if (span_word(&in, &addr, 64) < 0 || span_word(&in, &role, 16) < 0 || in.n != 0)
		return conf_fail(x, "listen: '%s' is not 'ADDR:PORT ROLE'", value);
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
	    conf_num(port, "", one, 65535, &portnum) < 0 || portnum == 0)
		return conf_fail(x, "listen: '%.*s' is not ADDR:PORT", (int)addr.n, addr.p);
	memset(&l->addr, 0, sizeof l->addr);
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->addr;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)portnum);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return conf_fail(x, "listen: '%s' is not an IPv6 address", host);
		l->addrlen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&l->addr;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)portnum);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return conf_fail(x, "listen: '%s' is not an IPv4 address (IPv6 goes in brackets)", host);
		l->addrlen = sizeof *s4;
	}
	if (span_ieq(role, "submission"))
		l->role = ROLE_SUBMISSION;
	else if (span_ieq(role, "submissions"))
		l->role = ROLE_SUBMISSIONS;
	else if (span_ieq(role, "smtp"))
		l->role = ROLE_SMTP;
	else
		return conf_fail(x, "listen: unknown role '%.*s' (submission, submissions or smtp)",
			    (int)role.n, role.p);
	const struct conf_entry *e = conf_ctx_entry(x);
	l->line = e != NULL ? e->line : 0;
	char *text = strndup(addr.p, addr.n);
	if (text == NULL)
		return conf_fail(x, "out of memory");
	l->text = text;
	return 0;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* listen is repeatable: each line adds a listener. */
static int
add_listen(struct conf_ctx *x, void *obj, const char *value)
{
	struct config *c = obj;
	struct listen_spec *v = realloc(c->listen, (c->nlisten + 1) * sizeof *v);
	if (v == NULL)
		return conf_fail(x, "out of memory");
	c->listen = v;
	memset(&v[c->nlisten], 0, sizeof *v);
	if (parse_listen(x, value, &v[c->nlisten]) < 0) {
		free(v[c->nlisten].text);
		return -1;
	}
	c->nlisten++;
	return 0;
}

static int
parse_mechs(struct conf_ctx *x, void *obj, const char *list)
{
	struct config *c = obj;
	struct span in = span_of(list), w;
	c->nmechs = 0;
	while (in.n > 0 && in.p[0] == ' ')
		span_skip(&in, 1);
	while (span_word(&in, &w, 64) == 0) {
		const struct sasl_mech *m = sasl_mech_find(w.p, w.n);
		if (m == NULL)
			return conf_fail(x, "auth_mechanisms: unknown mechanism '%.*s'", (int)w.n, w.p);
		if (c->nmechs == CONFIG_MECH_MAX)
			return conf_fail(x, "auth_mechanisms: too many mechanisms");
		c->mechs[c->nmechs++] = m;
	}
	if (in.n != 0)
		return conf_fail(x, "auth_mechanisms: mechanism name too long");
	return 0;
}

/* A map key's "file:PATH" (the only map type so far) into *field as
 * an absolute path. */
static int
set_file_map(struct conf_ctx *x, const char *key, const char *v, char **field)
{
	if (strncmp(v, "file:", 5) != 0 || v[5] == '\0')
		return conf_fail(x, "%s: '%s' is not file:PATH", key, v);
	char *p = conf_path(conf_ctx_conf(x), v + 5);
	if (p == NULL)
		return conf_fail(x, "out of memory");
	free(*field);
	*field = p;
	return 0;
}

/* The file is read with the generation (server.c gen_new), so that
 * SIGHUP rereads it. */
static int
set_sender_map(struct conf_ctx *x, void *obj, const char *v)
{
	return set_file_map(x, "sender_login_map", v, &((struct config *)obj)->sender_login_map);
}

/* deliver/local_rcpt.h has the format; read by the auth process, and by
 * the parent to check it before a start or reload. */
static int
set_local_recipients(struct conf_ctx *x, void *obj, const char *v)
{
	return set_file_map(x, "local_recipients", v, &((struct config *)obj)->local_recipients);
}

static int
set_check_header_from(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return conf_fail(x, "check_header_from: '%s' is not yes or no", v);
	c->check_header_from = strcmp(v, "yes") == 0;
	return 0;
}

/* tls_client_map = file:PATH (clientmap.h); read with the generation
 * (server.c gen_new), so that SIGHUP rereads it. */
static int
set_client_map(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	if (strncmp(v, "file:", 5) != 0 || v[5] == '\0')
		return conf_fail(x, "tls_client_map: '%s' is not file:PATH", v);
	char *p = conf_path(conf_ctx_conf(x), v + 5);
	if (p == NULL)
		return conf_fail(x, "out of memory");
	free(c->tls_client_map);
	c->tls_client_map = p;
	return 0;
}

/* The network process's user; its line goes into start-up messages
 * ("user 'x' (FILE:LINE) does not exist"). */
static int
set_user(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	if (v[0] == '\0')
		return conf_fail(x, "user: empty");
	char *u = strdup(v);
	if (u == NULL)
		return conf_fail(x, "out of memory");
	free(c->user);
	c->user = u;
	const struct conf_entry *e = conf_ctx_entry(x);
	c->user_line = e != NULL ? e->line : 0;
	return 0;
}

/* 0 means one per CPU (unlike CONF_COUNT, which starts at 1). */
static int
set_auth_workers(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	static const unsigned long long one[] = { 1 };
	unsigned long long n = 0;
	if (conf_num(v, "", one, 10000000, &n) < 0)
		return conf_fail(x, "auth_workers: '%s' is not a whole number", v);
	if (n > 64)
		return conf_fail(x, "auth_workers: at most 64");
	c->auth_workers = (unsigned)n;
	return 0;
}

/* retry_first, retry_max, max_queue_lifetime, delay_warning_time:
 * deliver/retry.c parses them; the whole is checked in check_whole(). */
static int
set_retry(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	const struct conf_entry *e = conf_ctx_entry(x);
	char *err = NULL;
	if (e == NULL || retry_policy_set(&c->retry, e->key, v, &err) == 1)
		return 0;
	int rc = conf_fail(x, "%s", err ? err : "out of memory");
	free(err);
	return rc;
}

/* The oauth_* keys (store/store_oauth.h): one setter, which knows the
 * key from its entry; paths resolved, lines kept for the verifier's
 * messages ("FILE:LINE: oauth_jwks: ...").
 * XXX: gcc 12's analyzer loses the copy once it is stored through a
 * pointer into obj and reports it leaked; config_free() frees it.  The
 * warning is off for this function alone, as for parse_listen(). */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
set_oauth(struct conf_ctx *x, void *obj, const char *v)
{
	struct store_oauth_conf *o = &((struct config *)obj)->oauth;
	const struct conf_entry *e = conf_ctx_entry(x);
	const char *key = e != NULL ? e->key : "";
	bool path = strcmp(key, "oauth_jwks") == 0 || strcmp(key, "oauth_client_secret_file") == 0;
	char **f = strcmp(key, "oauth_jwks") == 0 ? &o->jwks
		   : strcmp(key, "oauth_issuer") == 0 ? &o->issuer
		   : strcmp(key, "oauth_audience") == 0 ? &o->audience
		   : strcmp(key, "oauth_user_claim") == 0 ? &o->user_claim
		   : strcmp(key, "oauth_introspection_url") == 0 ? &o->introspection_url
		   : strcmp(key, "oauth_client_id") == 0 ? &o->client_id
		   : &o->client_secret_file;
	if (v[0] == '\0')
		return conf_fail(x, "%s: empty", key);
	char *copy = path ? conf_path(conf_ctx_conf(x), v) : strdup(v);
	if (copy == NULL)
		return conf_fail(x, "out of memory");
	free(*f);
	*f = copy;
	unsigned line = e != NULL ? e->line : 0;
	if (f == &o->jwks)
		o->jwks_line = line;
	else if (f == &o->introspection_url)
		o->url_line = line;
	else if (f == &o->client_secret_file)
		o->secret_line = line;
	return 0;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* local_delivery: the route's (deliver/route.h) and, as written, the
 * auth process's RCPT check (its LMTP callout, auth_rcpt.c). */
static int
set_local_delivery(struct conf_ctx *x, void *obj, const char *v)
{
	struct config *c = obj;
	if (config_set_local_delivery(x, obj, v) < 0)
		return -1;
	char *d = strdup(v);
	if (d == NULL)
		return conf_fail(x, "out of memory");
	free(c->local_delivery);
	c->local_delivery = d;
	return 0;
}

/* ---- the keys ----
 *
 * One row per key (util/conf.h has the kinds and what each checks).  A
 * new key is one row here and a field in struct config (config.h); a
 * key that others read too is a macro row in their header (credentials:
 * store/store.h).  Rows without def get their default from
 * set_defaults() (computed ones: hostname, the throttle's limits).
 * doc/postern.8 documents every key (tests/unit/server/test_config.c
 * checks that each row's name is there). */

#define F(f) CONF_FIELD(struct config, f)
#define T(f) CONF_FIELD(struct config, throttle.f)

static const char *const plaintext_words[] = { "tls-only", "always", NULL };
static const char *const tls_words[] = { "required", "optional", NULL };
/* In the order of false, true (tls_record_openssl). */
static const char *const record_layer_words[] = { "postern", "openssl", NULL };
/* In the order of false, true. */
static const char *const yes_no_words[] = { "no", "yes", NULL };
static const char *const log_words[] = { "stderr", "syslog", NULL };
/* In the order of enum log_level. */
static const char *const level_words[] = { "error", "warning", "info", "debug", NULL };
static_assert(sizeof(enum log_level) == sizeof(int), "CONF_ENUM stores an int");

static const struct conf_key config_keys[] = {
	{ "hostname", CONF_STRING, F(hostname), NULL, NULL, NULL, CONF_NONEMPTY,
	  "name in the greeting and Received: (default: gethostname())" },
	{ "listen", CONF_CUSTOM, offsetof(struct config, listen), 0, NULL, NULL, add_listen, CONF_RESTART,
	  "ADDR:PORT ROLE, repeatable" },
	/* Repeatable, one pair per key type (issue 16 item 3: RSA and
	 * ECDSA at once; config_tls.c, the files checked by tls_certs.c). */
	{ "tls_certificate", CONF_CUSTOM, offsetof(struct config, tls), 0, NULL, NULL,
	  config_add_tls_certificate, 0, "PEM certificate chain; repeatable, one per key type" },
	{ "tls_key", CONF_CUSTOM, offsetof(struct config, tls), 0, NULL, NULL, config_add_tls_key, 0,
	  "PEM private key of the tls_certificate of the same rank" },
	STORE_CONF_KEY(struct config, credentials),
	{ "auth_mechanisms", CONF_CUSTOM, offsetof(struct config, mechs), 0,
	  "EXTERNAL SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 OAUTHBEARER "
	  "XOAUTH2 PLAIN LOGIN",
	  NULL, parse_mechs, 0,
	  "mechanisms offered, strongest first" },
	{ "plaintext_auth", CONF_ENUM, F(plaintext_always), "tls-only", plaintext_words, NULL, 0,
	  "may PLAIN and LOGIN run without TLS" },
	/* RFC 8314 and Postfix's stock submission service
	 * (smtpd_tls_security_level=encrypt): no clear-text submission. */
	{ "submission_tls", CONF_ENUM, F(submission_tls_optional), "required", tls_words, NULL, 0,
	  "may a submission listener take mail without STARTTLS" },
	{ "spool", CONF_PATH, F(spool), NULL, NULL, NULL, CONF_RESTART, "spool folder" },
	{ "local_domains", CONF_STRING, F(local_domains), "", NULL, NULL, 0,
	  "domains received for, space or comma separated" },
	{ "sender_login_map", CONF_CUSTOM, offsetof(struct config, sender_login_map), 0, NULL, NULL,
	  set_sender_map, 0, "file:PATH of \"login address...\" lines" },
	{ "check_header_from", CONF_CUSTOM, offsetof(struct config, check_header_from), 0, NULL, NULL,
	  set_check_header_from, 0, "yes: the From header obeys sender_login_map too" },
	{ "max_message_size", CONF_SIZE, F(max_message_size), "26214400", NULL, NULL, 0,
	  "bytes (25 MiB, as common providers)" },
	{ "max_recipients", CONF_COUNT, F(max_recipients), "100", NULL, NULL, 0,
	  "per message (RFC 5321 4.5.3.1.8: at least 100)" },
	{ "max_connections", CONF_COUNT, F(max_connections), "1000", NULL, NULL, 0,
	  "sessions at once" },
	{ "max_connections_per_ip", CONF_COUNT, F(max_connections_per_ip), "20", NULL, NULL, 0,
	  "sessions at once from one address" },
	{ "max_errors", CONF_COUNT, F(max_errors), "10", NULL, NULL, 0,
	  "error replies before the session is closed" },
	/* RFC 5321 4.5.3.2.7: "Server Timeout: 5 minutes" while awaiting
	 * the next command. */
	{ "command_timeout", CONF_SECS, F(command_timeout), "300", NULL, NULL, 0,
	  "idle time awaiting a command" },
	/* RFC 5321 4.5.3.2 asks 3 minutes per DATA block and 10 for the
	 * final dot; one bufferevent read timeout covers both, so we take
	 * the larger: a slow but live client is never cut off. */
	{ "data_timeout", CONF_SECS, F(data_timeout), "600", NULL, NULL, 0,
	  "idle time inside DATA" },
	{ "tls_handshake_timeout", CONF_SECS, F(tls_handshake_timeout), "30", NULL, NULL, 0,
	  "for the TLS handshake" },
	/* Issue 16 S4 (src/server/tls_bev.c): who runs TLS 1.3 records
	 * after the handshake; openssl keeps the SSL object for the whole
	 * session (12 KB more per idle session), for comparison and as an
	 * escape hatch. */
	{ "tls_record_layer", CONF_ENUM, F(tls_record_openssl), "postern", record_layer_words, NULL,
	  0, "postern (TLS 1.3 records without OpenSSL's SSL object) | openssl" },
	{ "shutdown_grace", CONF_SECS, F(shutdown_grace), "10", NULL, NULL, 0,
	  "time sessions get to finish after SIGTERM" },
	/* The AUTH throttle's limits: auth/throttle.h says what each counts;
	 * the defaults come from throttle_limits_default(). */
	{ "auth_fail_limit_ip", CONF_COUNT, T(ip_minute), NULL, NULL, NULL, 0,
	  "failures from one address a minute" },
	{ "auth_fail_limit_ip_day", CONF_COUNT, T(ip_day), NULL, NULL, NULL, 0,
	  "failures from one address a day" },
	{ "auth_fail_limit_subnet", CONF_COUNT, T(subnet_minute), NULL, NULL, NULL, 0,
	  "from one /26 or /48 a minute" },
	{ "auth_fail_limit_subnet_day", CONF_COUNT, T(subnet_day), NULL, NULL, NULL, 0,
	  "from one /26 or /48 a day" },
	{ "auth_fail_limit_network", CONF_COUNT, T(network_minute), NULL, NULL, NULL, 0,
	  "from one /21 or /32 a minute" },
	{ "auth_fail_limit_network_day", CONF_COUNT, T(network_day), NULL, NULL, NULL, 0,
	  "from one /21 or /32 a day" },
	{ "auth_fail_limit_user", CONF_COUNT, T(user_minute), NULL, NULL, NULL, 0,
	  "for one user name a minute" },
	{ "auth_fail_limit_user_day", CONF_COUNT, T(user_day), NULL, NULL, NULL, 0,
	  "for one user name a day" },
	{ "auth_distinct_users_subnet", CONF_COUNT, T(distinct_users_subnet), NULL, NULL, NULL, 0,
	  "distinct failing user names from one /26 or /48 a day" },
	{ "auth_delay_max", CONF_MSECS, T(delay_max_ms), NULL, NULL, NULL, 0,
	  "longest delay before refusing" },
	{ "auth_cooldown", CONF_MSECS, T(cooldown_ms), NULL, NULL, NULL, 0,
	  "how long refusing lasts" },
	{ "auth_trusted_days", CONF_COUNT, T(trusted_days), NULL, NULL, NULL, 0,
	  "how long a successful (address, user) pair is trusted" },
	/* Three tries cover a typo and a second thought; a fourth in one
	 * session is a guesser (Postfix's smtpd_hard_error_limit is wider
	 * but counts every error). */
	{ "auth_max_failures_per_session", CONF_COUNT, F(auth_max_failures), "3", NULL, NULL, 0,
	  "AUTH failures in one session before 421" },
	{ "log", CONF_ENUM, F(log_syslog), "stderr", log_words, NULL, CONF_RESTART,
	  "where log lines go" },
	{ "log_level", CONF_ENUM, F(log_level), "info", level_words, NULL, 0,
	  "least important level logged" },
	/* Processes (doc/architecture.md). */
	{ "user", CONF_CUSTOM, offsetof(struct config, user), 0, NULL, NULL, set_user, CONF_RESTART,
	  "the network process's user when started as root (default postern)" },
	{ "auth_workers", CONF_CUSTOM, offsetof(struct config, auth_workers), 0, "0", NULL,
	  set_auth_workers, CONF_RESTART, "password-check threads; 0: one per CPU" },
	/* Two checks in flight per network keep a mail client that opens
	 * a few connections at once fast, and hold a spray from one
	 * subnet to two workers' worth of CPU. */
	{ "auth_client_inflight", CONF_COUNT, F(auth_client_inflight), "2", NULL, NULL, 0,
	  "expensive checks in flight per client /24 or /64" },
	/* The queue runner (issue 14, src/server/runner.c): back-off and
	 * lifetime (deliver/retry.h has the defaults and why), how many
	 * deliveries at once, and the control socket of `postern queue`. */
	{ "retry_first", CONF_CUSTOM, offsetof(struct config, retry), 0, NULL, NULL, set_retry, 0,
	  "first back-off after a temporary failure (default 5m)" },
	{ "retry_max", CONF_CUSTOM, offsetof(struct config, retry), 0, NULL, NULL, set_retry, 0,
	  "longest back-off (default 1h)" },
	{ "max_queue_lifetime", CONF_CUSTOM, offsetof(struct config, retry), 0, NULL, NULL, set_retry,
	  0, "give up and bounce after this long (default 5d)" },
	{ "delay_warning_time", CONF_CUSTOM, offsetof(struct config, retry), 0, NULL, NULL, set_retry,
	  0, "accepted; the delay warning DSN is not sent yet (default 4h, 0: never)" },
	/* Postfix's default_destination_concurrency_limit is 20 in total
	 * per transport; 4 per destination keeps us polite to one relay
	 * while one slow MX does not hold the whole queue. */
	{ "max_deliveries", CONF_COUNT, F(max_deliveries), "20", NULL, NULL, 0,
	  "outgoing deliveries at once" },
	{ "max_deliveries_per_destination", CONF_COUNT, F(max_deliveries_per_destination), "4", NULL,
	  NULL, 0, "outgoing deliveries at once to one destination" },
	{ "control_socket", CONF_PATH, F(control_socket), NULL, NULL, NULL, CONF_RESTART,
	  "UNIX socket of `postern queue` (default SPOOL/control.sock)" },
	/* Routes and transports (issue 14 item 3, deliver/route.h): checked
	 * here, FILE:LINE on error; read by the queue runner. */
	{ "relay_host", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  config_set_relay_host, 0, "[HOST]:PORT (no MX lookup) or HOST[:PORT] (its MX); else MX" },
	{ "relay_tls", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  config_set_relay_tls, 0, "required (default) | opportunistic | none" },
	{ "relay_credentials", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  config_set_relay_credentials, 0, "file with \"USER PASSWORD\", or oauth:TOKENFILE" },
	{ "relay_tls_trust_file", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  config_set_relay_tls_trust_file, 0, "CA file for the relay's certificate; default system" },
	{ "local_delivery", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  set_local_delivery, 0, "maildir:PATH (%u %d) | lmtp:HOST:PORT | lmtp:unix:PATH" },
	{ "dns_resolver", CONF_CUSTOM, offsetof(struct config, route), 0, NULL, NULL,
	  config_set_dns_resolver, 0, "IP[:PORT],... for MX lookups; default /etc/resolv.conf" },
	/* Local recipients at RCPT (issue 14 item 3; src/auth/auth_rcpt.c). */
	{ "local_recipients", CONF_CUSTOM, offsetof(struct config, local_recipients), 0, NULL, NULL,
	  set_local_recipients, 0, "file:PATH of \"address [target...]\" lines (aliases)" },
	/* Old clients (issue 15 item 7): Outlook Express, Netscape 4 and
	 * some copiers read only the pre-RFC 2554 "AUTH=" line; off by
	 * default, as Postfix's broken_sasl_auth_clients. */
	{ "legacy_auth_line", CONF_ENUM, F(legacy_auth_line), "no", yes_no_words, NULL, 0,
	  "yes: also advertise the pre-RFC \"250-AUTH=LOGIN PLAIN\" line" },
	/* OAUTHBEARER/XOAUTH2 token checks (store/store_oauth.h); checked
	 * together in check_oauth(), the files by the verifier. */
	{ "oauth_jwks", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "JWKS file: tokens are JWTs signed by its keys" },
	{ "oauth_issuer", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0, "the tokens' iss" },
	{ "oauth_audience", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "a value the tokens' aud must hold" },
	{ "oauth_user_claim", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "the claim naming the user (default email)" },
	{ "oauth_introspection_url", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "RFC 7662 endpoint that judges tokens" },
	{ "oauth_client_id", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "our client id at the introspection endpoint" },
	{ "oauth_client_secret_file", CONF_CUSTOM, 0, 0, NULL, NULL, set_oauth, 0,
	  "file holding our client secret (not readable by others)" },
	/* EXTERNAL with TLS client certificates (helper tlsauth): a
	 * certificate is asked for, never required (tls.c). */
	{ "tls_client_ca", CONF_PATH, F(tls_client_ca), NULL, NULL, NULL, 0,
	  "PEM CAs whose client certificates may log in with EXTERNAL" },
	{ "tls_client_map", CONF_CUSTOM, offsetof(struct config, tls_client_map), 0, NULL, NULL,
	  set_client_map, 0, "file:PATH of \"email:|dns:|subject:IDENTITY user\" lines" },
};

#undef F
#undef T

const struct conf_key *
config_keys_table(size_t *n_r)
{
	*n_r = sizeof config_keys / sizeof *config_keys;
	return config_keys;
}

/* The defaults no row can write down, then every row's def. */
static int
set_defaults(struct config *c, char **err_r)
{
	char host[256];
	if (gethostname(host, sizeof host) < 0 || host[0] == '\0')
		memcpy(host, "localhost", sizeof "localhost");
	host[sizeof host - 1] = '\0';
	c->hostname = strdup(host);
	c->user = strdup("postern");
	route_conf_init(&c->route);
	/* Through a copy: handing &c->throttle to another file makes gcc
	 * 12 -fanalyzer forget what c holds (a false leak of a listen text). */
	struct throttle_limits lim;
	throttle_limits_default(&lim);
	c->throttle = lim;
	retry_policy_default(&c->retry);
	if (c->hostname == NULL || c->user == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	return conf_defaults(config_keys, sizeof config_keys / sizeof *config_keys, c, err_r);
}

/* The queue runner's keys as a whole; fills in control_socket's
 * default.  Returns NULL or a malloc'd message. */
static char *
check_runner(struct config *c)
{
	char *err = NULL, *why = retry_policy_check(&c->retry);
	if (why != NULL) {
		(void)!asprintf(&err, "%s: %s", c->path, why);
		free(why);
		return err;
	}
	if (c->max_deliveries_per_destination > c->max_deliveries)
		c->max_deliveries_per_destination = c->max_deliveries;
	if (c->control_socket == NULL && c->spool != NULL &&
	    asprintf(&c->control_socket, "%s/control.sock", c->spool) < 0) {
		c->control_socket = NULL;
		return strdup("out of memory");
	}
	return NULL;
}

/* The oauth_* keys that go together (the files and the URL are the
 * verifier's to check: store_oauth_open, at start and --check). */
static char *
check_oauth(const struct config *c)
{
	const struct store_oauth_conf *o = &c->oauth;
	const char *why = NULL;
	if (o->jwks != NULL && (o->issuer == NULL || o->audience == NULL))
		why = "oauth_jwks needs oauth_issuer and oauth_audience";
	else if (o->introspection_url != NULL && (o->client_id == NULL || o->client_secret_file == NULL))
		why = "oauth_introspection_url needs oauth_client_id and oauth_client_secret_file";
	else if (!store_oauth_configured(o)
		 && (o->issuer || o->audience || o->user_claim || o->client_id || o->client_secret_file))
		why = "oauth_* keys without oauth_jwks or oauth_introspection_url: nothing checks tokens";
	char *err = NULL;
	if (why != NULL)
		(void)!asprintf(&err, "%s: %s", c->path, why);
	return err;
}

/* tls_client_ca asks for certificates during our TLS handshakes, and
 * tls_client_map maps only certificates checked against it. */
static char *
check_client_cert(const struct config *c)
{
	char *err = NULL;
	if (c->tls_client_ca != NULL && c->ntls == 0)
		(void)!asprintf(&err, "%s: tls_client_ca needs tls_certificate and tls_key", c->path);
	else if (c->tls_client_map != NULL && c->tls_client_ca == NULL)
		(void)!asprintf(&err, "%s: tls_client_map needs tls_client_ca (the CAs whose "
				"certificates it maps)", c->path);
	return err;
}

/* The certificate pairs, and TLS where a listener needs it (STARTTLS
 * on submission, implicit TLS on submissions). */
static char *
check_tls(struct config *c)
{
	bool needs_tls = false;
	for (size_t i = 0; i < c->nlisten; i++)
		needs_tls |= c->listen[i].role != ROLE_SMTP;
	char *err = config_tls_pair_up(c);
	if (err == NULL && needs_tls && c->ntls == 0)
		(void)!asprintf(&err, "%s: submission listeners need tls_certificate and tls_key",
				c->path);
	return err != NULL ? err : check_client_cert(c);
}

/* Checks that need the whole file: which keys go together.  A command
 * that reads the file for one key asks only for it. */
static char *
check_whole(struct config *c, enum config_need need)
{
	char *err = NULL;
	if (need == CONFIG_NEED_SPOOL) {
		if (c->spool == NULL)
			(void)!asprintf(&err, "%s: no 'spool' line", c->path);
	} else if (c->nlisten == 0)
		(void)!asprintf(&err, "%s: no 'listen' line", c->path);
	else if (c->spool == NULL)
		(void)!asprintf(&err, "%s: no 'spool' line", c->path);
	else
		err = check_tls(c);
	if (err == NULL)
		err = check_runner(c);
	return err != NULL ? err : check_oauth(c);
}

struct config *
config_load_for(const char *path, enum config_need need, char **err_r)
{
	struct conf conf = { 0 };
	struct config *c = calloc(1, sizeof *c);
	*err_r = NULL;
	if (c == NULL) {
		*err_r = strdup("out of memory");
		return NULL;
	}
	if (set_defaults(c, err_r) < 0 || conf_load(&conf, path, err_r) < 0) {
		config_free(&c);
		return NULL;
	}
	c->path = strdup(conf.path);
	c->dir = strdup(conf.dir);
	int rc = (c->path && c->dir) ? 0 : -1;
	if (rc == 0)
		rc = conf_apply(&conf, config_keys, sizeof config_keys / sizeof *config_keys, c, 0,
				err_r);
	conf_free(&conf);
	/* route.h: the routes read these two through the route_conf */
	c->route.local_domains = c->local_domains;
	c->route.helo_name = c->hostname;
	if (rc == 0)
		*err_r = check_whole(c, need);
	if (rc < 0 || *err_r != NULL) {
		if (*err_r == NULL)
			*err_r = strdup("out of memory");
		config_free(&c);
		return NULL;
	}
	return c;
}

struct config *
config_load(const char *path, char **err_r)
{
	return config_load_for(path, CONFIG_NEED_SERVE, err_r);
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
	config_tls_clear(c);
	free(c->credentials);
	free(c->spool);
	free(c->local_domains);
	free(c->sender_login_map);
	free(c->user);
	free(c->control_socket);
	route_conf_clear(&c->route);
	free(c->local_recipients);
	free(c->local_delivery);
	free(c->oauth.jwks);
	free(c->oauth.issuer);
	free(c->oauth.audience);
	free(c->oauth.user_claim);
	free(c->oauth.introspection_url);
	free(c->oauth.client_id);
	free(c->oauth.client_secret_file);
	free(c->tls_client_ca);
	free(c->tls_client_map);
	free(c);
	*cp = NULL;
}

const char *
config_role_name(enum listen_role r)
{
	static const char *const names[] = { "submission", "submissions", "smtp" };
	return names[r];
}
