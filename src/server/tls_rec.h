/* tls_rec.h - the TLS 1.3 record layer (RFC 8446 section 5) after the
 * handshake, without OpenSSL's SSL object: what kernel TLS does, in
 * user space.  tls_bev.c takes the traffic secrets from OpenSSL at the
 * end of a TLS 1.3 handshake, frees the SSL object, and runs the
 * connection through these functions; an idle session then keeps two
 * secrets, keys, IVs and sequence numbers (struct tls_rec, 200 bytes)
 * instead of about 12 KB of OpenSSL state.
 *
 * Pure functions over buffers: no I/O, no libevent (unit tests and
 * fuzz/fuzz_tls_rec.c drive them directly).  The AEAD runs in one
 * EVP_CIPHER_CTX per cipher and direction for the whole process,
 * re-keyed for every record: the network process is single-threaded,
 * and a context per session would cost 1 KB each. */
#ifndef POSTERN_SERVER_TLS_REC_H
#define POSTERN_SERVER_TLS_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The three TLS 1.3 cipher suites handled here (RFC 8446 B.4); the
 * other two (CCM) keep OpenSSL. */
enum tls_rec_suite {
	TLS_REC_AES_128_GCM,	/* TLS_AES_128_GCM_SHA256 0x1301 */
	TLS_REC_AES_256_GCM,	/* TLS_AES_256_GCM_SHA384 0x1302 */
	TLS_REC_CHACHA20,	/* TLS_CHACHA20_POLY1305_SHA256 0x1303 */
	TLS_REC__COUNT,
};

#define TLS_REC_HDR 5			/* type, legacy version, length */
#define TLS_REC_TAG 16			/* all three AEADs */
#define TLS_REC_IV 12			/* RFC 8446 5.3: iv_length, max(8, N_MIN) = 12 */
#define TLS_REC_PLAIN_MAX 16384		/* 5.1: 2^14 */
#define TLS_REC_CIPHER_MAX (16384 + 256)	/* 5.2: 2^14 + 256 */
#define TLS_REC_SECRET_MAX 48		/* SHA-384 */
#define TLS_REC_KEY_MAX 32
/* What one sealed record of n plaintext bytes takes: header, the
 * plaintext, its content type byte and the tag. */
#define TLS_REC_SEALED(n) (TLS_REC_HDR + (n) + 1 + TLS_REC_TAG)
/* The records one key protects.  RFC 8446 5.5: AES-GCM "may be used to
 * encrypt ... up to 2^24.5 full-size records"; a sequence number must
 * never wrap (5.3).  SMTP sessions are short (max_message_size bounds
 * a message; 2^24 records are 256 GB), so rather than update keys by
 * ourselves we close a connection that gets there, in both
 * directions (a client's KeyUpdate starts its count again). */
#define TLS_REC_SEQ_LIMIT (UINT64_C(1) << 24)

/* Content types (RFC 8446 B.1). */
enum {
	TLS_REC_ALERT = 21,
	TLS_REC_HANDSHAKE = 22,
	TLS_REC_APPDATA = 23,
};

/* Alert descriptions we send (RFC 8446 6). */
enum {
	TLS_ALERT_CLOSE_NOTIFY = 0,
	TLS_ALERT_UNEXPECTED_MESSAGE = 10,
	TLS_ALERT_BAD_RECORD_MAC = 20,
	TLS_ALERT_RECORD_OVERFLOW = 22,
	TLS_ALERT_DECODE_ERROR = 50,
	TLS_ALERT_PROTOCOL_VERSION = 70,
	TLS_ALERT_INTERNAL_ERROR = 80,
};

/* One direction: its traffic secret (kept for KeyUpdate, RFC 8446
 * 7.2), the key and IV derived from it, and the next record's
 * sequence number. */
struct tls_rec_dir {
	uint8_t secret[TLS_REC_SECRET_MAX];
	uint8_t key[TLS_REC_KEY_MAX];
	uint8_t iv[TLS_REC_IV];
	uint64_t seq;
};

struct tls_rec {
	enum tls_rec_suite suite;
	struct tls_rec_dir rd, wr;	/* the peer's records, ours */
};

/* The suite of a TLS 1.3 cipher (SSL_CIPHER_get_protocol_id); -1 for
 * one not handled here. */
int tls_rec_suite_of(uint16_t cipher_id);
/* The hash length of suite: the length of its secrets (32 or 48). */
size_t tls_rec_secret_len(enum tls_rec_suite suite);

/* RFC 8446 7.1: HKDF-Expand-Label(secret, label, "", outlen) with the
 * suite's hash; secret is tls_rec_secret_len() bytes, label at most
 * 32 bytes ("tls13 " is added), outlen at most 255.  0 or -1. */
int tls_rec_expand_label(enum tls_rec_suite suite, const uint8_t *secret, const char *label,
			 uint8_t *out, size_t outlen);

/* Sets d to a new traffic secret (tls_rec_secret_len() bytes): key and
 * IV derived (7.3), seq 0.  0 or -1 (d wiped then). */
int tls_rec_set_secret(enum tls_rec_suite suite, struct tls_rec_dir *d, const uint8_t *secret);
/* KeyUpdate (7.2): application_traffic_secret_N+1 =
 * HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length), then as
 * tls_rec_set_secret().  0 or -1. */
int tls_rec_update(enum tls_rec_suite suite, struct tls_rec_dir *d);

/* Seals n <= TLS_REC_PLAIN_MAX bytes of content type type into out
 * (TLS_REC_SEALED(n) bytes of room), with no padding, under r->wr, and
 * counts the record.  Returns the record's length, or 0 when it cannot
 * (n too large, the sequence limit reached, OpenSSL failed): then the
 * connection must close. */
size_t tls_rec_seal(struct tls_rec *r, uint8_t type, const uint8_t *in, size_t n, uint8_t *out);

/* What tls_rec_open() found. */
enum tls_rec_rc {
	TLS_REC_MORE,		/* no whole record yet: nothing consumed */
	TLS_REC_DATA,		/* application data in data/n (maybe n == 0) */
	TLS_REC_UPDATED,	/* a KeyUpdate: r->rd has the next key; send one
				 * of ours first if update_requested */
	TLS_REC_CLOSED,		/* the peer sent an alert (alert): close */
	TLS_REC_FAIL,		/* send alert (fatal), close; why says what */
};

struct tls_rec_in {
	size_t used;		/* bytes of the input this record took */
	const uint8_t *data;	/* TLS_REC_DATA: inside the input buffer */
	size_t n;
	bool update_requested;	/* TLS_REC_UPDATED */
	uint8_t alert;		/* TLS_REC_CLOSED: the peer's; TLS_REC_FAIL: ours */
	const char *why;	/* TLS_REC_FAIL and TLS_REC_CLOSED: for the log */
};

/* Opens the record at the start of buf (len bytes: maybe less than a
 * record, maybe more than one) under r->rd, decrypting in place.
 * Everything a peer can get wrong is TLS_REC_FAIL with the alert RFC
 * 8446 asks for; nothing is read past buf[len]. */
enum tls_rec_rc tls_rec_open(struct tls_rec *r, uint8_t *buf, size_t len, struct tls_rec_in *in_r);

/* Wipes r (OPENSSL_cleanse). */
void tls_rec_wipe(struct tls_rec *r);
/* The name of an alert description for logs ("bad_record_mac"). */
const char *tls_rec_alert_name(uint8_t alert);

#endif
