/* dotstuff.h - the sending side of DATA: dot-stuffing on the fly, for
 * content that arrives in chunks of any size (RFC 5321 4.5.2).
 *
 * The content passes through byte for byte, except that a "." at the
 * start of a line gets a second "." in front of it, and the end adds
 * CRLF "." CRLF.  Line ends are NOT normalised here: that is the job of
 * whoever turns a user's file into mail (`postern send`); a relayed
 * message goes out as it came in.
 *
 * What counts as the start of a line: the first byte, and any byte after
 * an LF, whether a CR came before that LF or not.  A strict receiver
 * only un-stuffs after CRLF, so a "." after a bare LF arrives doubled;
 * but a lenient one (that takes a bare LF as a line end) would otherwise
 * read "\n.\r\n" inside the content as the end of data and run what
 * follows as commands (the 2023 SMTP smuggling attacks).  Correct mail
 * has no bare LF, so for it the two readings agree.
 *
 * The end of data must follow a CRLF.  Content that does not end with
 * CRLF (no line end, or a bare LF / CR last) gets one added, as Postfix
 * does; smtp_dotstuff_end() says whether it did.
 */
#ifndef POSTERN_SMTP_DOTSTUFF_H
#define POSTERN_SMTP_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smtp_dotstuff {
	/* private: */
	bool bol;		/* the next byte starts a line */
	uint8_t last2[2];	/* the last two content bytes, [1] the last */
	uint64_t in_total;	/* content bytes seen */
};

/* The most that smtp_dotstuff_feed() writes for n input bytes: every
 * byte could be a "." starting a line (after "\n"), so 2n is safe. */
#define SMTP_DOTSTUFF_OUT_MAX(n) (2 * (n))
/* The most smtp_dotstuff_end() writes: CR LF "." CR LF. */
#define SMTP_DOTSTUFF_END_MAX 5

void smtp_dotstuff_init(struct smtp_dotstuff *d);
/* Copies in[0..n) to out, stuffing dots; out must have room for
 * SMTP_DOTSTUFF_OUT_MAX(n) bytes.  Returns the bytes written. */
size_t smtp_dotstuff_feed(struct smtp_dotstuff *d, const uint8_t *in, size_t n, uint8_t *out);
/* Writes the end of data to out (room: SMTP_DOTSTUFF_END_MAX): a CRLF
 * when the content did not end with one (*added_crlf_r true), then
 * ".\r\n".  Returns the bytes written. */
size_t smtp_dotstuff_end(struct smtp_dotstuff *d, uint8_t *out, bool *added_crlf_r);

#endif
