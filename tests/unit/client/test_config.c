/* test_config.c - the msmtprc reader (inheritance, errors with
 * FILE:LINE), netrc/authinfo lookup, -t header recipients and Bcc
 * removal, and the DATA content preparation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/config.h"
#include "client/message.h"
#include "smtp/header.h"
#include "util/buf.h"

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/postern-test-client-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_config_inheritance(void **state)
{
	(void)state;
	char *p = write_tmp("# comment\n"
			    "defaults\n"
			    "tls on\n"
			    "tls_trust_file /etc/ssl/ca.pem\n"
			    "port 587\n"
			    "\n"
			    "account base\n"
			    "host smtp.example.test\n"
			    "user alice\n"
			    "auth scram-sha-256\n"
			    "account work : base\n"
			    "from alice@work.test\n"
			    "tls_starttls off\n"
			    "port 465\n"
			    "password \"with \\\"quotes\\\" inside\"\n"
			    "account other\n"
			    "host mx.other.test\n"
			    "tls_fingerprint AB:cd:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd\n"
			    "queue on-failure\n"
			    "account default : work\n");
	struct client_config c;
	char *err = NULL;
	assert_int_equal(client_config_load(&c, p, &err), 0);
	const struct client_account *a = client_config_account(&c, NULL, &err);
	assert_non_null(a);
	assert_string_equal(a->host, "smtp.example.test");
	assert_string_equal(a->user, "alice");
	assert_string_equal(a->from, "alice@work.test");
	assert_string_equal(a->password, "with \"quotes\" inside");
	assert_true(a->tls);
	assert_false(a->tls_starttls);
	assert_int_equal(client_account_port(a), 465);
	assert_int_equal(client_account_auth(a), CLIENT_AUTH_MECH);
	assert_string_equal(a->auth_mech, "SCRAM-SHA-256");
	assert_string_equal(a->tls_trust_file, "/etc/ssl/ca.pem");
	const struct client_account *o = client_config_account(&c, "other", &err);
	assert_non_null(o);
	assert_true(o->tls);	/* from defaults */
	assert_int_equal(o->port, 587);
	assert_null(o->user);
	assert_int_equal(client_account_auth(o), CLIENT_AUTH_OFF);
	assert_int_equal(o->fingerprint_len, 32);
	assert_int_equal(o->fingerprint[0], 0xab);
	assert_int_equal(o->fingerprint[31], 0xdd);
	assert_int_equal(o->queue, CLIENT_QUEUE_ON_FAILURE);
	assert_null(client_config_account(&c, "nope", &err));
	assert_non_null(strstr(err, "account nope not found"));
	free(err);
	client_config_free(&c);
	unlink(p);
	free(p);
}

struct err_case {
	const char *text;
	const char *want;	/* after "FILE" */
};

static const struct err_case err_cases[] = {
	{ "account a\nhost h\nbogus 1\n", ":3: unknown command 'bogus'" },
	{ "account a\nport 99999\n", ":2: invalid port '99999'" },
	{ "account a\ntls maybe\n", ":2: invalid argument 'maybe' for tls (on or off)" },
	{ "account a\nauth xoauth3\n", ":2: unsupported authentication mechanism 'xoauth3'" },
	{ "account a : missing\n", ":1: account missing not (yet) defined" },
	{ "account a\naccount a\n", ":2: account a is defined twice" },
	{ "account a\npassword \"open\n", ":2: unterminated or misplaced quote" },
	{ "account a\ntls_fingerprint 12:34\n", ":2: invalid tls_fingerprint '12:34'" },
	{ "account a\nqueue sometimes\n", ":2: invalid argument 'sometimes' for queue" },
};

