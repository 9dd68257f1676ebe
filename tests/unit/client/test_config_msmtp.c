/* test_config_msmtp.c - postern send as an msmtp drop-in: a file with
 * every command of msmtp 1.8's manual loads, each value lands where it
 * should (and is inherited), keys without effect become -v notes, bad
 * values and unknown keys are FILE:LINE errors; the aliases file; the
 * log line's mailsize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/aliases.h"
#include "client/config.h"
#include "client/message.h"
#include "smtp/header.h"
#include "client/sendlog.h"
#include "util/buf.h"

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/postern-test-msmtp-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Every command of msmtp(1) 1.8.23, CONFIGURATION FILES, in its order,
 * plus the older spellings msmtp still reads. */
static const char every_key[] =
	"defaults\n"
	"eval echo timeout 7\n"
	"logfile ~/msmtp.log\n"
	"logfile_time_format %Y-%m-%d\n"
	"syslog LOG_MAIL\n"
	"account base\n"
	"host smtp.example.test\n"
	"port 587\n"
	"source_ip 127.0.0.2\n"
	"proxy_host\n"
	"proxy_port 1080\n"
	"socket\n"
	"protocol smtp\n"
	"domain client.example.test\n"
	"auth scram-sha-256\n"
	"user alice\n"
	"password secret\n"
	"passwordeval echo secret\n"
	"ntlmdomain WORKGROUP\n"
	"tls on\n"
	"tls_starttls on\n"
	"tls_trust_file /etc/ssl/certs/ca-certificates.crt\n"
	"tls_crl_file /etc/ssl/crl.pem\n"
	"tls_fingerprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\n"
	"tls_key_file ~/client.key\n"
	"tls_cert_file ~/client.pem\n"
	"tls_certcheck on\n"
	"tls_priorities NORMAL:-VERS-TLS1.0\n"
	"tls_host_override mail.example.test\n"
	"tls_min_dh_prime_bits 2048\n"
	"from alice@example.test\n"
	"allow_from_override off\n"
	"dsn_notify failure,delay\n"
	"dsn_return headers\n"
	"set_from_header on\n"
	"set_date_header off\n"
	"set_msgid_header auto\n"
	"remove_bcc_headers off\n"
	"undisclosed_recipients on\n"
	"aliases ~/aliases\n"
	"auto_from off\n"
	"maildomain example.test\n"
	"account old : base\n"
	"connect_timeout 9\n"
	"add_missing_from_header off\n"
	"add_missing_date_header on\n"
	"keepbcc off\n"
	"tls_nocertcheck\n"
	"tls_nostarttls\n"
	"tls_force_sslv3 off\n"
	"syslog off\n"
	"account default : base\n";

