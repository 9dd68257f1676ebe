/* test_addr.c - RFC 5321 paths, ESMTP parameters, RFC 3461 xtext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/addr.h"
#include "smtp/xtext.h"
#include "util/buf.h"

struct path_case {
	const char *in;
	bool allow_null;
	int rc;
	const char *mailbox;	/* on success */
	const char *params;	/* on success */
	const char *why;	/* substring of the reason, on failure */
	size_t len;		/* input length when it holds a NUL; else 0 */
};

static const struct path_case path_cases[] = {
	{ "<a@b.example>", true, 0, "a@b.example", "", NULL, 0 },
	{ " <a@b.example>", true, 0, "a@b.example", "", NULL, 0 },	/* "MAIL FROM: <a@b>" */
	{ "   <a@b.example>", false, 0, "a@b.example", "", NULL, 0 },
	{ "<>", true, 0, "", "", NULL, 0 },
	{ "<> SIZE=10", true, 0, "", "SIZE=10", NULL, 0 },
	{ "<>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "null path", 0 },
	{ "<a@b.example> SIZE=100 BODY=8BITMIME", true, 0, "a@b.example", "SIZE=100 BODY=8BITMIME", NULL, 0 },
	{ "<a@b.example>  AUTH=<>  ", true, 0, "a@b.example", "AUTH=<>", NULL, 0 },
	{ "<a@b.example> ", true, 0, "a@b.example", "", NULL, 0 },
	{ "<first.last+tag@sub.example.test>", false, 0, "first.last+tag@sub.example.test", "", NULL, 0 },
	{ "<!#$%&'*+-/=?^_`{|}~@x.y>", false, 0, "!#$%&'*+-/=?^_`{|}~@x.y", "", NULL, 0 },
	{ "<\"john doe\"@example.test>", false, 0, "\"john doe\"@example.test", "", NULL, 0 },
	{ "<\"a\\\"b@c\"@example.test>", false, 0, "\"a\\\"b@c\"@example.test", "", NULL, 0 },
	{ "<a@[192.0.2.1]>", false, 0, "a@[192.0.2.1]", "", NULL, 0 },
	{ "<a@[IPv6:2001:db8::1]>", false, 0, "a@[IPv6:2001:db8::1]", "", NULL, 0 },
	{ "<@r1.example,@r2.example:a@b.example>", false, 0, "a@b.example", "", NULL, 0 },
	{ "<@r1.example:a@b.example>", true, 0, "a@b.example", "", NULL, 0 },
	{ "<postmaster>", false, 0, "postmaster", "", NULL, 0 },
	{ "<PostMaster>", false, 0, "PostMaster", "", NULL, 0 },
	{ "<postmaster>", true, SMTP_ADDR_SYNTAX, NULL, NULL, "missing '@", 0 },
	{ "<a-1.b-2@x-1.y2>", false, 0, "a-1.b-2@x-1.y2", "", NULL, 0 },
	/* failures */
	{ "", true, SMTP_ADDR_SYNTAX, NULL, NULL, "missing '<'", 0 },
	{ "a@b.example", true, SMTP_ADDR_SYNTAX, NULL, NULL, "missing '<'", 0 },
	{ "<a@b.example", true, SMTP_ADDR_SYNTAX, NULL, NULL, "missing '>'", 0 },
	{ "<a@b.example>x", true, SMTP_ADDR_SYNTAX, NULL, NULL, "after '>'", 0 },
	{ "<a@b.example>>", true, SMTP_ADDR_SYNTAX, NULL, NULL, "after '>'", 0 },
	{ "<a>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "missing '@", 0 },
	{ "<a@>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty domain label", 0 },
	{ "<@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "source route", 0 },
	{ "<a@-b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "starts with '-'", 0 },
	{ "<a@b-.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "ends with '-'", 0 },
	{ "<a@b..example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty domain label", 0 },
	{ "<a@b.example.>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty domain label", 0 },
	{ "<a@b_c.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character in domain", 0 },
	{ "<.a@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty atom", 0 },
	{ "<a.@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character in local part", 0 },
	{ "<a..b@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty atom", 0 },
	{ "<a b@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character", 0 },
	{ "<a(c)@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character", 0 },
	{ "<\"abc@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "unterminated", 0 },
	{ "<\"a\x01\"@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "quoted local part", 0 },
	{ "<\xc3\xa9@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "non-ASCII", 0 },
	{ "<a@\xc3\xa9.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "non-ASCII", 0 },
	{ "<a@[192.0.2.256]>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "address literal", 0 },
	{ "<a@[192.0.2]>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "address literal", 0 },
	{ "<a@[IPv6:2001:db8::g]>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "IPv6", 0 },
	{ "<a@[tag:stuff]>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "address literal", 0 },
	{ "<a@[192.0.2.1>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "]", 0 },
	{ "<@r1.example,a@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "source route", 0 },
	{ "<@r1.example,@:a@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "empty domain label", 0 },
	{ "<@r1.example,>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "source route", 0 },
	{ "<a@b.example\0>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character in domain", 14 },
	{ "<a\0@b.example>", false, SMTP_ADDR_SYNTAX, NULL, NULL, "invalid character in local part", 14 },
};

static void
check_path(const struct path_case *t, size_t len)
{
	char *in = malloc(len ? len : 1);
	assert_non_null(in);
	memcpy(in, t->in, len);
	char mailbox[SMTP_PATH_MAX + 1];
	struct span params = { NULL, 0 };
	const char *why = NULL;
	int rc = smtp_path_parse((struct span){ in, len }, t->allow_null, mailbox, &params, &why);
	if (rc != t->rc)
		fail_msg("'%s': rc %d, want %d (%s)", t->in, rc, t->rc, why ? why : "");
	if (t->rc == 0) {	/* == rc; t->rc tells the analyzer mailbox is set */
		assert_string_equal(mailbox, t->mailbox);
		assert_int_equal(params.n, strlen(t->params));
		assert_memory_equal(params.p, t->params, params.n);
	} else {
		assert_non_null(why);
		if (strstr(why, t->why) == NULL)
			fail_msg("'%s': why '%s', want '%s'", t->in, why, t->why);
		assert_string_equal(mailbox, "");
	}
	free(in);
}

static void
test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof path_cases / sizeof *path_cases; i++) {
		const struct path_case *t = &path_cases[i];
		check_path(t, t->len ? t->len : strlen(t->in));
	}
}

/* Builds "<" local "@" domain ">" with a local part of local_len octets
 * and a domain of domain_len octets made of 63-octet labels. */
static int
parse_sized(size_t local_len, size_t domain_len, const char **why_r)
{
	char in[1024];
	size_t n = 0;
	in[n++] = '<';
	memset(in + n, 'l', local_len);
	n += local_len;
	in[n++] = '@';
	for (size_t i = 0; i < domain_len; i++)
		in[n++] = (i % 64 == 63) ? '.' : 'd';
	in[n++] = '>';
	char *heap = malloc(n);
	assert_non_null(heap);
	memcpy(heap, in, n);
	char mailbox[SMTP_PATH_MAX + 1];
	struct span params;
	int rc = smtp_path_parse((struct span){ heap, n }, false, mailbox, &params, why_r);
	if (rc == 0)
		assert_int_equal(strlen(mailbox), local_len + 1 + domain_len);
	free(heap);
	return rc;
}

static void
test_path_limits(void **state)
{
	(void)state;
	const char *why = NULL;
	/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets */
	assert_int_equal(parse_sized(64, 10, &why), 0);
	assert_int_equal(parse_sized(65, 10, &why), SMTP_ADDR_TOOLONG);
	assert_string_equal(why, "local part longer than 64 octets");
	/* the path at exactly 256 = "<" 64 "@" 189 ">", and one more */
	assert_int_equal(parse_sized(64, 189, &why), 0);
	assert_int_equal(parse_sized(64, 190, &why), SMTP_ADDR_TOOLONG);
	assert_string_equal(why, "path longer than 256 octets");
	/* a legal 255-octet domain still makes the path too long */
	assert_int_equal(parse_sized(1, 255, &why), SMTP_ADDR_TOOLONG);
	assert_string_equal(why, "path longer than 256 octets");
	assert_int_equal(parse_sized(1, 257, &why), SMTP_ADDR_TOOLONG);
	assert_string_equal(why, "domain longer than 255 octets");
	/* RFC 1035: a label is 63 octets at most */
	struct path_case label64 = { "<a@1234567890123456789012345678901234567890123456789012345678901234.x>",
				     false, SMTP_ADDR_TOOLONG, NULL, NULL, "label longer than 63", 0 };
	check_path(&label64, strlen(label64.in));
}

struct param_case {
	const char *in;
	int rcs[4];		/* per call */
	const char *keys[3];
	const char *values[3];
};

static const struct param_case param_cases[] = {
	{ "", { 0 }, { NULL }, { NULL } },
	{ "SIZE=100", { 1, 0 }, { "SIZE" }, { "100" } },
	{ "SIZE=100 BODY=8BITMIME", { 1, 1, 0 }, { "SIZE", "BODY" }, { "100", "8BITMIME" } },
	{ "  SMTPUTF8  X-Y=a<b>  ", { 1, 1, 0 }, { "SMTPUTF8", "X-Y" }, { "", "a<b>" } },
	{ "AUTH=<>", { 1, 0 }, { "AUTH" }, { "<>" } },
	{ "AUTH=a+2Bb@c", { 1, 0 }, { "AUTH" }, { "a+2Bb@c" } },
	{ "SIZE=", { -1 }, { NULL }, { NULL } },
	{ "SIZE==1", { -1 }, { NULL }, { NULL } },
	{ "SIZE=1=2", { -1 }, { NULL }, { NULL } },
	{ "-X=1", { -1 }, { NULL }, { NULL } },
	{ "A_B=1", { -1 }, { NULL }, { NULL } },
	{ "K=v\x01", { -1 }, { NULL }, { NULL } },
	{ "K=\xc3\xa9", { -1 }, { NULL }, { NULL } },
	{ "OK=1 =2", { 1, -1 }, { "OK" }, { "1" } },
};

static void
test_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof param_cases / sizeof *param_cases; i++) {
		const struct param_case *t = &param_cases[i];
		size_t len = strlen(t->in);
		char *in = malloc(len ? len : 1);
		assert_non_null(in);
		memcpy(in, t->in, len);
		struct span params = { in, len };
		for (size_t k = 0;; k++) {
			struct smtp_param p;
			int rc = smtp_param_take(&params, &p);
			if (rc != t->rcs[k])
				fail_msg("'%s' call %zu: rc %d, want %d", t->in, k, rc, t->rcs[k]);
			if (rc != 1)
				break;
			assert_true(span_eq(p.key, t->keys[k]));
			assert_true(span_eq(p.value, t->values[k]));
		}
		free(in);
	}
}

static void
test_domain_helpers(void **state)
{
	(void)state;
	assert_string_equal(smtp_addr_domain("a@b.example"), "b.example");
	assert_string_equal(smtp_addr_domain("\"x@y\"@c.example"), "c.example");
	assert_string_equal(smtp_addr_domain("postmaster"), "");
	assert_true(smtp_domain_in_list("Example.TEST", "example.test"));
	assert_true(smtp_domain_in_list("b.test", "a.test, b.test c.test"));
	assert_true(smtp_domain_in_list("c.test", "a.test,b.test\tc.test"));
	assert_false(smtp_domain_in_list("example.test", "sub.example.test"));
	assert_false(smtp_domain_in_list("sub.example.test", "example.test"));
	assert_false(smtp_domain_in_list("example.tes", "example.test"));
	assert_false(smtp_domain_in_list("", "example.test"));
	assert_false(smtp_domain_in_list("example.test", ""));
	assert_false(smtp_domain_in_list("example.test", NULL));
}

struct xtext_case {
	const char *in;
	const char *out;	/* NULL: refused */
};

static const struct xtext_case xtext_cases[] = {
	{ "", "" },
	{ "alice@example.test", "alice@example.test" },
	{ "a+2Bb@c", "a+b@c" },
	{ "a+2bb@c", "a+b@c" },		/* lower-case hex accepted on decode */
	{ "+3D+20+2B", "= +" },
	{ "<>", "<>" },
	{ "a+2", NULL },
	{ "a+", NULL },
	{ "a+G0", NULL },
	{ "a+00", NULL },		/* decoded NUL */
	{ "a=b", NULL },
	{ "a b", NULL },
	{ "a\x7f", NULL },
	{ "a\xc3\xa9", NULL },
};

static void
test_xtext_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof xtext_cases / sizeof *xtext_cases; i++) {
		const struct xtext_case *t = &xtext_cases[i];
		size_t len = strlen(t->in);
		char *in = malloc(len ? len : 1);
		assert_non_null(in);
		memcpy(in, t->in, len);
		struct buf out;
		buf_init(&out, 512);
		buf_addstr(&out, "pre:");
		int rc = smtp_xtext_decode((struct span){ in, len }, &out);
		if (t->out == NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(buf_cstr(&out), "pre:");
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(buf_cstr(&out) + 4, t->out);
		}
		buf_free(&out);
		free(in);
	}
}

static void
test_xtext_encode(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 512);
	assert_int_equal(smtp_xtext_encode("a+b=c d@\x7f\xc3\xa9", &out), BUF_OK);
	assert_string_equal(buf_cstr(&out), "a+2Bb+3Dc+20d@+7F+C3+A9");
	/* round trip */
	struct buf back;
	buf_init(&back, 512);
	assert_int_equal(smtp_xtext_decode((struct span){ (const char *)out.p, out.len }, &back), 0);
	assert_string_equal(buf_cstr(&back), "a+b=c d@\x7f\xc3\xa9");
	buf_free(&back);
	/* a full buffer leaves it unchanged */
	buf_free(&out);
	buf_init(&out, 5);
	assert_int_equal(smtp_xtext_encode("ab+cd", &out), BUF_TOOBIG);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_domain_helpers),
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_xtext_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