static void
test_config_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof err_cases / sizeof *err_cases; i++) {
		char *p = write_tmp(err_cases[i].text);
		struct client_config c;
		char *err = NULL;
		assert_int_equal(client_config_load(&c, p, &err), -1);
		char want[512];
		snprintf(want, sizeof want, "%s%s", p, err_cases[i].want);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s' want '%s'", i, err, want);
		free(err);
		unlink(p);
		free(p);
	}
	struct client_config c;
	char *err = NULL;
	assert_int_equal(client_config_load(&c, "/nonexistent/postern.conf", &err), -1);
	assert_string_equal(err, "/nonexistent/postern.conf: No such file or directory");
	free(err);
}

static void
test_config_long_token(void **state)
{
	(void)state;
	/* An OAuth token of 10000 bytes is a normal password value. */
	size_t n = 10000;
	char *text = malloc(n + 64);
	int off = snprintf(text, 64, "account a\nhost h\npassword ");
	memset(text + off, 'x', n);
	memcpy(text + off + n, "\n", 2);
	char *p = write_tmp(text);
	struct client_config c;
	char *err = NULL;
	assert_int_equal(client_config_load(&c, p, &err), 0);
	assert_int_equal(strlen(c.accounts[0].password), n);
	client_config_free(&c);
	unlink(p);
	free(p);
	free(text);
}

static void
test_netrc(void **state)
{
	(void)state;
	char *p = write_tmp("machine smtp.example.test login bob password bobpw\n"
			    "machine smtp.example.test\n  login alice\n  password \"two words\"\n  port 587\n"
			    "macdef init\ncd /pub\n\n"
			    "machine smtp.example.test login alice password alice465 port 465\n"
			    "default login anon password anonpw\n");
	char *pw = NULL, *user = NULL, *err = NULL;
	assert_int_equal(client_netrc_lookup(p, "smtp.example.test", 587, "alice", NULL, &pw, &err), 1);
	assert_string_equal(pw, "two words");
	free(pw);
	assert_int_equal(client_netrc_lookup(p, "smtp.example.test", 465, "alice", NULL, &pw, &err), 1);
	assert_string_equal(pw, "alice465");
	free(pw);
	assert_int_equal(client_netrc_lookup(p, "smtp.example.test", 25, "bob", NULL, &pw, &err), 1);
	assert_string_equal(pw, "bobpw");
	free(pw);
	assert_int_equal(client_netrc_lookup(p, "smtp.example.test", 0, NULL, &user, &pw, &err), 1);
	assert_string_equal(user, "bob");
	free(user);
	free(pw);
	/* default entry matches other machines with its login */
	assert_int_equal(client_netrc_lookup(p, "elsewhere.test", 25, "anon", NULL, &pw, &err), 1);
	assert_string_equal(pw, "anonpw");
	free(pw);
	assert_int_equal(client_netrc_lookup(p, "elsewhere.test", 25, "carol", NULL, &pw, &err), 0);
	assert_int_equal(client_netrc_lookup("/nonexistent/netrc", "h", 25, "u", NULL, &pw, &err), 0);
	unlink(p);
	free(p);
}

/* ---- messages ---- */

static void
test_header_rcpts(void **state)
{
	(void)state;
	const char *msg = "From: Alice <alice@example.test>\r\n"
			  "To: \"Doe, John\" <john@example.test>, plain@example.test,\r\n"
			  "  Carol (comment, with comma) <carol@example.test>\r\n"
			  "cc: friends: a@example.test, b@example.test;, \"q\\\"uote\" <q@example.test>\r\n"
			  "Bcc: secret@example.test,\r\n\thidden@example.test\r\n"
			  "Subject: To: not@example.test\r\n"
			  "\r\n"
			  "To: body@example.test\r\n";
	size_t n = strlen(msg);
	uint8_t *m = malloc(n);
	memcpy(m, msg, n);
	char **l = NULL;
	size_t ln = 0;
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(message_header_rcpts(m, n, &l, &ln, &out), 0);
	const char *want[] = { "john@example.test", "plain@example.test", "carol@example.test",
			       "a@example.test", "b@example.test", "q@example.test",
			       "secret@example.test", "hidden@example.test" };
	assert_int_equal(ln, sizeof want / sizeof *want);
	for (size_t i = 0; i < ln; i++)
		assert_string_equal(l[i], want[i]);
	assert_null(strstr(buf_cstr(&out), "secret"));
	assert_null(strstr(buf_cstr(&out), "hidden"));
	assert_non_null(strstr(buf_cstr(&out), "Subject: To: not@example.test\r\n\r\nTo: body"));
	smtp_list_free(&l, ln);
	buf_free(&out);
	char *from = message_header_address(m, n, "from");
	assert_string_equal(from, "alice@example.test");
	free(from);
	assert_true(message_has_header(m, n, "SUBJECT"));
	assert_false(message_has_header(m, n, "Date"));
	free(m);
	/* groups with no members, and nothing at all */
	l = NULL;
	ln = 0;
	assert_int_equal(smtp_header_addresses("undisclosed-recipients:;", 24, 0, &l, &ln), 0);
	assert_int_equal(ln, 0);
	assert_int_equal(smtp_header_addresses("", 0, 0, &l, &ln), 0);
	assert_int_equal(ln, 0);
}