static void
test_every_msmtp_key(void **state)
{
	(void)state;
	setenv("HOME", "/home/alice", 1);
	char *p = write_tmp(every_key);
	struct client_config c;
	char *err = NULL;
	if (client_config_load(&c, p, &err) != 0)
		fail_msg("%s", err);
	const struct client_account *a = client_config_account(&c, NULL, &err);
	assert_non_null(a);
	assert_int_equal(a->timeout, 7);	/* from eval in defaults */
	assert_string_equal(a->logfile, "/home/alice/msmtp.log");
	assert_string_equal(a->logfile_time_format, "%Y-%m-%d");
	assert_int_equal(a->syslog_facility, LOG_MAIL);
	assert_string_equal(a->source_ip, "127.0.0.2");
	assert_string_equal(a->domain, "client.example.test");
	assert_int_equal(a->fingerprint_len, 20);
	assert_string_equal(a->tls_key_file, "/home/alice/client.key");
	assert_string_equal(a->tls_cert_file, "/home/alice/client.pem");
	assert_string_equal(a->tls_host_override, "mail.example.test");
	assert_false(a->allow_from_override);
	assert_string_equal(a->dsn_notify, "FAILURE,DELAY");
	assert_string_equal(a->dsn_return, "HDRS");
	assert_int_equal(a->set_from_header, CLIENT_FROM_ON);
	assert_false(a->set_date_header);
	assert_false(a->remove_bcc_headers);
	assert_true(a->undisclosed_recipients);
	assert_string_equal(a->aliases, "/home/alice/aliases");
	assert_false(a->auto_from);
	assert_string_equal(a->maildomain, "example.test");
	assert_true(a->tls_certcheck);
	assert_true(a->tls_starttls);
	/* the old spellings, on top of what "old" inherits from base */
	const struct client_account *o = client_config_account(&c, "old", &err);
	assert_non_null(o);
	assert_int_equal(o->timeout, 9);
	assert_int_equal(o->set_from_header, CLIENT_FROM_OFF);
	assert_true(o->set_date_header);
	assert_true(o->remove_bcc_headers);
	assert_false(o->tls_certcheck);
	assert_false(o->tls_starttls);
	assert_int_equal(o->syslog_facility, -1);
	assert_string_equal(o->dsn_notify, "FAILURE,DELAY");
	assert_string_equal(o->source_ip, "127.0.0.2");
	/* keys without effect: one note each, with FILE:LINE, nothing else */
	const char *noted[] = { ":11: 'proxy_port'", ":19: 'ntlmdomain'", ":23: 'tls_crl_file'",
				":28: 'tls_priorities'", ":30: 'tls_min_dh_prime_bits'",
				":37: 'set_msgid_header'", ":50: 'tls_force_sslv3'" };
	assert_int_equal(c.nnotes, sizeof noted / sizeof *noted);
	for (size_t i = 0; i < c.nnotes; i++) {
		char want[512];
		snprintf(want, sizeof want, "%s%s has no effect", p, noted[i]);
		if (strncmp(c.notes[i], want, strlen(want)) != 0)
			fail_msg("note %zu: '%s', want '%s'", i, c.notes[i], want);
	}
	client_config_free(&c);
	unlink(p);
	free(p);
}

struct err_case {
	const char *line;	/* the 3rd line of an account */
	const char *want;	/* after "FILE:3: " */
};

static const struct err_case err_cases[] = {
	{ "logfil /tmp/x", "unknown command 'logfil'" },
	{ "from_full_name Alice", "unknown command 'from_full_name'" },	/* msmtp 1.8.23 neither */
	{ "timeout 0", "invalid argument '0' for timeout" },
	{ "timeout soon", "invalid argument 'soon' for timeout" },
	{ "syslog LOG_KERN", "invalid argument 'LOG_KERN' for syslog" },
	{ "set_from_header always", "invalid argument 'always' for set_from_header" },
	{ "set_date_header on", "invalid argument 'on' for set_date_header" },
	{ "dsn_notify failure,failure", "invalid argument 'failure,failure' for dsn_notify" },
	{ "dsn_notify failure,", "invalid argument 'failure,' for dsn_notify" },
	{ "dsn_notify", "invalid argument '' for dsn_notify" },
	{ "dsn_return body", "invalid argument 'body' for dsn_return" },
	{ "remove_bcc_headers maybe", "invalid argument 'maybe' for remove_bcc_headers" },
	{ "tls_nocertcheck on", "command tls_nocertcheck does not take an argument" },
	{ "tls_fingerprint 00:11:22", "invalid tls_fingerprint '00:11:22'" },
	{ "protocol lmtp", "protocol lmtp is not supported" },
	{ "proxy_host 127.0.0.1", "proxy_host is not supported" },
	{ "socket /run/smtp.sock", "socket is not supported" },
	{ "tls_min_dh_prime_bits lots", "invalid argument 'lots' for tls_min_dh_prime_bits" },
	{ "eval false", "eval: command failed" },
	{ "eval echo eval echo host x", "eval printed another eval line" },
	{ "eval echo bogus 1", "unknown command 'bogus'" },
};

static void
test_msmtp_key_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof err_cases / sizeof *err_cases; i++) {
		char text[256];
		snprintf(text, sizeof text, "account a\nhost h\n%s\n", err_cases[i].line);
		char *p = write_tmp(text);
		struct client_config c;
		char *err = NULL;
		assert_int_equal(client_config_load(&c, p, &err), -1);
		char want[512];
		snprintf(want, sizeof want, "%s:3: %s", p, err_cases[i].want);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s' want '%s'", i, err, want);
		free(err);
		unlink(p);
		free(p);
	}
}

static char **
list_of(const char *const *v, size_t n)
{
	char **l = NULL;
	size_t ln = 0;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(smtp_list_add(&l, &ln, v[i], strlen(v[i])), 0);
	return l;
}

