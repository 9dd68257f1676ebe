/* test_config.c - the server config reader: a full good file (every
 * key, relative paths, units), the defaults, and each bad value with
 * its exact "FILE:LINE: message". */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <unistd.h>

#include "sasl/sasl.h"
#include "server/config.h"
#include "util/conf.h"

static char dir[64];
static char path[128];

/* The minimal valid file; tests append lines after it. */
static const char base[] =
	"listen = 127.0.0.1:10587 submission\n"
	"tls_certificate = cert.pem\n"
	"tls_key = key.pem\n"
	"spool = spool\n";
#define BASE_LINES 4

static void
write_conf(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	memcpy(dir, "/tmp/postern-config-XXXXXX", sizeof "/tmp/postern-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	int n = snprintf(path, sizeof path, "%s/postern.conf", dir);
	return n > 0 && (size_t)n < sizeof path ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)unlink(path);
	(void)rmdir(dir);
	return 0;
}

static char *
in_dir(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void
test_good_full(void **state)
{
	write_conf("# comment\n"
		   "hostname = mail.example.test\n"
		   "listen = 127.0.0.1:10587 submission\n"
		   "listen = [::1]:10465 submissions\n"
		   "listen = 0.0.0.0:10025 SMTP\n"
		   "tls_certificate = /etc/ssl/cert.pem\n"
		   "tls_key = key.pem\n"
		   "credentials = file:/var/lib/postern/users\n"
		   "auth_mechanisms = PLAIN scram-sha-256\n"
		   "plaintext_auth = always\n"
		   "submission_tls = optional\n"
		   "spool = spool\n"
		   "local_domains = example.test, example.org\n"
		   "max_message_size = 10M\n"
		   "max_recipients = 50\n"
		   "max_connections = 5000\n"
		   "max_connections_per_ip = 7\n"
		   "max_errors = 3\n"
		   "command_timeout = 5m\n"
		   "data_timeout = 1h\n"
		   "tls_handshake_timeout = 20s\n"
		   "shutdown_grace = 4\n"
		   "log = syslog\n"
		   "log_level = debug\n"
		   "relay_host = [smtp.example.test]:587\n");
	char *err = NULL;
	struct config *c = config_load(path, &err);
	assert_null(err);
	assert_non_null(c);
	assert_string_equal(c->hostname, "mail.example.test");
	assert_int_equal(c->nlisten, 3);
	assert_string_equal(c->listen[0].text, "127.0.0.1:10587");
	assert_int_equal(c->listen[0].role, ROLE_SUBMISSION);
	assert_int_equal(c->listen[0].addr.ss_family, AF_INET);
	assert_int_equal(c->listen[0].line, 3);
	assert_true(c->submission_tls_optional);
	assert_string_equal(c->listen[1].text, "[::1]:10465");
	assert_int_equal(c->listen[1].role, ROLE_SUBMISSIONS);
	assert_int_equal(c->listen[1].addr.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&c->listen[1].addr)->sin6_port), 10465);
	assert_int_equal(c->listen[2].role, ROLE_SMTP);	/* role names are case-blind */
	assert_int_equal(c->ntls, 1);
	assert_string_equal(c->tls[0].certificate, "/etc/ssl/cert.pem");
	char *key = in_dir("key.pem"), *spool = in_dir("spool");
	assert_string_equal(c->tls[0].key, key);	/* relative to the file's folder */
	assert_int_equal(c->tls[0].certificate_line, 6);
	assert_int_equal(c->tls[0].key_line, 7);
	assert_string_equal(c->spool, spool);
	free(key);
	free(spool);
	assert_string_equal(c->credentials, "file:/var/lib/postern/users");
	assert_int_equal(c->nmechs, 2);
	assert_string_equal(sasl_mech_name(c->mechs[0]), "PLAIN");	/* config order */
	assert_string_equal(sasl_mech_name(c->mechs[1]), "SCRAM-SHA-256");
	assert_true(c->plaintext_always);
	assert_string_equal(c->local_domains, "example.test, example.org");
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 50);
	assert_int_equal(c->max_connections, 5000);
	assert_int_equal(c->max_connections_per_ip, 7);
	assert_int_equal(c->max_errors, 3);
	assert_int_equal(c->command_timeout, 300);
	assert_int_equal(c->data_timeout, 3600);
	assert_int_equal(c->tls_handshake_timeout, 20);
	assert_int_equal(c->shutdown_grace, 4);
	assert_true(c->log_syslog);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	config_free(&c);
	assert_null(c);
	config_free(&c);	/* NULL-safe */
}