struct wire_case {
	const char *in, *out;
	size_t lines;
	bool eight;
};

/* No dot-stuffing here: that is the session's (smtp/dotstuff.h). */
static const struct wire_case wire_cases[] = {
	{ "a\nb\n", "a\r\nb\r\n", 2, false },
	{ "a\r\nb", "a\r\nb\r\n", 2, false },
	{ "a\rb\r\n", "a\r\nb\r\n", 2, false },
	{ ".\n..x\nend", ".\r\n..x\r\nend\r\n", 3, false },
	{ "", "", 0, false },
	{ "caf\xc3\xa9\n", "caf\xc3\xa9\r\n", 1, true },
	{ "x\n.\n", "x\r\n.\r\n", 2, false },
	{ "a\r", "a\r\n", 1, false },
	{ "\r\r\n\n", "\r\n\r\n\r\n", 3, false },
};

/* Normalised whole and split at every byte (a CRLF cut in two stays
 * one line end). */
static void
test_message_wire(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof wire_cases / sizeof *wire_cases; i++) {
		const struct wire_case *t = &wire_cases[i];
		size_t n = strlen(t->in);
		for (size_t cut = 0; cut <= n; cut++) {
			uint8_t *a = malloc(cut ? cut : 1), *b = malloc(n - cut ? n - cut : 1);
			memcpy(a, t->in, cut);
			memcpy(b, t->in + cut, n - cut);
			uint8_t out[64];
			struct message_norm st;
			message_norm_init(&st);
			size_t o = message_norm_feed(&st, a, cut, out);
			o += message_norm_feed(&st, b, n - cut, out + o);
			o += message_norm_end(&st, out + o);
			assert_int_equal(o, strlen(t->out));
			assert_memory_equal(out, t->out, o);
			assert_int_equal(st.size, o);
			assert_int_equal(st.lines, t->lines);
			assert_int_equal(st.eightbit, t->eight);
			free(a);
			free(b);
		}
	}
}

static void
test_fingerprint(void **state)
{
	(void)state;
	uint8_t fp[32];
	assert_int_equal(client_parse_fingerprint(
		"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", fp), 32);
	assert_int_equal(fp[1], 0x11);
	assert_int_equal(client_parse_fingerprint("0011", fp), -1);
	/* msmtp still takes SHA-1 and MD5 pins */
	assert_int_equal(client_parse_fingerprint(
		"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33", fp), 20);
	assert_int_equal(client_parse_fingerprint("00112233445566778899aabbccddeeff", fp), 16);
	assert_int_equal(fp[15], 0xff);
	assert_int_equal(client_parse_fingerprint(
		"g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", fp), -1);
	assert_int_equal(client_parse_fingerprint(
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", fp), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_inheritance),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_long_token),
		cmocka_unit_test(test_netrc),
		cmocka_unit_test(test_header_rcpts),
		cmocka_unit_test(test_message_wire),
		cmocka_unit_test(test_fingerprint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
