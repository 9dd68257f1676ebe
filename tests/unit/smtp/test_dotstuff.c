/* test_dotstuff.c - the streaming dot-stuffer, whole and split at every
 * byte (STYLE 23): "." lines, "\r\n.\r\n" inside content, bare LF kept,
 * content without a final CRLF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/dotstuff.h"

struct stuff_case {
	const char *in, *out;	/* out: what goes on the wire after 354 */
	bool added;		/* a CRLF had to be added */
};

static const struct stuff_case cases[] = {
	{ "", ".\r\n", false },
	{ "a\r\n", "a\r\n.\r\n", false },
	{ ".\r\n", "..\r\n.\r\n", false },
	{ "x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n", false },
	{ "..\r\n...x\r\n", "...\r\n....x\r\n.\r\n", false },
	{ "no end", "no end\r\n.\r\n", true },
	{ "ends in .", "ends in .\r\n.\r\n", true },
	/* bare LF and bare CR pass through unchanged ... */
	{ "a\nb\r\n", "a\nb\r\n.\r\n", false },
	{ "a\rb\r\n", "a\rb\r\n.\r\n", false },
	/* ... but a "." after a bare LF is stuffed: no "\n.\r\n" end */
	{ "a\n.\r\nb\r\n", "a\n..\r\nb\r\n.\r\n", false },
	/* a bare LF or CR last still needs a CRLF before the dot */
	{ "a\n", "a\n\r\n.\r\n", true },
	{ "a\r", "a\r\r\n.\r\n", true },
	{ "\n", "\n\r\n.\r\n", true },
	{ ".", "..\r\n.\r\n", true },
	{ "\r\n", "\r\n.\r\n", false },
	{ "caf\xc3\xa9\r\n", "caf\xc3\xa9\r\n.\r\n", false },
};

/* Runs in through a fresh stuffer cut into pieces at cut1 and cut2;
 * returns the wire bytes (malloc'd, *len_r). */
static uint8_t *
run(const uint8_t *in, size_t n, size_t cut1, size_t cut2, size_t *len_r, bool *added_r)
{
	struct smtp_dotstuff d;
	smtp_dotstuff_init(&d);
	uint8_t *out = malloc(SMTP_DOTSTUFF_OUT_MAX(n) + SMTP_DOTSTUFF_END_MAX);
	size_t o = 0;
	size_t cuts[] = { 0, cut1, cut2, n };
	for (size_t k = 0; k + 1 < 4; k++) {
		size_t len = cuts[k + 1] - cuts[k];
		/* each piece on the heap at its size: ASan sees over-reads */
		uint8_t *piece = malloc(len ? len : 1);
		memcpy(piece, in + cuts[k], len);
		o += smtp_dotstuff_feed(&d, piece, len, out + o);
		free(piece);
	}
	o += smtp_dotstuff_end(&d, out + o, added_r);
	*len_r = o;
	return out;
}

static void
test_split_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct stuff_case *t = &cases[i];
		size_t n = strlen(t->in);
		for (size_t c1 = 0; c1 <= n; c1++) {
			for (size_t c2 = c1; c2 <= n; c2++) {
				size_t len;
				bool added;
				uint8_t *out = run((const uint8_t *)t->in, n, c1, c2, &len, &added);
				assert_int_equal(len, strlen(t->out));
				assert_memory_equal(out, t->out, len);
				assert_int_equal(added, t->added);
				free(out);
			}
		}
	}
}

/* Worst case for the output bound: every byte a "." after an LF. */
static void
test_bound(void **state)
{
	(void)state;
	const char *in = "\n.\n.\n.\n.";
	size_t len;
	bool added;
	uint8_t *out = run((const uint8_t *)in, strlen(in), 1, 2, &len, &added);
	assert_memory_equal(out, "\n..\n..\n..\n..\r\n.\r\n", len);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
