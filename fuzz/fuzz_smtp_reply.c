/* fuzz_smtp_reply.c - the client's reply parser (smtp_reply_feed) and
 * the EHLO capability parser on what a hostile server sends: one reply
 * after another, the stream cut into pieces, every complete 250 reply
 * also read as an EHLO answer. */
#include "fuzz.h"

#include "smtp/ehlo.h"
#include "smtp/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct fuzz_in in = { data, size };
	size_t piece_max = (size_t)fuzz_take_byte(&in) + 1;
	struct smtp_reply_parser p;
	smtp_reply_parser_init(&p);
	unsigned guard = 0;
	while (in.n > 0 && guard++ < 100000) {
		size_t n = in.n < piece_max ? in.n : piece_max;
		char *piece = fuzz_copy(in.p, n, 0);
		size_t used = 0;
		enum smtp_reply_rc rc = smtp_reply_feed(&p, piece, n, &used);
		free(piece);
		FUZZ_CHECK(used <= n);
		in.p += used;
		in.n -= used;
		if (rc == SMTP_REPLY_DONE) {
			const struct smtp_reply *r = smtp_reply_parser_get(&p);
			FUZZ_CHECK(r != NULL);
			FUZZ_CHECK(r->code >= 200 && r->code <= 599);
			char sum[128];
			(void)smtp_reply_summary(r, sum, sizeof sum);
			FUZZ_CHECK(strlen(sum) < sizeof sum);
			struct smtp_reply copy;
			if (smtp_reply_copy(&copy, r) == 0)
				smtp_reply_free(&copy);
			struct smtp_ehlo e;
			smtp_ehlo_init(&e);
			if (smtp_ehlo_parse(&e, r) == 0) {
				FUZZ_CHECK(e.nmechs <= SMTP_EHLO_MECHS_MAX);
				for (size_t i = 0; i < e.nmechs; i++)
					FUZZ_CHECK(smtp_ehlo_offers_mech(&e, e.mechs[i]));
			}
			smtp_reply_parser_reset(&p);
		} else if (rc != SMTP_REPLY_MORE) {
			smtp_reply_parser_reset(&p);
			if (used == 0 && in.n > 0) {	/* skip a byte to go on */
				in.p++;
				in.n--;
			}
		} else if (used == 0) {
			break;
		}
	}
	smtp_reply_parser_free(&p);
	return 0;
}
