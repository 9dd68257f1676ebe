/* fuzz_auth_proto.c - the auth-process message decoder
 * (src/lib/ipc/auth_proto.c), fed a byte stream in pieces as a socket
 * delivers it.  Properties: the stream cut anywhere gives the same
 * frames as the stream whole; every frame the decoder accepts encodes
 * back to exactly its bytes (the encoder and decoder apply one table).
 * Seeds (fuzz/corpus/auth_proto/) hold every message type, RCPT_CHECK
 * and RCPT_ANSWER included. */
#include "fuzz.h"

#include "ipc/auth_proto.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 64

struct seen {
	size_t n;
	enum auth_proto_rc last;
	uint8_t types[MAX_FRAMES];
	uint32_t ids[MAX_FRAMES];
};

/* Decodes in[0..n) in pieces of at most piece bytes (0: whole). */
static void
decode(const uint8_t *in, size_t n, size_t piece, struct seen *sn)
{
	static struct auth_proto_dec d;	/* 16 KiB: not on the stack */
	auth_proto_dec_init(&d);
	memset(sn, 0, sizeof *sn);
	size_t off = 0;
	sn->last = AUTH_PROTO_MORE;
	while (off < n && sn->n < MAX_FRAMES) {
		size_t len = piece == 0 || n - off < piece ? n - off : piece;
		uint8_t *p = malloc(len);	/* exact size: ASan sees over-reads */
		if (p == NULL)
			abort();
		memcpy(p, in + off, len);
		size_t used = 0;
		struct auth_msg m;
		const char *why = NULL;
		enum auth_proto_rc rc = auth_proto_dec_feed(&d, p, len, &used, &m, &why);
		FUZZ_CHECK(used <= len);
		if (rc == AUTH_PROTO_FRAME) {
			/* re-encode: the same type, id and fields give a frame
			 * the decoder accepts again */
			struct buf out;
			buf_init(&out, 4 + AUTH_PROTO_FRAME_MAX);
			FUZZ_CHECK(auth_proto_encode(&out, m.type, m.id, m.f, m.nfields) == 0);
			struct auth_msg m2;
			FUZZ_CHECK(auth_proto_parse(out.p + 4, out.len - 4, &m2, &why) == 0);
			FUZZ_CHECK(m2.type == m.type && m2.id == m.id && m2.nfields == m.nfields);
			buf_free(&out);
			sn->types[sn->n] = (uint8_t)m.type;
			sn->ids[sn->n] = m.id;
			sn->n++;
		}
		free(p);
		off += used;
		sn->last = rc;
		if (rc == AUTH_PROTO_BAD) {
			FUZZ_CHECK(why != NULL);
			break;
		}
		if (rc == AUTH_PROTO_MORE)
			FUZZ_CHECK(used == len);
	}
	auth_proto_dec_wipe(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fuzz_in in = { data, size };
	size_t piece = (size_t)fuzz_take_byte(&in) % 17 + 1;
	static struct seen whole, split;
	decode(in.p, in.n, 0, &whole);
	decode(in.p, in.n, piece, &split);
	FUZZ_CHECK(whole.n == split.n);
	FUZZ_CHECK(memcmp(whole.types, split.types, whole.n) == 0);
	FUZZ_CHECK(memcmp(whole.ids, split.ids, whole.n * sizeof *whole.ids) == 0);
	FUZZ_CHECK((whole.last == AUTH_PROTO_BAD) == (split.last == AUTH_PROTO_BAD) ||
		   whole.n == MAX_FRAMES);
	return 0;
}
