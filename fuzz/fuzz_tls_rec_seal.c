/* fuzz_tls_rec_seal.c - seal arbitrary plaintext with the TLS 1.3
 * record layer (server/tls_rec.c) in records of at most 2^14 bytes, as
 * tls_bev.c's output filter does, then open the stream again: the
 * bytes come back whole and in order, every record is whole, and the
 * sequence numbers of both ends agree.  The first byte picks the suite
 * and the record size. */
#include "fuzz.h"

#include "server/tls_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in fin = { data, size };
	uint8_t pick = fuzz_take_byte(&fin);
	enum tls_rec_suite suite = (enum tls_rec_suite)(pick % TLS_REC__COUNT);
	size_t chunk = pick / TLS_REC__COUNT < 40 ? (size_t)(pick / TLS_REC__COUNT) + 1
						  : TLS_REC_PLAIN_MAX;
	uint8_t secret[TLS_REC_SECRET_MAX];
	memset(secret, 0x42, sizeof secret);
	struct tls_rec a = { .suite = suite }, b = { .suite = suite };
	FUZZ_CHECK(tls_rec_set_secret(suite, &a.wr, secret) == 0);
	FUZZ_CHECK(tls_rec_set_secret(suite, &b.rd, secret) == 0);
	size_t nrec = fin.n / chunk + 1;
	uint8_t *wire = malloc(fin.n + nrec * TLS_REC_SEALED(0) + 1);
	uint8_t *back = malloc(fin.n + 1);
	FUZZ_CHECK(wire != NULL && back != NULL);
	size_t len = 0, got = 0;
	for (size_t off = 0; off < fin.n || (fin.n == 0 && len == 0); off += chunk) {
		size_t k = fin.n - off < chunk ? fin.n - off : chunk;
		size_t r = tls_rec_seal(&a, TLS_REC_APPDATA, fin.p + off, k, wire + len);
		FUZZ_CHECK(r == TLS_REC_SEALED(k));
		len += r;
		if (fin.n == 0)
			break;
	}
	size_t off = 0;
	while (off < len) {
		struct tls_rec_in in;
		FUZZ_CHECK(tls_rec_open(&b, wire + off, len - off, &in) == TLS_REC_DATA);
		memcpy(back + got, in.data, in.n);
		got += in.n;
		off += in.used;
	}
	FUZZ_CHECK(off == len && got == fin.n && b.rd.seq == a.wr.seq);
	FUZZ_CHECK(fin.n == 0 || memcmp(back, fin.p, fin.n) == 0);
	free(wire);
	free(back);
	tls_rec_wipe(&a);
	tls_rec_wipe(&b);
	return 0;
}