static void
test_aliases(void **state)
{
	(void)state;
	char *p = write_tmp("# Example aliases file\n"
			    "root: joe@example.com, jane@example.com  # two\n"
			    "\n"
			    "cron: root, mark@example.com\n"
			    "default: admin@example.com\n");
	const char *in[] = { "cron", "bob@example.test", "nobody" };
	char **l = list_of(in, 3);
	size_t n = 3;
	char *err = NULL;
	assert_int_equal(client_aliases_expand(p, &l, &n, &err), 0);
	const char *want[] = { "joe@example.com", "jane@example.com", "mark@example.com",
			       "bob@example.test", "admin@example.com" };
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l[i], want[i]);
	smtp_list_free(&l, n);
	unlink(p);
	free(p);
	/* no local recipient: the file is not even read */
	const char *remote[] = { "bob@example.test" };
	l = list_of(remote, 1);
	n = 1;
	assert_int_equal(client_aliases_expand("/nonexistent/aliases", &l, &n, &err), 0);
	assert_int_equal(n, 1);
	smtp_list_free(&l, n);
	/* errors name the file and line; a loop is caught */
	static const struct { const char *text, *want; } bad[] = {
		{ "a: b@x\nbroken line\n", ":2: single ':' delimiter expected" },
		{ "a@x: b@x\n", ":1: invalid alias" },
		{ "a: b@x\na: c@x\n", ":2: duplicate alias" },
		{ "a: b\nb: a\n", "aliases nested deeper than 16" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		p = write_tmp(bad[i].text);
		const char *loc[] = { "a" };
		l = list_of(loc, 1);
		n = 1;
		err = NULL;
		assert_int_equal(client_aliases_expand(p, &l, &n, &err), -1);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: got '%s' want '%s'", i, err, bad[i].want);
		free(err);
		smtp_list_free(&l, n);
		unlink(p);
		free(p);
	}
}

static void
test_message_edit(void **state)
{
	(void)state;
	const char *msg = "From: someone@else.test\nTo: a@x.test\nCc: b@x.test\nBcc: c@x.test\n"
			  "Subject: s\n\nbody\n";
	size_t n = strlen(msg);
	struct message_edit e = { .from = "me@x.test", .replace_from = true, .undisclosed = true };
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(message_edit((const uint8_t *)msg, n, &e, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "From: me@x.test\nTo: undisclosed-recipients:;\n"
					    "Subject: s\n\nbody\n");
	buf_reset(&out);
	struct message_edit keep = { .from = "me@x.test", .add_from = true };
	assert_int_equal(message_edit((const uint8_t *)msg, n, &keep, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), msg);	/* remove_bcc_headers off: Bcc stays */
	buf_free(&out);
}

static void
test_from_matching_and_patterns(void **state)
{
	(void)state;
	char *p = write_tmp("account a\nhost h\nfrom *@lists.example.test\n"
			    "account b\nhost h\nfrom Bob@Example.test\n"
			    "account c\nhost h\nfrom %U@%H\ndomain %H\n"
			    "account default : b\n");
	struct client_config c;
	char *err = NULL;
	assert_int_equal(client_config_load(&c, p, &err), 0);
	assert_string_equal(client_config_find_by_from(&c, "news@lists.example.test"), "a");
	assert_string_equal(client_config_find_by_from(&c, "bob@example.test"), "b");
	assert_string_equal(client_config_find_by_from(&c, "bob+tag@example.test"), "b");
	assert_null(client_config_find_by_from(&c, "bobby@example.test"));
	assert_true(client_from_is_pattern("*@x"));
	assert_false(client_from_is_pattern("a@x"));
	setenv("USER", "alice", 1);
	setenv("HOSTNAME", "box.example.test", 1);
	const struct client_account *a = client_config_account(&c, "c", &err);
	assert_non_null(a);
	assert_string_equal(a->from, "alice@box.example.test");
	assert_string_equal(a->domain, "box.example.test");
	client_config_free(&c);
	unlink(p);
	free(p);
	char *x = client_expand_patterns("%U and %% and %X", false, &err);
	assert_string_equal(x, "%U and %% and %X");	/* %U only in from; others stay */
	free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_msmtp_key),
		cmocka_unit_test(test_msmtp_key_errors),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_message_edit),
		cmocka_unit_test(test_from_matching_and_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
