/* test_data.c - the DATA reader, table-driven, each input run whole and
 * split into two feeds at every byte (STYLE.md 23). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/data.h"
#include "util/buf.h"

struct data_case {
	const char *name;
	const char *in;
	size_t used;		/* bytes consumed; 0 = the data must not end */
	const char *content;	/* content appended (before the first error) */
	enum smtp_data_err err;
	unsigned long err_line;
	size_t max_size;
};

#define END "\r\n.\r\n"

static const struct data_case cases[] = {
	{ "empty message", ".\r\n", 3, "", SMTP_DATA_OK, 0, 0 },
	{ "one line", "Hello" END, 10, "Hello\r\n", SMTP_DATA_OK, 0, 0 },
	{ "next command kept", "Hello" END "QUIT\r\n", 10, "Hello\r\n", SMTP_DATA_OK, 0, 0 },
	{ "empty lines", "\r\n\r\n" END, 9, "\r\n\r\n\r\n", SMTP_DATA_OK, 0, 0 },
	{ "dot-stuffed dot", "..x" END, 8, ".x\r\n", SMTP_DATA_OK, 0, 0 },
	{ "dot removed", ".x" END, 7, "x\r\n", SMTP_DATA_OK, 0, 0 },
	{ "line of one dot", "a\r\n.." END, 10, "a\r\n.\r\n", SMTP_DATA_OK, 0, 0 },
	{ "dot mid-line", "a.b\r\n.c" END, 12, "a.b\r\nc\r\n", SMTP_DATA_OK, 0, 0 },
	{ "no end yet", "Hello\r\n", 0, "Hello\r\n", SMTP_DATA_OK, 0, 0 },
	{ "no end: dot CR", "Hello\r\n.\r", 0, "Hello\r\n", SMTP_DATA_OK, 0, 0 },
	{ "binary bytes", "\x01\xff\x7f" END, 8, "\x01\xff\x7f\r\n", SMTP_DATA_OK, 0, 0 },
	/* the smuggling variants: none may end the data */
	{ "LF.LF", "a\n.\nMAIL FROM:<x@y>\r\n" END, 26, "a", SMTP_DATA_BARE_LF, 1, 0 },
	{ "CRLF.LF", "a\r\n.\nRCPT TO:<x@y>\r\n" END, 25, "a\r\n", SMTP_DATA_BARE_LF, 2, 0 },
	{ "LF.CRLF", "a\n.\r\nRCPT TO:<x@y>\r\n" END, 25, "a", SMTP_DATA_BARE_LF, 1, 0 },
	{ "CR.CRLF", "a\r.\r\nRCPT TO:<x@y>\r\n" END, 25, "a", SMTP_DATA_BARE_CR, 1, 0 },
	{ "CRLF.CR then more", "a\r\n.\rRCPT TO:<x@y>\r\n" END, 25, "a\r\n", SMTP_DATA_BARE_CR, 2, 0 },
	{ "CRLF.CR CR LF", "a\r\n.\r\r\n" END, 12, "a\r\n", SMTP_DATA_BARE_CR, 2, 0 },
	{ "LF.LF alone", "\n.\n", 0, "", SMTP_DATA_BARE_LF, 1, 0 },
	{ "CR CR LF", "a\r\r\n" END, 9, "a", SMTP_DATA_BARE_CR, 1, 0 },
	{ "bare LF line 3", "1\r\n2\r\n3\n4" END, 14, "1\r\n2\r\n3", SMTP_DATA_BARE_LF, 3, 0 },
	{ "bare CR at start", "\rx" END, 7, "", SMTP_DATA_BARE_CR, 1, 0 },
	{ "first error wins", "a\nb\rc" END, 10, "a", SMTP_DATA_BARE_LF, 1, 0 },
	/* size limit: content counted after un-stuffing, CRLF included */
	{ "size at limit", "abc" END, 8, "abc\r\n", SMTP_DATA_OK, 0, 5 },
	{ "size over limit", "abcd" END, 9, "abcd", SMTP_DATA_TOO_BIG, 1, 5 },
	{ "size over mid-line", "abcdef\r\nx" END, 14, "abcd", SMTP_DATA_TOO_BIG, 1, 4 },
	{ "size: stuffing not counted", "..." END, 8, "..\r\n", SMTP_DATA_OK, 0, 4 },
};