static void
test_defaults(void **state)
{
	write_conf(base);
	char *err = NULL;
	struct config *c = config_load(path, &err);
	assert_non_null(c);
	assert_string_equal(c->credentials, "file:users");
	static const char *const want[] = { "EXTERNAL", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
					    "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "CRAM-MD5",
					    "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN" };
	assert_int_equal(c->nmechs, sizeof want / sizeof *want);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		assert_string_equal(sasl_mech_name(c->mechs[i]), want[i]);
	assert_false(c->plaintext_always);
	assert_false(c->submission_tls_optional);	/* required (RFC 8314) */
	assert_string_equal(c->local_domains, "");
	assert_int_equal(c->max_message_size, 26214400);
	assert_int_equal(c->max_recipients, 100);
	assert_int_equal(c->max_connections, 1000);
	assert_int_equal(c->max_connections_per_ip, 20);
	assert_int_equal(c->max_errors, 10);
	assert_int_equal(c->command_timeout, 300);
	assert_int_equal(c->data_timeout, 600);
	assert_int_equal(c->tls_handshake_timeout, 30);
	assert_int_equal(c->shutdown_grace, 10);
	assert_false(c->log_syslog);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_non_null(c->hostname);
	assert_true(c->hostname[0] != '\0');
	/* the AUTH throttle, as README.md documents it */
	assert_int_equal(c->throttle.ip_minute, 10);
	assert_int_equal(c->throttle.ip_day, 50);
	assert_int_equal(c->throttle.subnet_minute, 30);
	assert_int_equal(c->throttle.subnet_day, 150);
	assert_int_equal(c->throttle.network_minute, 90);
	assert_int_equal(c->throttle.network_day, 450);
	assert_int_equal(c->throttle.user_minute, 10);
	assert_int_equal(c->throttle.user_day, 50);
	assert_int_equal(c->throttle.distinct_users_subnet, 20);
	assert_int_equal(c->throttle.delay_max_ms, 4000);
	assert_int_equal(c->throttle.cooldown_ms, 900000);
	assert_int_equal(c->throttle.trusted_days, 30);
	assert_int_equal(c->auth_max_failures, 3);
	config_free(&c);
}

static void
test_auth_throttle_keys(void **state)
{
	char *text = NULL, *err = NULL;
	assert_true(asprintf(&text, "%s%s", base,
			     "auth_fail_limit_ip = 1\nauth_fail_limit_ip_day = 2\n"
			     "auth_fail_limit_subnet = 3\nauth_fail_limit_subnet_day = 4\n"
			     "auth_fail_limit_network = 5\nauth_fail_limit_network_day = 6\n"
			     "auth_fail_limit_user = 7\nauth_fail_limit_user_day = 8\n"
			     "auth_distinct_users_subnet = 9\nauth_delay_max = 2s\n"
			     "auth_cooldown = 2m\nauth_trusted_days = 7\n"
			     "auth_max_failures_per_session = 5\n") > 0);
	write_conf(text);
	struct config *c = config_load(path, &err);
	assert_non_null(c);
	const struct throttle_limits *l = &c->throttle;
	const unsigned got[] = { l->ip_minute, l->ip_day, l->subnet_minute, l->subnet_day,
				 l->network_minute, l->network_day, l->user_minute, l->user_day,
				 l->distinct_users_subnet };
	for (unsigned i = 0; i < sizeof got / sizeof *got; i++)
		assert_int_equal(got[i], i + 1);
	assert_int_equal(l->delay_max_ms, 2000);
	assert_int_equal(l->cooldown_ms, 120000);
	assert_int_equal(l->trusted_days, 7);
	assert_int_equal(c->auth_max_failures, 5);
	config_free(&c);
	free(text);
}

