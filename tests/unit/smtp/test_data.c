/* test_data.c - the DATA reader, table-driven, each input run whole,
 * split into two feeds at every byte (STYLE.md 23), and through output
 * buffers of a few bytes. */
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

/* Compares what the reader did with what case t wants; how names the
 * way the input was fed ("cut" at byte k, "cap" k of output...). */
static void
check_result(const struct data_case *t, const char *how, size_t k, const struct smtp_data *d,
	     bool done, size_t used, const struct buf *out)
{
	if (done != (t->used != 0) || (done && used != t->used))
		fail_msg("%s (%s %zu): done %d used %zu, want used %zu", t->name, how, k, done, used,
			 t->used);
	if (out->len != strlen(t->content) || memcmp(buf_cstr(out), t->content, out->len) != 0)
		fail_msg("%s (%s %zu): content '%s'", t->name, how, k, buf_cstr(out));
	unsigned long line = 0;
	enum smtp_data_err err = smtp_data_error(d, &line);
	if (err != t->err || line != t->err_line)
		fail_msg("%s (%s %zu): error %d line %lu, want %d line %lu", t->name, how, k, err, line,
			 t->err, t->err_line);
}

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
	check_result(t, "cut", cut, &d, done, used, &out);
	/* once ended, the reader consumes nothing more */
	if (done) {
		size_t more = 99;
		assert_true(smtp_data_feed(&d, (const uint8_t *)"X", 1, &more, &out));
		assert_int_equal(more, 0);
	}
	buf_free(&out);
}

/* Feeds in[0..len) the way cmd_data.c does: pieces of at most `piece`
 * bytes, into an output of cap bytes that is moved to *all after every
 * call.  Returns whether the end was found; *used_r counts the bytes
 * consumed. */
static bool
feed_flushing(struct smtp_data *d, const uint8_t *in, size_t len, size_t piece, size_t cap,
	      struct buf *all, size_t *used_r)
{
	struct buf out;
	buf_init(&out, cap);
	size_t off = 0;
	bool end = false;
	while (off < len && !end) {
		size_t n = len - off < piece ? len - off : piece, used = 0;
		end = smtp_data_feed(d, in + off, n, &used, &out);
		assert_true(used <= n);
		assert_true(out.len <= cap);
		/* with SMTP_DATA_OUT_MIN of room, something is consumed */
		assert_true(used > 0 || end);
		off += used;
		if (out.len > 0)
			assert_int_equal(buf_add(all, out.p, out.len), BUF_OK);
		buf_reset(&out);
	}
	buf_free(&out);
	*used_r = off;
	return end;
}

/* An output too small for the input is not an error: the reader stops,
 * the caller empties the output and feeds the rest.  Through outputs of
 * 2 to 9 bytes, fed in pieces of every size, t gives the same result as
 * fed whole. */
static void
feed_small_outputs(const struct data_case *t, const uint8_t *in, size_t len)
{
	for (size_t cap = SMTP_DATA_OUT_MIN; cap < 10; cap++) {
		for (size_t piece = 1; piece <= len; piece++) {
			struct smtp_data d;
			struct buf all;
			buf_init(&all, 1 << 20);
			smtp_data_init(&d, t->max_size);
			size_t used = 0;
			bool done = feed_flushing(&d, in, len, piece, cap, &all, &used);
			check_result(t, "cap", cap, &d, done, used, &all);
			buf_free(&all);
		}
	}
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
		feed_small_outputs(t, in, len);
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

/* Issue 12 item 1: a TLS record ended right after a CR, and the next
 * record was exactly as big as the room in the server's 16 KiB chunk
 * buffer.  The CR held back came out with the record's first byte (LF),
 * so 16 384 input bytes made 16 385 output bytes, which the buffer
 * refused, and that was answered 552 "message size exceeds fixed
 * maximum".  The reader must take only what fits, with no error. */
static void
test_data_held_cr_at_chunk_boundary(void **state)
{
	(void)state;
	const size_t chunk = 16384;
	static const char first[] = "Subject: t\r\n\r\nx\r";
	uint8_t *rec = malloc(chunk);
	assert_non_null(rec);
	rec[0] = '\n';
	for (size_t i = 1; i < chunk; i++)
		rec[i] = (i % 72 == 70) ? '\r' : (i % 72 == 71) ? '\n' : 'y';
	struct smtp_data d;
	struct buf out, all;
	buf_init(&out, chunk);
	buf_init(&all, 4 * chunk);
	smtp_data_init(&d, 0);
	size_t used = 0;
	assert_false(smtp_data_feed(&d, (const uint8_t *)first, sizeof first - 1, &used, &out));
	assert_int_equal(used, sizeof first - 1);
	assert_int_equal(out.len, sizeof first - 2);	/* the CR is held back */
	assert_int_equal(buf_add(&all, out.p, out.len), BUF_OK);
	buf_reset(&out);
	/* the whole record, into an empty output of exactly its size */
	assert_false(smtp_data_feed(&d, rec, chunk, &used, &out));
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_OK);
	assert_int_equal(used, chunk - 1);
	assert_int_equal(out.len, chunk);
	assert_int_equal(buf_add(&all, out.p, out.len), BUF_OK);
	buf_reset(&out);
	assert_false(smtp_data_feed(&d, rec + used, chunk - used, &used, &out));
	assert_int_equal(used, 1);
	assert_int_equal(buf_add(&all, out.p, out.len), BUF_OK);
	buf_reset(&out);
	assert_true(smtp_data_feed(&d, (const uint8_t *)END, 5, &used, &out));
	assert_int_equal(buf_add(&all, out.p, out.len), BUF_OK);
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_OK);
	/* nothing lost, nothing added: first + rec + CRLF */
	assert_int_equal(all.len, sizeof first - 1 + chunk + 2);
	assert_memory_equal(all.p, first, sizeof first - 1);
	assert_memory_equal(all.p + sizeof first - 1, rec, chunk);
	assert_memory_equal(all.p + all.len - 2, "\r\n", 2);
	buf_free(&out);
	buf_free(&all);
	free(rec);
}

/* The held-back byte in its smallest form: after "a\r", an output with
 * room for one byte takes nothing (the LF would need two), and room
 * for two takes the LF. */
static void
test_data_held_cr_needs_two(void **state)
{
	(void)state;
	struct smtp_data d;
	struct buf out;
	buf_init(&out, 8);
	smtp_data_init(&d, 0);
	size_t used = 0;
	assert_false(smtp_data_feed(&d, (const uint8_t *)"a\r", 2, &used, &out));
	assert_int_equal(used, 2);
	assert_int_equal(out.len, 1);
	buf_free(&out);
	buf_init(&out, 1);
	assert_false(smtp_data_feed(&d, (const uint8_t *)"\nb", 2, &used, &out));
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_OK);
	buf_free(&out);
	buf_init(&out, SMTP_DATA_OUT_MIN);
	assert_false(smtp_data_feed(&d, (const uint8_t *)"\nb", 2, &used, &out));
	assert_int_equal(used, 1);
	assert_memory_equal(out.p, "\r\n", 2);
	assert_int_equal(smtp_data_error(&d, NULL), SMTP_DATA_OK);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_line_limit),
		cmocka_unit_test(test_data_held_cr_at_chunk_boundary),
		cmocka_unit_test(test_data_held_cr_needs_two),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