static void
feed_one(const struct data_case *t, const uint8_t *in, size_t len, size_t cut)
{
	struct smtp_data d;
	struct buf out;
	buf_init(&out, 1 << 20);
	smtp_data_init(&d, t->max_size);
	size_t used = 0, used2 = 0;
	bool done = smtp_data_feed(&d, in, cut, &used, &out);
	if (done) {
		assert_true(used <= cut);
	} else {
		assert_int_equal(used, cut);
		done = smtp_data_feed(&d, in + cut, len - cut, &used2, &out);
		used += used2;
	}
	if (done != (t->used != 0) || (done && used != t->used))
		fail_msg("%s (cut %zu): done %d used %zu, want used %zu", t->name, cut, done, used, t->used);
	if (out.len != strlen(t->content) || memcmp(buf_cstr(&out), t->content, out.len) != 0)
		fail_msg("%s (cut %zu): content '%s'", t->name, cut, buf_cstr(&out));
	unsigned long line = 0;
	enum smtp_data_err err = smtp_data_error(&d, &line);
	if (err != t->err || line != t->err_line)
		fail_msg("%s (cut %zu): error %d line %lu, want %d line %lu", t->name, cut, err, line,
			 t->err, t->err_line);
	/* once ended, the reader consumes nothing more */
	if (done) {
		size_t more = 99;
		assert_true(smtp_data_feed(&d, (const uint8_t *)"X", 1, &more, &out));
		assert_int_equal(more, 0);
	}
	buf_free(&out);
}

static void
test_data_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct data_case *t = &cases[i];
		size_t len = strlen(t->in);
		uint8_t *in = malloc(len);	/* exactly sized, for ASan */
		assert_non_null(in);
		memcpy(in, t->in, len);
		for (size_t cut = 0; cut <= len; cut++)
			feed_one(t, in, len, cut);
		free(in);
	}
}

/* A line of n content octets then CRLF, then the end. */
static void
check_line_len(size_t n, enum smtp_data_err want)
{
	size_t len = n + 2 + 3;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	memset(in, 'x', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	struct smtp_data d;
	struct buf out;
	buf_init(&out, 4096);
	smtp_data_init(&d, 0);
	size_t used;
	assert_true(smtp_data_feed(&d, in, len, &used, &out));
	assert_int_equal(used, len);
	unsigned long line;
	assert_int_equal(smtp_data_error(&d, &line), want);
	if (want == SMTP_DATA_OK)
		assert_int_equal(out.len, n + 2);
	else
		assert_int_equal(line, 1);
	buf_free(&out);
	free(in);
}

static void
test_data_line_limit(void **state)
{
	(void)state;
	/* RFC 5321 4.5.3.1.6: 1000 octets including CRLF */
	check_line_len(998, SMTP_DATA_OK);
	check_line_len(999, SMTP_DATA_LINE_TOO_LONG);
	check_line_len(5000, SMTP_DATA_LINE_TOO_LONG);
	/* the stuffed dot does not count */
	size_t len = 1 + 998 + 2 + 3;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	struct smtp_data d;
	struct buf out;
	buf_init(&out, 4096);
	smtp_data_init(&d, 0);
	size_t used;
	assert_true(smtp_data_feed(&d, in, len, &used, &out));
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_OK);
	assert_int_equal(out.len, 1000);
	buf_free(&out);
	free(in);
}

static void
test_data_out_full(void **state)
{
	(void)state;
	/* an output buffer smaller than the message: TOO_BIG, and the
	 * reader still finds the end */
	static const char msg[] = "0123456789\r\n0123456789" END "NOOP\r\n";
	struct smtp_data d;
	struct buf out;
	buf_init(&out, 8);
	smtp_data_init(&d, 0);
	size_t used;
	assert_true(smtp_data_feed(&d, (const uint8_t *)msg, sizeof msg - 1, &used, &out));
	assert_int_equal(used, sizeof msg - 1 - 6);
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_TOO_BIG);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_line_limit),
		cmocka_unit_test(test_data_out_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