struct bad {
	const char *line;	/* appended after base: it is line BASE_LINES + 1 */
	const char *msg;	/* after "FILE:LINE: " */
};

static const struct bad bad_values[] = {
	{ "bogus = 1", "unknown key 'bogus'" },
	{ "hostname =", "hostname: empty" },
	{ "listen = 127.0.0.1:99999 smtp", "listen: '127.0.0.1:99999' is not ADDR:PORT" },
	{ "listen = 127.0.0.1:0 smtp", "listen: '127.0.0.1:0' is not ADDR:PORT" },
	{ "listen = 127.0.0.1 smtp", "listen: '127.0.0.1' is not ADDR:PORT" },
	{ "listen = 127.0.0.1:25", "listen: '127.0.0.1:25' is not 'ADDR:PORT ROLE'" },
	{ "listen = 127.0.0.1:25 mx", "listen: unknown role 'mx' (submission, submissions or smtp)" },
	{ "listen = ::1:25 smtp", "listen: '::1' is not an IPv4 address (IPv6 goes in brackets)" },
	{ "listen = [127.0.0.1]:25 smtp", "listen: '127.0.0.1' is not an IPv6 address" },
	{ "listen = mail.example.test:25 smtp",
	  "listen: 'mail.example.test' is not an IPv4 address (IPv6 goes in brackets)" },
	{ "tls_key =", "tls_key: empty path" },
	{ "credentials =", "credentials: empty" },
	{ "auth_mechanisms = PLAIN FOO", "auth_mechanisms: unknown mechanism 'FOO'" },
	{ "plaintext_auth = sometimes", "plaintext_auth: 'sometimes' is not tls-only or always" },
	{ "submission_tls = yes", "submission_tls: 'yes' is not required or optional" },
	{ "max_message_size = 0", "max_message_size: '0' is not a size in bytes (K, M, G suffixes allowed)" },
	{ "max_message_size = 10X", "max_message_size: '10X' is not a size in bytes (K, M, G suffixes allowed)" },
	{ "max_message_size = -1", "max_message_size: '-1' is not a size in bytes (K, M, G suffixes allowed)" },
	{ "max_recipients = 0", "max_recipients: '0' is not a positive whole number" },
	{ "max_connections = 1e3", "max_connections: '1e3' is not a positive whole number" },
	{ "max_connections_per_ip = 99999999999", "max_connections_per_ip: '99999999999' is not a positive whole number" },
	{ "max_errors = many", "max_errors: 'many' is not a positive whole number" },
	{ "command_timeout = soon", "command_timeout: 'soon' is not a duration (seconds, or with s, m, h)" },
	{ "data_timeout = 2d", "data_timeout: '2d' is not a duration (seconds, or with s, m, h)" },
	{ "tls_handshake_timeout = 0", "tls_handshake_timeout: '0' is not a duration (seconds, or with s, m, h)" },
	{ "shutdown_grace = 25h", "shutdown_grace: '25h' is not a duration (seconds, or with s, m, h)" },
	{ "auth_fail_limit_ip = 0", "auth_fail_limit_ip: '0' is not a positive whole number" },
	{ "auth_distinct_users_subnet = some", "auth_distinct_users_subnet: 'some' is not a positive whole number" },
	{ "auth_cooldown = 2d", "auth_cooldown: '2d' is not a duration (seconds, or with s, m, h)" },
	{ "auth_max_failures_per_session = -3", "auth_max_failures_per_session: '-3' is not a positive whole number" },
	{ "log = file", "log: 'file' is not stderr or syslog" },
	{ "log_level = loud", "log_level: 'loud' is not error, warning, info or debug" },
};

