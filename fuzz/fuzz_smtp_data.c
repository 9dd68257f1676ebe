/* fuzz_smtp_data.c - the DATA end-of-data scanner (smtp_data_feed).
 *
 * Differential: the content fed whole and fed in pieces (piece sizes
 * from the first input bytes) must give the same output, the same end
 * position and the same error: the scanner is meant to work on input
 * split at any byte. */
#include "fuzz.h"

#include "smtp/data.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (1u << 20)

struct run {
	struct buf out;
	bool end;
	size_t used;
	enum smtp_data_err err;
	unsigned long line;
};

/* Feeds msg[0..n) in pieces whose sizes cycle through cuts[] (a cut of
 * 0 means "the rest"), stopping at the end of data. */
static void
feed(const uint8_t *msg, size_t n, const uint8_t *cuts, size_t ncuts, size_t max_size,
     struct run *r)
{
	struct smtp_data d;
	smtp_data_init(&d, max_size);
	buf_init(&r->out, OUT_MAX);
	r->end = false;
	r->used = 0;
	size_t k = 0;
	while (r->used < n && !r->end) {
		size_t want = n - r->used;
		if (ncuts > 0) {
			size_t c = cuts[k++ % ncuts];
			if (c > 0 && c < want)
				want = c;
		}
		/* An exact-size heap copy of the piece: ASan sees over-reads. */
		uint8_t *piece = malloc(want);
		if (piece == NULL)
			abort();
		memcpy(piece, msg + r->used, want);
		size_t used = 0;
		r->end = smtp_data_feed(&d, piece, want, &used, &r->out);
		free(piece);
		FUZZ_CHECK(used <= want);
		FUZZ_CHECK(r->end || used == want);
		r->used += used;
	}
	r->err = smtp_data_error(&d, &r->line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct fuzz_in in = { data, size };
	size_t ncuts = fuzz_take_byte(&in) % 8;
	if (ncuts > in.n)
		ncuts = in.n;
	const uint8_t *cuts = in.p;
	in.p += ncuts;
	in.n -= ncuts;
	size_t max_size = in.n > 64 ? in.n / 2 : 0;	/* sometimes over the limit */

	struct run whole, split;
	feed(in.p, in.n, NULL, 0, max_size, &whole);
	feed(in.p, in.n, cuts, ncuts, max_size, &split);
	FUZZ_CHECK(whole.end == split.end);
	FUZZ_CHECK(whole.used == split.used);
	FUZZ_CHECK(whole.err == split.err);
	FUZZ_CHECK(whole.line == split.line);
	if (whole.err == SMTP_DATA_OK) {
		FUZZ_CHECK(whole.out.len == split.out.len);
		FUZZ_CHECK(whole.out.len == 0 ||
			   memcmp(whole.out.p, split.out.p, whole.out.len) == 0);
		/* Un-stuffing never makes content longer than the input. */
		FUZZ_CHECK(whole.out.len <= whole.used);
	}
	buf_free(&whole.out);
	buf_free(&split.out);
	return 0;
}
