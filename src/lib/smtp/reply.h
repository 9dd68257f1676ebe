/* reply.h - SMTP reply parsing for the client side: a stream parser that
 * collects a (possibly multi-line) reply, with a cap on line length and
 * on the number of lines, and splits out the code and the RFC 3463
 * enhanced status code.
 *
 * RFC 5321 4.2.1: "The format for multiline replies requires that every
 * line, except the last, begin with the reply code, followed immediately
 * by a hyphen, "-" (also known as minus), followed by text.  The last
 * line will begin with the reply code, followed immediately by <SP>,
 * optionally some text, and <CRLF>."
 *
 * The parser works on input split at any byte and stops after each
 * complete reply, so that the caller can decide what to do with bytes
 * that follow (the client throws away whatever the server sent behind
 * its 220 to STARTTLS: CVE-2021-22947).
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/span.h"

/* RFC 5321 4.5.3.1.5 allows reply lines of 512 octets, but a 334
 * challenge carries base64 SASL data, and RFC 4954 section 4 lets such
 * exchanges run to 12288 octets per line: accept that much plus the
 * code and CRLF. */
#define SMTP_REPLY_LINE_MAX 12300
/* EHLO replies are the longest in practice (about 20 lines); 100 lines
 * is far above any real server and keeps a hostile one bounded. */
#define SMTP_REPLY_LINES_MAX 100
/* Cap on the collected text of one reply (all lines). */
#define SMTP_REPLY_TEXT_MAX 32768
/* "x.yyy.zzz": RFC 3463 section 2 allows up to 3 digits per part. */
#define SMTP_ENH_MAX 12

enum smtp_reply_rc {
	SMTP_REPLY_MORE = 0,	/* every byte consumed, no complete reply yet */
	SMTP_REPLY_DONE = 1,	/* a reply is complete: see smtp_reply_parser_get() */
	SMTP_REPLY_SYNTAX = -1,	/* not a reply line, or codes differ between lines */
	SMTP_REPLY_TOOLONG = -2,	/* a line over SMTP_REPLY_LINE_MAX */
	SMTP_REPLY_TOOMANY = -3,	/* over SMTP_REPLY_LINES_MAX lines or SMTP_REPLY_TEXT_MAX */
};

struct smtp_reply {
	int code;		/* 200..599 (1xx is refused) */
	char enh[SMTP_ENH_MAX + 1];	/* enhanced status of the first line, "" if none */
	/* The text of every line after "NNN-" / "NNN ", joined by "\n";
	 * enhanced status codes are kept in the text (for messages). */
	struct buf text;
	size_t nlines;
};

struct smtp_reply_parser {
	/* private: */
	struct buf line;	/* the line being collected (without CR LF) */
	struct smtp_reply cur;
	bool done;		/* cur holds a complete reply */
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);
/* Forgets any partial or complete reply. */
void smtp_reply_parser_reset(struct smtp_reply_parser *p);
void smtp_reply_parser_free(struct smtp_reply_parser *p);

/* Consumes bytes of in[0..n) up to and including the end of the next
 * complete reply.  *used_r tells how many were consumed.  On
 * SMTP_REPLY_DONE the reply is available until the next feed/reset.
 * Errors are final until smtp_reply_parser_reset().  A line ends with
 * CRLF; a bare LF is accepted as a line end too (robustness: the client
 * only reads what it is told). */
enum smtp_reply_rc smtp_reply_feed(struct smtp_reply_parser *p, const char *in, size_t n,
				   size_t *used_r);
/* The complete reply after SMTP_REPLY_DONE, else NULL.  Borrowed. */
const struct smtp_reply *smtp_reply_parser_get(const struct smtp_reply_parser *p);

/* Walks the lines of a reply's text: set *rest = span of r->text first,
 * then each call puts the next line in *line_r.  Returns false at the end. */
bool smtp_reply_next_line(struct span *rest, struct span *line_r);

/* The reply's class digit (2, 3, 4 or 5). */
static inline int smtp_reply_class(const struct smtp_reply *r) { return r->code / 100; }

/* Copies a reply (for keeping it past the next feed). dst must be
 * uninitialised or freed; returns a buf_rc. */
int smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src);
void smtp_reply_free(struct smtp_reply *r);

/* Formats "CODE text" with the lines joined by " / " and unprintable
 * bytes escaped into dst (size dstsz); for error messages. Returns dst. */
const char *smtp_reply_summary(const struct smtp_reply *r, char *dst, size_t dstsz);

#endif