static void
test_bad_values(void **state)
{
	for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
		const struct bad *b = &bad_values[i];
		char *text = NULL, *want = NULL, *err = NULL;
		assert_true(asprintf(&text, "%s%s\n", base, b->line) > 0);
		assert_true(asprintf(&want, "%s:%d: %s", path, BASE_LINES + 1, b->msg) > 0);
		write_conf(text);
		struct config *c = config_load(path, &err);
		if (c != NULL || err == NULL || strcmp(err, want) != 0)
			print_error("line '%s': got '%s', want '%s'\n", b->line, err ? err : "(ok)", want);
		assert_null(c);
		assert_non_null(err);
		assert_string_equal(err, want);
		free(text);
		free(want);
		free(err);
	}
}

static const struct bad bad_files[] = {
	{ "spool = spool\n", "no 'listen' line" },
	{ "listen = 127.0.0.1:25 smtp\n", "no 'spool' line" },
	{ "listen = 127.0.0.1:587 submission\nspool = s\n",
	  "submission listeners need tls_certificate and tls_key" },
};

/* The file b->line is refused with "FILE" sep b->msg. */
static void
expect_refused(const struct bad *b, const char *sep)
{
	char *want = NULL, *err = NULL;
	assert_true(asprintf(&want, "%s%s%s", path, sep, b->msg) > 0);
	write_conf(b->line);
	struct config *c = config_load(path, &err);
	assert_null(c);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(want);
	free(err);
}

static void
test_bad_files(void **state)
{
	for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++)
		expect_refused(&bad_files[i], ": ");
	/* smtp alone needs no certificate */
	write_conf("listen = 127.0.0.1:25 smtp\nspool = s\n");
	char *err = NULL;
	struct config *c = config_load(path, &err);
	assert_non_null(c);
	assert_int_equal(c->ntls, 0);
	config_free(&c);
}

/* Issue 16 item 3: tls_certificate and tls_key are repeatable, the n-th
 * key with the n-th certificate, whatever lines come between. */
static void
test_tls_pairs(void **state)
{
	(void)state;
	write_conf("listen = 127.0.0.1:10587 submission\n"
		   "tls_certificate = rsa.pem\n"
		   "tls_certificate = /etc/ssl/ecdsa.pem\n"
		   "spool = spool\n"
		   "tls_key = rsa.key\n"
		   "tls_key = /etc/ssl/ecdsa.key\n");
	char *err = NULL;
	struct config *c = config_load(path, &err);
	assert_null(err);
	assert_non_null(c);
	assert_int_equal(c->ntls, 2);
	char *rsa = in_dir("rsa.pem"), *rsa_key = in_dir("rsa.key");
	assert_string_equal(c->tls[0].certificate, rsa);
	assert_string_equal(c->tls[0].key, rsa_key);
	assert_int_equal(c->tls[0].certificate_line, 2);
	assert_int_equal(c->tls[0].key_line, 5);
	assert_string_equal(c->tls[1].certificate, "/etc/ssl/ecdsa.pem");
	assert_string_equal(c->tls[1].key, "/etc/ssl/ecdsa.key");
	assert_int_equal(c->tls[1].certificate_line, 3);
	assert_int_equal(c->tls[1].key_line, 6);
	free(rsa);
	free(rsa_key);
	config_free(&c);
}

/* Counts that differ name the first line without its partner; more
 * pairs than OpenSSL has key types name the line too much. */
