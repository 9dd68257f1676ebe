/* b64.h - RFC 4648 base64 (standard alphabet, padded), through OpenSSL.
 *
 * Decoding is strict, as SMTP AUTH needs it to be (RFC 4954 section 4:
 * a response that cannot be decoded is rejected with 501): no
 * whitespace, no line breaks, length a multiple of four, padding only at
 * the end, and no stray bits in the last character.
 */
#ifndef POSTERN_B64_H
#define POSTERN_B64_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Appends the encoding of in[0..n) to out. Returns a buf_rc. */
int b64_encode(struct buf *out, const uint8_t *in, size_t n);
/* Appends the decoded bytes to out. Returns 0, -1 for malformed input
 * (out unchanged), or a negative buf_rc when out cannot hold the result. */
int b64_decode(struct buf *out, const char *in, size_t n);
/* Bytes needed to decode / encode n input bytes (upper bound). */
size_t b64_decoded_max(size_t n);
size_t b64_encoded_len(size_t n);

#endif
