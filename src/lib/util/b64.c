/* b64.c - strict RFC 4648 base64 through OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock. OpenSSL's decoder is lenient (it skips leading
 * whitespace and treats padding loosely), so the input is validated here
 * first and OpenSSL only does the arithmetic. */
#include "util/b64.h"

#include <string.h>

#include <openssl/evp.h>

#include "util/buf.h"

size_t
b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
b64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

int
b64_encode(struct buf *out, const uint8_t *in, size_t n)
{
	if (n > (size_t)INT32_MAX / 4 * 3)
		return BUF_TOOBIG;
	uint8_t *dst;
	int rc = buf_extend(out, b64_encoded_len(n), &dst);
	if (rc != BUF_OK)
		return rc;
	if (n > 0)	/* writes the encoding and a NUL, which buf_extend left room for */
		EVP_EncodeBlock(dst, in, (int)n);
	return BUF_OK;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Checks RFC 4648 canonical form; returns the number of '=' or -1. */
static int
b64_validate(const char *in, size_t n)
{
	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	int pad = 0;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - (size_t)pad; i++)
		if (b64_value((unsigned char)in[i]) < 0)
			return -1;
	/* The bits that padding leaves over must be zero (RFC 4648 3.5). */
	int last = b64_value((unsigned char)in[n - 1 - (size_t)pad]);
	if (pad == 2 && (last & 0x0f) != 0)
		return -1;
	if (pad == 1 && (last & 0x03) != 0)
		return -1;
	return pad;
}

int
b64_decode(struct buf *out, const char *in, size_t n)
{
	int pad = b64_validate(in, n);
	if (pad < 0)
		return -1;
	if (n > (size_t)INT32_MAX)
		return BUF_TOOBIG;
	size_t start = out->len;
	size_t len = b64_decoded_max(n);
	uint8_t *dst;
	int rc = buf_extend(out, len, &dst);
	if (rc != BUF_OK)
		return rc;
	if (n > 0 && EVP_DecodeBlock(dst, (const unsigned char *)in, (int)n) != (int)len) {
		buf_truncate(out, start);
		return -1;
	}
	buf_truncate(out, start + len - (size_t)pad);
	return 0;
}
