/* test_reply.c - SMTP reply stream parser and EHLO capabilities, whole
 * and split at every byte (each input on the heap at its exact size so
 * that ASan sees over-reads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/ehlo.h"
#include "smtp/reply.h"

struct reply_case {
	const char *in;
	int want_rc;		/* of the feed that ends the first reply */
	int code;
	const char *enh;
	const char *text;
	size_t nlines;
	size_t used;		/* bytes consumed by the first reply (0: all) */
};

static const struct reply_case cases[] = {
	{ "220 mail.example.test ESMTP\r\n", SMTP_REPLY_DONE, 220, "", "mail.example.test ESMTP", 1, 0 },
	{ "250-a\r\n250-b\r\n250 c\r\n", SMTP_REPLY_DONE, 250, "", "a\nb\nc", 3, 0 },
	{ "535 5.7.8 Authentication credentials invalid\r\n", SMTP_REPLY_DONE, 535, "5.7.8",
	  "5.7.8 Authentication credentials invalid", 1, 0 },
	{ "250 2.1.0\r\n", SMTP_REPLY_DONE, 250, "2.1.0", "2.1.0", 1, 0 },
	/* class digit must match the reply */
	{ "550 4.1.1 odd\r\n", SMTP_REPLY_DONE, 550, "", "4.1.1 odd", 1, 0 },
	{ "250 2.1000.0 x\r\n", SMTP_REPLY_DONE, 250, "", "2.1000.0 x", 1, 0 },
	{ "334 \r\n", SMTP_REPLY_DONE, 334, "", "", 1, 0 },
	{ "334\r\n", SMTP_REPLY_DONE, 334, "", "", 1, 0 },
	{ "334 PDEyMzQ1QGV4YW1wbGU+\r\n", SMTP_REPLY_DONE, 334, "", "PDEyMzQ1QGV4YW1wbGU+", 1, 0 },
	/* bare LF accepted */
	{ "250-x\n250 y\n", SMTP_REPLY_DONE, 250, "", "x\ny", 2, 0 },
	/* the parser stops after one reply: the rest stays for the caller */
	{ "220 go ahead\r\n250 injected\r\n", SMTP_REPLY_DONE, 220, "", "go ahead", 1, 14 },
	/* garbage */
	{ "hello\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "25\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "2500 x\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "250-a\r\n251 b\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "150 x\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "270 x\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "250_x\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
	{ "\r\n", SMTP_REPLY_SYNTAX, 0, NULL, NULL, 0, 0 },
};

/* Feeds in two pieces; returns the first non-MORE result. */
static int
feed2(struct smtp_reply_parser *p, const char *in, size_t len, size_t cut, size_t *used_r)
{
	size_t used = 0;
	int rc = smtp_reply_feed(p, in, cut, &used);
	if (rc != SMTP_REPLY_MORE) {
		*used_r = used;
		return rc;
	}
	assert_int_equal(used, cut);
	rc = smtp_reply_feed(p, in + cut, len - cut, &used);
	*used_r = cut + used;
	return rc;
}

static void
test_reply_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct reply_case *t = &cases[i];
		size_t len = strlen(t->in);
		char *in = malloc(len ? len : 1);
		assert_non_null(in);
		memcpy(in, t->in, len);
		for (size_t cut = 0; cut <= len; cut++) {
			struct smtp_reply_parser p;
			smtp_reply_parser_init(&p);
			size_t used = 0;
			int rc = feed2(&p, in, len, cut, &used);
			if (rc != t->want_rc)
				fail_msg("case %zu cut %zu: rc %d want %d", i, cut, rc, t->want_rc);
			if (rc == SMTP_REPLY_DONE) {
				const struct smtp_reply *r = smtp_reply_parser_get(&p);
				assert_non_null(r);
				assert_int_equal(r->code, t->code);
				assert_string_equal(r->enh, t->enh);
				assert_string_equal(buf_cstr(&r->text), t->text);
				assert_int_equal(r->nlines, t->nlines);
				assert_int_equal(used, t->used ? t->used : len);
			} else {
				assert_null(smtp_reply_parser_get(&p));
			}
			smtp_reply_parser_free(&p);
		}
		free(in);
	}
}

static void
test_reply_caps(void **state)
{
	(void)state;
	struct smtp_reply_parser p;
	size_t used;
	/* one line over the cap */
	size_t n = SMTP_REPLY_LINE_MAX + 10;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'A', n);
	memcpy(big, "334 ", 4);
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_feed(&p, big, n, &used), SMTP_REPLY_TOOLONG);
	smtp_reply_parser_free(&p);
	/* a line exactly at the cap is fine (a 12288-octet SASL line) */
	memcpy(big + SMTP_REPLY_LINE_MAX, "\r\n", 2);
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_feed(&p, big, SMTP_REPLY_LINE_MAX + 2, &used), SMTP_REPLY_DONE);
	assert_int_equal(smtp_reply_parser_get(&p)->text.len, SMTP_REPLY_LINE_MAX - 4);
	smtp_reply_parser_free(&p);
	free(big);
	/* too many lines */
	smtp_reply_parser_init(&p);
	int rc = SMTP_REPLY_MORE;
	for (int i = 0; i < SMTP_REPLY_LINES_MAX + 5 && rc == SMTP_REPLY_MORE; i++)
		rc = smtp_reply_feed(&p, "250-x\r\n", 7, &used);
	assert_int_equal(rc, SMTP_REPLY_TOOMANY);
	smtp_reply_parser_free(&p);
}

