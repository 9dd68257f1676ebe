/* header.h - RFC 5322 header fields and address lists, read from a
 * message buffer.  Pure functions; nothing is written into the input.
 *
 * Shared by the client (`send -t` takes recipients from To/Cc/Bcc) and
 * the server (check_header_from: the From addresses of a submitted
 * message must belong to the authenticated user).
 */
#ifndef POSTERN_SMTP_HEADER_H
#define POSTERN_SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the header section of msg, including the empty line that
 * ends it (or all of msg when there is none).  Lines end with LF or
 * CRLF. */
size_t smtp_header_len(const uint8_t *msg, size_t n);

/* One header field inside msg: [start, start + name_len) is its name
 * (without trailing blanks), [value, end) its value with every
 * continuation line and line end. */
struct smtp_header_field {
	size_t start, name_len, value, end;
};

/* The next field of the header section msg[0..hlen) at or after *pos;
 * false at the end.  Lines that are neither a field nor a continuation
 * are skipped. */
bool smtp_header_next(const uint8_t *msg, size_t hlen, size_t *pos, struct smtp_header_field *f_r);
/* True when f is called name (ASCII case-insensitive). */
bool smtp_header_is(const uint8_t *msg, const struct smtp_header_field *f, const char *name);

/* Strict: refuse what a reader could see differently than we do (text
 * after an <angle-addr>, an unterminated quote, comment or <, an address
 * too long to copy), instead of taking a best guess. */
#define SMTP_HEADER_STRICT 1u

/* Adds the addresses of an RFC 5322 address-list (a header field value,
 * unfolded or not) to *list (count *n_r; malloc'd strings).  Handles
 * display names, quoted strings with commas, comments, <angle-addr> and
 * groups ("undisclosed-recipients:;").  Returns 0, -1 on malloc failure,
 * -2 on syntax the strict mode refuses (the list may have grown). */
int smtp_header_addresses(const char *value, size_t len, unsigned flags, char ***list,
			  size_t *n_r);

/* Appends a malloc'd copy of s[0..len) to *list (count *n).  Returns 0,
 * or -1 on malloc failure (the list is unchanged). */
int smtp_list_add(char ***list, size_t *n, const char *s, size_t len);
/* Frees every string and the array; NULL-safe, sets *list = NULL. */
void smtp_list_free(char ***list, size_t n);

#endif
