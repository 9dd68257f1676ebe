/* records.h - the one on-disk record codec of postern: checksummed
 * frames holding typed fields.  Used by the server spool (segments and
 * the state journal) and meant for the client outbox too.
 *
 * Frame (all integers big-endian):
 *	magic	4 bytes, names the file kind ("PSM2" spool message, ...)
 *	len	4 bytes, payload length
 *	crc	4 bytes, CRC32C (Castagnoli) of len's 4 bytes then the payload
 *	payload	len bytes: fields
 * Field: type (1 byte), length (4 bytes), that many bytes.
 *
 * A frame is whole or it is not there: a reader that finds too few bytes
 * (a torn tail: the writer died in the middle of its write) gets
 * REC_SHORT, one whose magic, length or checksum is wrong gets REC_BAD;
 * neither is ever handed on as data.  The checksum covers the length, so
 * a damaged length is caught too.  CRC32C detects every burst error up to
 * 32 bits and random damage with probability 1 - 2^-32; it guards against
 * torn writes and foreign files, not against an attacker (who could write
 * the spool anyway).
 *
 * The functions here work on bytes in memory only, so a fuzz harness or
 * a unit test can call them on any input (split at every byte, ...). */
#ifndef POSTERN_RECORDS_H
#define POSTERN_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define REC_FRAME_HDR 12
#define REC_FIELD_HDR 5

enum rec_rc {
	REC_OK = 0,
	REC_SHORT = 1,	/* fewer bytes than the frame needs: torn tail or end */
	REC_BAD = -1,	/* not a frame of this kind, or damaged */
};

/* CRC32C of n bytes, continuing from crc (start with 0). */
uint32_t rec_crc32c(uint32_t crc, const void *p, size_t n);

void rec_put_be32(uint8_t *p, uint32_t v);
uint32_t rec_get_be32(const uint8_t *p);

/* Starts a frame in b: reserves its header; returns the frame's offset
 * in b, for rec_frame_end().  Returns BUF_OK or a buf_rc. */
int rec_frame_begin(struct buf *b, size_t *at_r);
/* Appends one field to b.  Returns BUF_OK or a buf_rc. */
int rec_field(struct buf *b, uint8_t type, const void *p, size_t n);
int rec_field_str(struct buf *b, uint8_t type, const char *s);	/* NULL: no field */
int rec_field_u64(struct buf *b, uint8_t type, uint64_t v);		/* decimal */
/* Fills in the header of the frame begun at `at` with its magic, length
 * and checksum. */
void rec_frame_end(struct buf *b, size_t at, const char magic[4]);

/* Parses the frame at p (n bytes available).  On REC_OK *payload_r and
 * *plen_r give its payload and *flen_r its whole length.  A frame
 * whose payload is over max is REC_BAD.  *why_r (static) says what is
 * wrong on REC_BAD. */
int rec_frame_parse(const uint8_t *p, size_t n, const char magic[4], size_t max,
		    const uint8_t **payload_r, size_t *plen_r, size_t *flen_r, const char **why_r);

/* Iterates over the fields of a payload. */
struct rec_iter {
	const uint8_t *p;
	size_t n;
	size_t off;
};
void rec_iter_init(struct rec_iter *it, const uint8_t *p, size_t n);
/* 1 with the next field, 0 at the end, REC_BAD when a field runs past
 * the payload. */
int rec_next(struct rec_iter *it, uint8_t *type_r, const uint8_t **v_r, size_t *vlen_r);
/* A field's bytes as a decimal number; -1 when they are not one. */
int rec_u64(const uint8_t *v, size_t n, uint64_t *out);

#endif
