/* fuzz_tls_rec_open.c - the TLS 1.3 record reader (server/tls_rec.c)
 * over a hostile byte stream, with fixed keys.  The first byte picks
 * the suite; then each message (FUZZ_SEP between them) is either raw
 * wire bytes (after a first byte that is even) or, so that the fuzzer gets past the
 * AEAD, a record a peer seals properly: second byte its content type,
 * the rest its content (the content may end in zeros: padding).  The
 * reader takes the stream as tls_bev.c does: whole records from the
 * front, partial ones wait.  Properties: never more consumed than
 * given; after FAIL or CLOSED nothing more is read; a KeyUpdate keeps
 * both ends in step (the peer then seals under its next key). */
#include "fuzz.h"

#include "server/tls_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_pair(enum tls_rec_suite suite, struct tls_rec *peer, struct tls_rec *srv)
{
	uint8_t a[TLS_REC_SECRET_MAX], b[TLS_REC_SECRET_MAX];
	for (size_t i = 0; i < sizeof a; i++) {
		a[i] = (uint8_t)(i + 1);
		b[i] = (uint8_t)(0xa5 ^ i);
	}
	memset(peer, 0, sizeof *peer);
	memset(srv, 0, sizeof *srv);
	peer->suite = srv->suite = suite;
	FUZZ_CHECK(tls_rec_set_secret(suite, &peer->wr, a) == 0);
	FUZZ_CHECK(tls_rec_set_secret(suite, &srv->rd, a) == 0);
	FUZZ_CHECK(tls_rec_set_secret(suite, &srv->wr, b) == 0);
}

/* Opens every whole record at the front of wire (len bytes); returns
 * the bytes taken, or SIZE_MAX once the connection ended. */
static size_t
fuzz_read(struct tls_rec *peer, struct tls_rec *srv, uint8_t *wire, size_t len)
{
	size_t off = 0;
	for (;;) {
		struct tls_rec_in in;
		enum tls_rec_rc rc = tls_rec_open(srv, wire + off, len - off, &in);
		if (rc == TLS_REC_MORE)
			return off;
		if (rc == TLS_REC_FAIL || rc == TLS_REC_CLOSED) {
			FUZZ_CHECK(in.why != NULL);
			return SIZE_MAX;
		}
		FUZZ_CHECK(in.used >= TLS_REC_HDR + 1 + TLS_REC_TAG && in.used <= len - off);
		if (rc == TLS_REC_DATA)
			FUZZ_CHECK(in.n <= TLS_REC_PLAIN_MAX && in.data >= wire + off &&
				   in.data + in.n <= wire + off + in.used);
		if (rc == TLS_REC_UPDATED)
			FUZZ_CHECK(tls_rec_update(peer->suite, &peer->wr) == 0);
		off += in.used;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in fin = { data, size };
	struct tls_rec peer, srv;
	fuzz_pair((enum tls_rec_suite)(fuzz_take_byte(&fin) % TLS_REC__COUNT), &peer, &srv);
	uint8_t *wire = NULL;
	size_t len = 0, n;
	uint8_t *m;
	while ((m = fuzz_take_msg(&fin, &n)) != NULL) {
		bool sealed = n >= 2 && m[0] % 2 == 1;
		size_t add = sealed ? TLS_REC_SEALED(n - 2) : n > 0 ? n - 1 : 0;
		uint8_t *w = realloc(wire, len + add + 1);
		FUZZ_CHECK(w != NULL);
		wire = w;
		if (sealed)
			add = tls_rec_seal(&peer, m[1], m + 2, n - 2, wire + len);
		else if (add > 0)
			memcpy(wire + len, m + 1, add);
		free(m);
		len += add;
		/* an exact-size copy of what waits, so that ASan sees over-reads */
		uint8_t *copy = malloc(len + 1);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, wire, len);
		size_t took = fuzz_read(&peer, &srv, copy, len);
		free(copy);
		if (took == SIZE_MAX)
			break;
		memmove(wire, wire + took, len - took);
		len -= took;
	}
	free(wire);
	tls_rec_wipe(&srv);
	tls_rec_wipe(&peer);
	return 0;
}
