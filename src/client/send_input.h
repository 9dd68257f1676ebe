/* send_input.h - `postern send`'s message, from stdin to a form the
 * client session can stream: the header section is read into memory
 * (for -t, From, Bcc removal, added From/Date), and the whole message,
 * edited and with every line end made CRLF, is written to a private,
 * already unlinked temporary file while its size and 8-bit-ness are
 * counted; the session then pulls it from there in chunks.
 *
 * Why a file and not straight from stdin into the session: SIZE= and
 * BODY=8BITMIME go on MAIL FROM, before the first byte of content, and
 * a message larger than the server's SIZE is not sent at all (RFC 1870
 * section 6).  sendmail and Postfix's postdrop write a queue file first
 * for the same reason.  Memory stays bounded by the header cap whatever
 * the message size.
 */
#ifndef POSTERN_CLIENT_SEND_INPUT_H
#define POSTERN_CLIENT_SEND_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/smtp_client.h"
#include "util/buf.h"

/* The header section is read whole: a "header" larger than this is no
 * header section (a body piped without one); the edits then look at
 * its first SEND_HEADER_MAX bytes only. */
#define SEND_HEADER_MAX ((size_t)4 * 1024 * 1024)

struct send_input {
	struct buf head;	/* the header section and maybe some body after it */
	int fd;			/* the prepared message; -1 before send_input_spool() */
	uint64_t size;		/* its size (CRLF line ends) */
	uint64_t lines;		/* its line count: size - lines is msmtp's "mailsize" */
	bool eightbit;
};

void send_input_init(struct send_input *in);
/* Reads f until the header section is complete (an empty line), the
 * cap, or the end.  Returns 0, or -1 with errno on a read error. */
int send_input_read_head(struct send_input *in, FILE *f);
/* Writes edited (the edited form of in->head) and then the rest of f,
 * line ends normalised, to a new temporary file (in $TMPDIR, else
 * /tmp).  Returns 0, or -1 with *err_r (malloc'd) saying what failed;
 * *read_err_r tells whether it was reading f (else the file). */
int send_input_spool(struct send_input *in, FILE *f, const struct buf *edited, char **err_r,
		     bool *read_err_r);
/* A body source reading the prepared message from its start. */
struct smtp_body_src send_input_source(struct send_input *in);
/* Loads the prepared message into out (for the outbox); buf_rc, or
 * BUF_NOMEM on a read error. */
int send_input_load(struct send_input *in, struct buf *out);
void send_input_free(struct send_input *in);

#endif
