/* b64url.c - base64url without padding, by translating to and from the
 * standard alphabet and letting b64.c (and so OpenSSL) do the
 * arithmetic and the strict checks. */
#include "util/b64url.h"

#include <string.h>

#include "util/b64.h"
#include "util/buf.h"

int
b64url_encode(struct buf *out, const uint8_t *in, size_t n)
{
	size_t start = out->len;
	int rc = b64_encode(out, in, n);
	if (rc != BUF_OK)
		return rc;
	size_t end = out->len;
	while (end > start && out->p[end - 1] == '=')
		end--;
	buf_truncate(out, end);
	for (size_t i = start; i < end; i++) {
		if (out->p[i] == '+')
			out->p[i] = '-';
		else if (out->p[i] == '/')
			out->p[i] = '_';
	}
	return BUF_OK;
}

int
b64url_decode(struct buf *out, const char *in, size_t n)
{
	if (n % 4 == 1)	/* 6 bits cannot make a byte */
		return -1;
	struct buf std;
	buf_init(&std, n + 3);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char c = in[i];
		if (c == '+' || c == '/' || c == '=')
			rc = -1;	/* the standard alphabet's, or padding */
		else
			rc = buf_addch(&std, (uint8_t)(c == '-' ? '+' : c == '_' ? '/' : c));
	}
	while (rc == 0 && std.len % 4 != 0)
		rc = buf_addch(&std, '=');
	if (rc == 0)
		rc = b64_decode(out, std.p != NULL ? (const char *)std.p : "", std.len);
	buf_wipe_free(&std);
	return rc;
}
