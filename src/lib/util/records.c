/* records.c - checksummed frames of typed fields (records.h). */
#include "util/records.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Reflected CRC32C polynomial (Castagnoli, RFC 3720 B.4). */
#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_table[8][256];
static int crc_ready;

/* Slicing-by-8 tables: ~1.5 GB/s in portable C, so a 25 MB message
 * costs ~15 ms to check; computed once (idempotent, so a race between
 * two threads would only compute the same values twice). */
static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_ready = 1;
}

uint32_t
rec_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
				     (uint32_t)s[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][s[4]] ^
		      crc_table[2][s[5]] ^ crc_table[1][s[6]] ^ crc_table[0][s[7]];
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *s++) & 0xff];
	return ~crc;
}

void
rec_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
rec_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
rec_frame_begin(struct buf *b, size_t *at_r)
{
	uint8_t *p;
	*at_r = b->len;
	return buf_extend(b, REC_FRAME_HDR, &p);
}

int
rec_field(struct buf *b, uint8_t type, const void *v, size_t n)
{
	uint8_t *p;
	if (n > UINT32_MAX)
		return BUF_TOOBIG;
	int rc = buf_extend(b, REC_FIELD_HDR + n, &p);
	if (rc != BUF_OK)
		return rc;
	p[0] = type;
	rec_put_be32(p + 1, (uint32_t)n);
	if (n > 0)
		memcpy(p + REC_FIELD_HDR, v, n);
	return BUF_OK;
}

int
rec_field_str(struct buf *b, uint8_t type, const char *s)
{
	return s == NULL ? BUF_OK : rec_field(b, type, s, strlen(s));
}

int
rec_field_u64(struct buf *b, uint8_t type, uint64_t v)
{
	char num[24];
	int k = snprintf(num, sizeof num, "%" PRIu64, v);	/* <= 20 digits */
	return rec_field(b, type, num, (size_t)k);
}

void
rec_frame_end(struct buf *b, size_t at, const char magic[4])
{
	uint8_t *h = b->p + at;
	size_t len = b->len - at - REC_FRAME_HDR;
	memcpy(h, magic, 4);
	rec_put_be32(h + 4, (uint32_t)len);
	uint32_t crc = rec_crc32c(0, h + 4, 4);
	rec_put_be32(h + 8, rec_crc32c(crc, h + REC_FRAME_HDR, len));
}

int
rec_frame_parse(const uint8_t *p, size_t n, const char magic[4], size_t max,
		const uint8_t **payload_r, size_t *plen_r, size_t *flen_r, const char **why_r)
{
	*why_r = NULL;
	/* A prefix of the magic is a torn header, anything else is not ours. */
	if (memcmp(p, magic, n < 4 ? n : 4) != 0) {
		*why_r = "bad magic";
		return REC_BAD;
	}
	if (n < REC_FRAME_HDR)
		return REC_SHORT;
	uint32_t len = rec_get_be32(p + 4);
	if (len > max) {
		*why_r = "frame length over the limit";
		return REC_BAD;
	}
	if (n - REC_FRAME_HDR < len)
		return REC_SHORT;
	uint32_t crc = rec_crc32c(rec_crc32c(0, p + 4, 4), p + REC_FRAME_HDR, len);
	if (crc != rec_get_be32(p + 8)) {
		*why_r = "checksum mismatch";
		return REC_BAD;
	}
	*payload_r = p + REC_FRAME_HDR;
	*plen_r = len;
	*flen_r = REC_FRAME_HDR + (size_t)len;
	return REC_OK;
}

void
rec_iter_init(struct rec_iter *it, const uint8_t *p, size_t n)
{
	it->p = p;
	it->n = n;
	it->off = 0;
}

int
rec_next(struct rec_iter *it, uint8_t *type_r, const uint8_t **v_r, size_t *vlen_r)
{
	if (it->off == it->n)
		return 0;
	if (it->n - it->off < REC_FIELD_HDR)
		return REC_BAD;
	const uint8_t *h = it->p + it->off;
	uint32_t len = rec_get_be32(h + 1);
	if (it->n - it->off - REC_FIELD_HDR < len)
		return REC_BAD;
	*type_r = h[0];
	*v_r = h + REC_FIELD_HDR;
	*vlen_r = len;
	it->off += REC_FIELD_HDR + (size_t)len;
	return 1;
}

int
rec_u64(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}
