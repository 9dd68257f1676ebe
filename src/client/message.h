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

/* Appends the DATA content of in[0..n) to out: LF, CRLF and lone CR all
 * become CRLF, a line starting with "." gets another ".", a final CRLF
 * is added when missing, then ".\r\n".  *eightbit_r tells whether a byte
 * >= 0x80 was seen (for BODY=8BITMIME).  *size_r gets the size the
 * message has after line-end normalisation, before dot-stuffing (the
 * SIZE= value, RFC 1870).  Returns a buf_rc. */
int message_to_wire(const uint8_t *in, size_t n, struct buf *out, bool *eightbit_r,
		    size_t *size_r);

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
