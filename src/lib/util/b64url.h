/* b64url.h - RFC 4648 section 5 base64url without padding, as JWS
 * (RFC 7515 section 2) and PKCE (RFC 7636 appendix A) use it; strict
 * like b64.h: only the url-safe alphabet, no '=', no whitespace, no
 * length that no encoding produces, no stray bits in the last character.
 */
#ifndef POSTERN_B64URL_H
#define POSTERN_B64URL_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Appends the unpadded encoding of in[0..n) to out. Returns a buf_rc. */
int b64url_encode(struct buf *out, const uint8_t *in, size_t n);
/* Appends the decoded bytes to out. Returns 0, -1 for malformed input
 * (out unchanged), or a negative buf_rc when out cannot hold the result. */
int b64url_decode(struct buf *out, const char *in, size_t n);

#endif
