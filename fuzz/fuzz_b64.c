/* fuzz_b64.c - strict base64 (util/b64.c, over OpenSSL's EVP block
 * coder).  Properties: what decodes re-encodes to exactly the input
 * (strictness: one encoding per byte string), and any bytes encode and
 * decode back to themselves. */
#include "fuzz.h"

#include "util/b64.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size, 0);
	struct buf dec, enc;
	buf_init(&dec, b64_decoded_max(size) + 1);
	buf_init(&enc, b64_encoded_len(size) + 1);
	if (b64_decode(&dec, text, size) == 0) {
		FUZZ_CHECK(b64_encode(&enc, dec.p, dec.len) == 0);
		FUZZ_CHECK(enc.len == size);
		FUZZ_CHECK(size == 0 || memcmp(enc.p, text, size) == 0);
	} else {
		FUZZ_CHECK(dec.len == 0);
	}
	buf_free(&dec);
	buf_free(&enc);

	/* The other way: any bytes survive a round trip. */
	struct buf e2, d2;
	buf_init(&e2, b64_encoded_len(size) + 1);
	buf_init(&d2, b64_decoded_max(b64_encoded_len(size)) + 1);
	FUZZ_CHECK(b64_encode(&e2, data, size) == 0);
	char *etext = fuzz_copy(e2.p != NULL ? e2.p : (const uint8_t *)"", e2.len, 0);
	FUZZ_CHECK(b64_decode(&d2, etext, e2.len) == 0);
	FUZZ_CHECK(d2.len == size && (size == 0 || memcmp(d2.p, data, size) == 0));
	free(etext);
	buf_free(&e2);
	buf_free(&d2);
	free(text);
	return 0;
}
