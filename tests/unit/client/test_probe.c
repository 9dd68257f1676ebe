/* test_probe.c - probe's transcript rendering: SASL decoded beside the
 * base64, secrets masked, hostile bytes escaped.  Exact output bytes are
 * the oracle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/probe.h"
#include "util/b64.h"
#include "util/buf.h"

/* Renders one line; prefix + base64(decoded) as a SASL line. */
static char *
render(struct probe_mask *pm, enum smtp_dir dir, const char *mech, const char *prefix,
       const char *dec, size_t declen, unsigned flags)
{
	struct buf line, out;
	buf_init(&line, 100000);
	buf_init(&out, 100000);
	assert_int_equal(buf_addstr(&line, prefix), BUF_OK);
	size_t off = line.len;
	if (dec != NULL)
		assert_int_equal(b64_encode(&line, (const uint8_t *)dec, declen), BUF_OK);
	struct smtp_line l = {
		.dir = dir, .flags = flags | SMTP_LINE_SASL, .text = buf_cstr(&line), .len = line.len,
		.payload_off = off, .mech = mech,
	};
	assert_int_equal(probe_format_line(pm, &l, &out), BUF_OK);
	char *s = strdup(buf_cstr(&out));
	buf_free(&line);
	buf_free(&out);
	return s;
}

#define CHECK(got, want) do { char *g_ = (got); assert_string_equal(g_, (want)); free(g_); } while (0)

static void
test_plain(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	static const char ir[] = "\0alice\0s3cret pass";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "PLAIN", "AUTH PLAIN ", ir, sizeof ir - 1, SMTP_LINE_SECRET),
	      "C: AUTH PLAIN ********   [decoded: \"\\x00alice\\x00********\"]\n");
	static const char authz[] = "admin\0alice\0pw";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "PLAIN", "", authz, sizeof authz - 1, SMTP_LINE_SECRET),
	      "C: ********   [decoded: \"admin\\x00alice\\x00********\"]\n");
	/* Not PLAIN's shape (one NUL): nothing of it is shown. */
	static const char odd[] = "alice\0pw";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "PLAIN", "", odd, sizeof odd - 1, 0),
	      "C: ********   [decoded: \"********\"]\n");
}

static void
test_login(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	CHECK(render(&pm, SMTP_DIR_SERVER, "LOGIN", "334 ", "Username:", 9, 0),
	      "S: 334 VXNlcm5hbWU6   [decoded: \"Username:\"]\n");
	CHECK(render(&pm, SMTP_DIR_CLIENT, "LOGIN", "", "alice", 5, SMTP_LINE_SECRET),
	      "C: YWxpY2U=   [decoded: \"alice\"]\n");
	CHECK(render(&pm, SMTP_DIR_SERVER, "LOGIN", "334 ", "Password:", 9, 0),
	      "S: 334 UGFzc3dvcmQ6   [decoded: \"Password:\"]\n");
	CHECK(render(&pm, SMTP_DIR_CLIENT, "LOGIN", "", "hunter2", 7, SMTP_LINE_SECRET),
	      "C: ********   [decoded: \"********\"]\n");
	/* A server asking for the user name again learns nothing new. */
	CHECK(render(&pm, SMTP_DIR_SERVER, "LOGIN", "334 ", "Username:", 9, 0),
	      "S: 334 VXNlcm5hbWU6   [decoded: \"Username:\"]\n");
	CHECK(render(&pm, SMTP_DIR_CLIENT, "LOGIN", "", "hunter2", 7, SMTP_LINE_SECRET),
	      "C: ********   [decoded: \"********\"]\n");
}

static void
test_cram_md5(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	static const char ch[] = "<1896.697170952@postoffice.example.net>";
	CHECK(render(&pm, SMTP_DIR_SERVER, "CRAM-MD5", "334 ", ch, sizeof ch - 1, 0),
	      "S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+   "
	      "[decoded: \"<1896.697170952@postoffice.example.net>\"]\n");
	static const char resp[] = "joe 3dbc88f0624776a737b39093f6eb6427";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "CRAM-MD5", "", resp, sizeof resp - 1, 0),
	      "C: ********   [decoded: \"joe ********\"]\n");
}

