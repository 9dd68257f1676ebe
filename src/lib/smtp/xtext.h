/* xtext.h - RFC 3461 section 4 xtext, used by the AUTH= parameter of
 * MAIL FROM (RFC 4954 section 5). */
#ifndef POSTERN_SMTP_XTEXT_H
#define POSTERN_SMTP_XTEXT_H

#include "util/span.h"

struct buf;

/* Decodes xtext ("+XX" hex escapes, printable ASCII 33..126 except "+"
 * and "=" otherwise).  Appends to out.  Returns 0, or -1 on bad input. */
int smtp_xtext_decode(struct span in, struct buf *out);
/* Encodes s as xtext; appends to out.  Returns a buf_rc. */
int smtp_xtext_encode(const char *s, struct buf *out);

#endif