static void
test_reply_sequence(void **state)
{
	(void)state;
	const char *in = "220 hi\r\n250-PIPELINING\r\n250 OK\r\n";
	struct smtp_reply_parser p;
	smtp_reply_parser_init(&p);
	size_t used, off = 0, len = strlen(in);
	assert_int_equal(smtp_reply_feed(&p, in, len, &used), SMTP_REPLY_DONE);
	assert_int_equal(smtp_reply_parser_get(&p)->code, 220);
	off += used;
	assert_int_equal(smtp_reply_feed(&p, in + off, len - off, &used), SMTP_REPLY_DONE);
	assert_int_equal(smtp_reply_parser_get(&p)->code, 250);
	assert_string_equal(buf_cstr(&smtp_reply_parser_get(&p)->text), "PIPELINING\nOK");
	off += used;
	assert_int_equal(off, len);
	char sum[64];
	assert_string_equal(smtp_reply_summary(smtp_reply_parser_get(&p), sum, sizeof sum),
			    "250 PIPELINING / OK");
	smtp_reply_parser_free(&p);
}

/* ---- EHLO ---- */

static void
parse_ehlo(struct smtp_ehlo *e, const char *wire)
{
	size_t len = strlen(wire);
	char *in = malloc(len);
	assert_non_null(in);
	memcpy(in, wire, len);
	struct smtp_reply_parser p;
	smtp_reply_parser_init(&p);
	size_t used;
	assert_int_equal(smtp_reply_feed(&p, in, len, &used), SMTP_REPLY_DONE);
	smtp_ehlo_init(e);
	assert_int_equal(smtp_ehlo_parse(e, smtp_reply_parser_get(&p)), 0);
	smtp_reply_parser_free(&p);
	free(in);
}

static void
test_ehlo_basic(void **state)
{
	(void)state;
	struct smtp_ehlo e;
	parse_ehlo(&e, "250-mail.example.test Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
		       "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
		       "250-DSNX\r\n250 AUTH SCRAM-SHA-256 PLAIN login\r\n");
	assert_string_equal(e.domain, "mail.example.test");
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_PIPELINING));
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_STARTTLS));
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_8BITMIME));
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_ENHANCEDSTATUSCODES));
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_SIZE));
	assert_false(smtp_ehlo_has(&e, SMTP_EXT_DSN));	/* DSNX is not DSN */
	assert_true(e.size_max == 10240000ULL);
	assert_int_equal(e.nmechs, 3);
	assert_string_equal(e.mechs[0], "SCRAM-SHA-256");
	assert_string_equal(e.mechs[2], "LOGIN");
	assert_true(smtp_ehlo_offers_mech(&e, "login"));
	assert_false(smtp_ehlo_offers_mech(&e, "CRAM-MD5"));
}

static void
test_ehlo_several_auth(void **state)
{
	(void)state;
	struct smtp_ehlo e;
	parse_ehlo(&e, "250-x\r\n250-AUTH PLAIN\r\n250-AUTH=LOGIN PLAIN\r\n"
		       "250-AUTH CRAM-MD5 GSSAPI\r\n250 SIZE\r\n");
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_AUTH));
	assert_int_equal(e.nmechs, 4);
	assert_string_equal(e.mechs[0], "PLAIN");
	assert_string_equal(e.mechs[1], "LOGIN");
	assert_string_equal(e.mechs[2], "CRAM-MD5");
	assert_string_equal(e.mechs[3], "GSSAPI");
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_SIZE));
	assert_true(e.size_max == 0);
}

static void
test_ehlo_legacy_only(void **state)
{
	(void)state;
	struct smtp_ehlo e;
	parse_ehlo(&e, "250-x\r\n250 AUTH=PLAIN LOGIN\r\n");
	assert_true(smtp_ehlo_has(&e, SMTP_EXT_AUTH));
	assert_int_equal(e.nmechs, 2);
}

static void
test_ehlo_garbage(void **state)
{
	(void)state;
	struct smtp_ehlo e;
	parse_ehlo(&e, "250-x\r\n250-\r\n250-   \r\n250-AUTH\r\n250-AUTH bad*mech "
		       "THIS-NAME-IS-MUCH-TOO-LONG-FOR-SASL OK_1\r\n250-SIZE -5\r\n250-SIZE 12x\r\n"
		       "250-\x01\xff\r\n250 STARTTLSX\r\n");
	assert_int_equal(e.nmechs, 1);
	assert_string_equal(e.mechs[0], "OK_1");
	assert_false(smtp_ehlo_has(&e, SMTP_EXT_STARTTLS));
	assert_true(e.size_max == 0);
	/* not a 250 */
	struct smtp_reply r = { .code = 502 };
	buf_init(&r.text, 100);
	smtp_ehlo_init(&e);
	assert_int_equal(smtp_ehlo_parse(&e, &r), -1);
	buf_free(&r.text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_cases),
		cmocka_unit_test(test_reply_caps),
		cmocka_unit_test(test_reply_sequence),
		cmocka_unit_test(test_ehlo_basic),
		cmocka_unit_test(test_ehlo_several_auth),
		cmocka_unit_test(test_ehlo_legacy_only),
		cmocka_unit_test(test_ehlo_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