static const struct bad bad_pairs[] = {
	{ "listen = 127.0.0.1:25 smtp\nspool = s\ntls_key = /k.pem\n",
	  "3: tls_key /k.pem has no tls_certificate: tls_certificate and tls_key go together, "
	  "the n-th tls_key with the n-th tls_certificate (tls_certificate lines: 0, tls_key lines: 1)" },
	{ "listen = 127.0.0.1:25 smtp\nspool = s\ntls_certificate = /a.pem\ntls_key = /a.key\n"
	  "tls_certificate = /b.pem\n",
	  "5: tls_certificate /b.pem has no tls_key: tls_certificate and tls_key go together, "
	  "the n-th tls_key with the n-th tls_certificate (tls_certificate lines: 2, tls_key lines: 1)" },
	{ "listen = 127.0.0.1:25 smtp\nspool = s\ntls_certificate = /a.pem\ntls_key = /a.key\n"
	  "tls_key = /b.key\ntls_key = /c.key\n",
	  "5: tls_key /b.key has no tls_certificate: tls_certificate and tls_key go together, "
	  "the n-th tls_key with the n-th tls_certificate (tls_certificate lines: 1, tls_key lines: 3)" },
	{ "tls_certificate = /1\ntls_certificate = /2\ntls_certificate = /3\ntls_certificate = /4\n"
	  "tls_certificate = /5\ntls_certificate = /6\n",
	  "6: tls_certificate: at most 5 (one certificate per key type: RSA, RSA-PSS, ECDSA, "
	  "Ed25519, Ed448)" },
	{ "tls_certificate =\n", "1: tls_certificate: empty path" },
};

static void
test_tls_pairs_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_pairs / sizeof bad_pairs[0]; i++)
		expect_refused(&bad_pairs[i], ":");	/* msg starts with the line */
}

static void
test_missing_file(void **state)
{
	char *err = NULL, *want = NULL, *none = in_dir("none.conf");
	assert_true(asprintf(&want, "%s: No such file or directory", none) > 0);
	assert_null(config_load(none, &err));
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(none);
}

/* Whether word occurs in text on its own (not inside a longer key). */
static bool
has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = text; (p = strstr(p, word)) != NULL; p++) {
		bool left = p == text || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'));
		bool right = !(p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z'));
		if (left && right)
			return true;
	}
	return false;
}

/* Every key of the table is in the manual page, once per row: a new
 * row without documentation fails here.  Row names are unique. */
static void
test_keys_documented(void **state)
{
	(void)state;
	FILE *f = fopen(POSTERN_SRCDIR "/doc/postern.8", "r");
	assert_non_null(f);
	static char man[256 * 1024];
	size_t n = fread(man, 1, sizeof man - 1, f);
	(void)fclose(f);
	man[n] = '\0';
	size_t nkeys;
	const struct conf_key *k = config_keys_table(&nkeys);
	assert_true(nkeys > 30);
	for (size_t i = 0; i < nkeys; i++) {
		if (!has_word(man, k[i].name))
			fail_msg("key %s is not in doc/postern.8", k[i].name);
		assert_non_null(k[i].doc);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(k[i].name, k[j].name);
	}
}

/* `postern queue` asks for the spool only: no listen or TLS needed, but
 * every key is still checked with the same message. */
static void
test_need_spool(void **state)
{
	(void)state;
	char *err = NULL, *want = NULL;
	write_conf("spool = spool\n");
	struct config *c = config_load_for(path, CONFIG_NEED_SPOOL, &err);
	assert_non_null(c);
	assert_non_null(strstr(c->spool, "/spool"));
	assert_int_equal(c->spool[0], '/');
	config_free(&c);
	assert_null(config_load(path, &err));
	assert_true(asprintf(&want, "%s: no 'listen' line", path) > 0);
	assert_string_equal(err, want);
	free(err);
	free(want);
	write_conf("hostname = x\nmax_errors = -1\n");
	assert_null(config_load_for(path, CONFIG_NEED_SPOOL, &err));
	assert_true(asprintf(&want, "%s:2: max_errors: '-1' is not a positive whole number", path) > 0);
	assert_string_equal(err, want);
	free(err);
	free(want);
	write_conf("hostname = x\n");
	assert_null(config_load_for(path, CONFIG_NEED_SPOOL, &err));
	assert_true(asprintf(&want, "%s: no 'spool' line", path) > 0);
	assert_string_equal(err, want);
	free(err);
	free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_auth_throttle_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_tls_pairs),
		cmocka_unit_test(test_tls_pairs_bad),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_keys_documented),
		cmocka_unit_test(test_need_spool),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