static void
test_scram(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	/* RFC 7677 section 3's example exchange. */
	static const char c1[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "SCRAM-SHA-256", "AUTH SCRAM-SHA-256 ", c1, sizeof c1 - 1, 0),
	      "C: AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=   "
	      "[decoded: \"n,,n=user,r=rOprNGfwEbeRWgbNEkqO\"]\n");
	static const char c2[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
				 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "SCRAM-SHA-256", "", c2, sizeof c2 - 1, 0),
	      "C: ********   [decoded: \"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	      "p=********\"]\n");
	static const char s2[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	CHECK(render(&pm, SMTP_DIR_SERVER, "SCRAM-SHA-256", "334 ", s2, sizeof s2 - 1, 0),
	      "S: 334 ********   [decoded: \"v=********\"]\n");
	/* The empty answer to the server's final message. */
	CHECK(render(&pm, SMTP_DIR_CLIENT, "SCRAM-SHA-256", "", NULL, 0, 0),
	      "C:    [empty response]\n");
}

static void
test_unknown_mech_and_garbage(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	static const char tok[] = "user=a\001auth=Bearer ya29.token\001\001";
	CHECK(render(&pm, SMTP_DIR_CLIENT, "XOAUTH2", "AUTH XOAUTH2 ", tok, sizeof tok - 1, 0),
	      "C: AUTH XOAUTH2 ********   [decoded: \"********\"]\n");
	/* A server's non-base64 334 text is shown escaped, not decoded. */
	struct smtp_line l = { .dir = SMTP_DIR_SERVER, .flags = SMTP_LINE_SASL,
			       .text = "334 not base64!\x1b[2J", .len = 19, .payload_off = 4,
			       .mech = "PLAIN" };
	struct buf out;
	buf_init(&out, 1000);
	assert_int_equal(probe_format_line(&pm, &l, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "S: 334 not base64!\\x1b[2J   [not base64]\n");
	buf_reset(&out);
	/* "*" cancels an exchange (RFC 4954 section 4). */
	struct smtp_line cancel = { .dir = SMTP_DIR_CLIENT, .flags = SMTP_LINE_SASL, .text = "*",
				    .len = 1, .payload_off = 0, .mech = "SCRAM-SHA-1" };
	assert_int_equal(probe_format_line(&pm, &cancel, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "C: *\n");
	buf_free(&out);
}

static void
test_plain_lines(void **state)
{
	(void)state;
	struct probe_mask pm = { 0 };
	struct buf out;
	buf_init(&out, 1000);
	struct smtp_line l = { .dir = SMTP_DIR_SERVER, .text = "250-SIZE \"1\"\\\x80", .len = 14 };
	assert_int_equal(probe_format_line(&pm, &l, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "S: 250-SIZE \\\"1\\\"\\\\\\x80\n");
	buf_reset(&out);
	struct smtp_line n = { .dir = SMTP_DIR_NOTE, .text = "TLS up", .len = 6 };
	assert_int_equal(probe_format_line(&pm, &n, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "-- TLS up\n");
	buf_free(&out);
}

static void
test_caps(void **state)
{
	(void)state;
	struct smtp_ehlo e;
	smtp_ehlo_init(&e);
	smtp_ehlo_parse_line(&e, "STARTTLS", 8);
	smtp_ehlo_parse_line(&e, "SIZE 1000", 9);
	smtp_ehlo_parse_line(&e, "AUTH SCRAM-SHA-256 PLAIN", 24);
	struct buf out;
	buf_init(&out, 1000);
	assert_int_equal(probe_format_caps(&e, false, &out), BUF_OK);
	assert_string_equal(buf_cstr(&out),
			    "capabilities (no TLS): STARTTLS SIZE=1000 AUTH=SCRAM-SHA-256,PLAIN\n");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_cram_md5),
		cmocka_unit_test(test_scram),
		cmocka_unit_test(test_unknown_mech_and_garbage),
		cmocka_unit_test(test_plain_lines),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
