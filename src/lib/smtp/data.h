/* data.h - the DATA phase reader: end-of-data detection, dot-unstuffing
 * and refusal of bare CR / bare LF (the 2023 SMTP smuggling attacks).
 *
 * End of data is CRLF "." CRLF only (RFC 5321 4.1.1.4).  A bare LF or
 * bare CR anywhere in the content is an error that the reader records,
 * but it keeps consuming input up to the real CRLF.CRLF, so that nothing
 * the client smuggled behind a fake end ("\n.\n") is ever executed as a
 * command; the server then refuses the whole message with a 5xx.
 * Works on input split at any byte.
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* RFC 5321 4.5.3.1.6: 1000 octets per text line including CRLF. */
#define SMTP_DATA_LINE_MAX 1000

enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_LF,	/* LF not preceded by CR */
	SMTP_DATA_BARE_CR,	/* CR not followed by LF */
	SMTP_DATA_LINE_TOO_LONG,
	SMTP_DATA_TOO_BIG,	/* content over the size limit */
	SMTP_DATA_LOCAL,	/* out refused bytes (out of memory): not the
				 * client's fault, so never TOO_BIG */
};

/* The most output one call needs room for to consume at least one input
 * byte: the LF after a held-back CR emits CR LF. */
#define SMTP_DATA_OUT_MIN 2

struct smtp_data {
	/* private: */
	int state;
	size_t line_len;
	size_t total;
	size_t max_size;
	unsigned long line_no;
	enum smtp_data_err err;	/* first error seen */
	unsigned long err_line;	/* its line number (1-based) */
};

/* max_size: message size limit in bytes (0 = none). */
void smtp_data_init(struct smtp_data *d, size_t max_size);
/* Consumes up to n input bytes.  Un-stuffed content is appended to out
 * (CRLF line ends kept; nothing is appended once an error was seen).
 * Returns true when the end of data was reached; *used_r tells how many
 * bytes were consumed (input after the end belongs to the next command).
 *
 * Output never overflows out: the reader consumes only as much input as
 * is sure to fit in the room out has left (out->max - out->len).  Each
 * input byte emits at most one byte, except that a CR is held back until
 * its LF comes and then emitted with it, so n input bytes can emit n + 1
 * bytes when the previous call ended on a CR.  So a return of false with
 * *used_r < n means "out is full": empty it and feed the rest.  With at
 * least SMTP_DATA_OUT_MIN bytes of room, at least one byte is consumed.
 * A failing append (out of memory) is SMTP_DATA_LOCAL. */
bool smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t n, size_t *used_r,
		    struct buf *out);
/* The first error seen (SMTP_DATA_OK when none) and its line. */
enum smtp_data_err smtp_data_error(const struct smtp_data *d, unsigned long *line_r);

#endif
