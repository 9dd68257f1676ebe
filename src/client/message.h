/* message.h - turning the message a user piped in into what goes on
 * the wire after DATA, and reading the header fields `send -t` needs.
 *
 * Input is what sendmail-compatible callers write: usually LF line ends
 * (a Unix file), sometimes CRLF, rarely a lone CR.  Output is SMTP: CRLF
 * only (RFC 5321 2.3.8: "Lines consist of zero or more data characters
 * terminated by the sequence ASCII character "CR" (hex value 0D)
 * followed immediately by ASCII character "LF""), dot-stuffed (4.5.2),
 * ending with CRLF "." CRLF.
 */
#ifndef POSTERN_CLIENT_MESSAGE_H
#define POSTERN_CLIENT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Line-end normalisation, streaming: what `postern send` does to the
 * user's file before the session sends it (the session itself passes
 * content on byte for byte).  LF, CRLF and a lone CR each become CRLF,
 * also when a CRLF is split between two chunks; a last line without a
 * line end gets CRLF.  Counts what the session needs before MAIL: the
 * size (SIZE=, RFC 1870) and whether a byte >= 0x80 was seen (BODY=). */
struct message_norm {
	bool cr;		/* the last chunk ended on a CR (held back) */
	bool bol;		/* at the start of a line */
	bool eightbit;
	uint64_t size;		/* bytes written so far */
	uint64_t lines;		/* CRLFs written so far */
};

/* The most message_norm_feed() writes for n input bytes: a held CR
 * comes out as CRLF, and every byte could be a lone CR. */
#define MESSAGE_NORM_OUT_MAX(n) (2 * (n) + 2)

void message_norm_init(struct message_norm *st);
/* Writes the normalised form of in[0..n) to out (room:
 * MESSAGE_NORM_OUT_MAX(n)); returns the bytes written. */
size_t message_norm_feed(struct message_norm *st, const uint8_t *in, size_t n, uint8_t *out);
/* The end: the held CR, or a missing final CRLF (out: room for 2).
 * Returns the bytes written. */
size_t message_norm_end(struct message_norm *st, uint8_t *out);

/* A body source (smtp_client.h) that normalises p[0..len) while the
 * session pulls it: for messages a user wrote that sit in memory (the
 * outbox), without a second copy. */
struct smtp_body_src;
struct message_norm_src {
	struct message_norm st;
	const uint8_t *p;
	size_t len, off;
	bool ended;
};
void message_norm_source(struct message_norm_src *s, const uint8_t *p, size_t len,
			 struct smtp_body_src *src_r);
/* What the normalised form of p[0..len) will be: size and 8-bit-ness. */
void message_norm_measure(const uint8_t *p, size_t len, uint64_t *size_r, bool *eightbit_r);

/* ---- header fields (sendmail -t); the readers are in smtp/header.h ---- */

/* True when the header section has a field called name (case-insensitive). */
bool message_has_header(const uint8_t *msg, size_t n, const char *name);

/* Collects the recipients of every To, Cc and Bcc field (folded lines
 * joined), in order.  When out is not NULL the message without its Bcc
 * fields is appended to it (RFC 5322 3.6.3: Bcc recipients must not be
 * shown to the others).  Returns 0, or -1 on memory trouble. */
int message_header_rcpts(const uint8_t *msg, size_t n, char ***list, size_t *n_r,
			 struct buf *out);

/* How `postern send` edits the header section (msmtp's account keys). */
struct message_edit {
	const char *from;	/* envelope sender: the address of an added From */
	const char *fullname;	/* -F: its display name, or NULL */
	bool add_from;		/* add From when there is none (set_from_header auto) */
	bool replace_from;	/* always write our From, dropping theirs (on) */
	bool add_date;		/* add Date when there is none (set_date_header auto) */
	bool drop_bcc;		/* remove_bcc_headers */
	bool undisclosed;	/* drop To, Cc, Bcc; add "To: undisclosed-recipients:;" */
};

/* Appends to out the message in[0..n) with the added fields first, then
 * the original without the dropped ones.  Returns a buf_rc. */
int message_edit(const uint8_t *in, size_t n, const struct message_edit *e, struct buf *out);

/* The first address of the first field called name (e.g. "From"),
 * malloc'd, or NULL. */
char *message_header_address(const uint8_t *msg, size_t n, const char *name);

#endif
