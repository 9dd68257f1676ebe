/* fuzz_spool_frame.c - spool v2's frame readers: the record codec
 * (rec_frame_parse: magic, length, CRC32C) over a segment's bytes, each
 * frame's payload decoded as a message (spool_frame_decode).  What a
 * torn or foreign segment holds is reported, never taken for a message:
 * a decoded entry is either whole or marked torn with a reason. */
#include "fuzz.h"

#include "server/spool_impl.h"
#include "util/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *seg = malloc(size > 0 ? size : 1);	/* exact size: ASan sees over-reads */
	if (seg == NULL)
		abort();
	memcpy(seg, data, size);
	size_t off = 0;
	unsigned guard = 0;
	while (off < size && guard++ < 4096) {
		const uint8_t *payload = NULL;
		size_t plen = 0, flen = 0;
		const char *why = NULL;
		int rc = rec_frame_parse(seg + off, size - off, SPOOL_MSG_MAGIC, SPOOL_FRAME_MAX,
					 &payload, &plen, &flen, &why);
		if (rc != REC_OK) {
			FUZZ_CHECK(rc != REC_BAD || why != NULL);
			break;
		}
		FUZZ_CHECK(flen > 0 && flen <= size - off);
		FUZZ_CHECK(payload >= seg + off && payload + plen <= seg + off + flen);
		struct spool_entry e;
		memset(&e, 0, sizeof e);
		if (spool_frame_decode(payload, plen, &e) < 0)
			FUZZ_CHECK(e.torn);
		spool_entry_clear(&e);
		off += flen;
	}
	free(seg);
	return 0;
}
