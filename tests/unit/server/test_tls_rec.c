/* test_tls_rec.c - the TLS 1.3 record layer (src/server/tls_rec.c):
 * RFC 8448's key schedule and records, round trips in the three
 * suites split at every byte, and every malformed record getting the
 * alert RFC 8446 asks for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "server/tls_rec.h"

static size_t
unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] != '\0'; h++) {
		if (h[0] == ' ' || h[0] == '\n')
			continue;
		int hi = OPENSSL_hexchar2int((unsigned char)h[0]);
		int lo = OPENSSL_hexchar2int((unsigned char)h[1]);
		assert_true(hi >= 0 && lo >= 0);
		out[n++] = (uint8_t)(hi << 4 | lo);
		h++;
	}
	return n;
}

/* RFC 8448 section 3 (a simple 1-RTT handshake, TLS_AES_128_GCM_SHA256). */
static const char c_ap[] = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
static const char s_ap[] = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

/* The server's end of RFC 8448's connection. */
static void
rfc8448_server(struct tls_rec *r)
{
	uint8_t sec[48];
	memset(r, 0, sizeof *r);
	r->suite = TLS_REC_AES_128_GCM;
	unhex(c_ap, sec);
	assert_int_equal(tls_rec_set_secret(r->suite, &r->rd, sec), 0);
	unhex(s_ap, sec);
	assert_int_equal(tls_rec_set_secret(r->suite, &r->wr, sec), 0);
}

static void
test_rfc8448_keys(void **state)
{
	struct tls_rec r;
	uint8_t want[32];
	rfc8448_server(&r);
	assert_int_equal(tls_rec_suite_of(0x1301), TLS_REC_AES_128_GCM);
	assert_int_equal(tls_rec_suite_of(0x1304), -1);	/* CCM: OpenSSL keeps it */
	unhex("17422dda596ed5d9acd890e3c63f5051", want);
	assert_memory_equal(r.rd.key, want, 16);
	unhex("5b78923dee08579033e523d9", want);
	assert_memory_equal(r.rd.iv, want, 12);
	unhex("9f02283b6c9c07efc26bb9f2ac92e356", want);
	assert_memory_equal(r.wr.key, want, 16);
	unhex("cf782b88dd83549aadf1e984", want);
	assert_memory_equal(r.wr.iv, want, 12);
	assert_int_equal(r.rd.seq, 0);
}

/* The application data records of RFC 8448 section 3: the client's
 * first (sequence 0) and the server's second (after its
 * NewSessionTicket), both carrying the bytes 00..31. */
static const char client_rec[] =
	"1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a"
	"20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
static const char server_rec[] =
	"17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb"
	"501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";

static void
test_rfc8448_records(void **state)
{
	struct tls_rec srv;
	uint8_t pt[50], rec[128], want[128], out[128];
	for (size_t i = 0; i < sizeof pt; i++)
		pt[i] = (uint8_t)i;
	rfc8448_server(&srv);
	/* Opening the client's record. */
	size_t n = unhex(client_rec, rec);
	struct tls_rec_in in;
	assert_int_equal(tls_rec_open(&srv, rec, n, &in), TLS_REC_DATA);
	assert_int_equal(in.used, n);
	assert_int_equal(in.n, sizeof pt);
	assert_memory_equal(in.data, pt, sizeof pt);
	assert_int_equal(srv.rd.seq, 1);
	/* Sealing the server's second record gives RFC 8448's bytes. */
	srv.wr.seq = 1;
	size_t wn = unhex(server_rec, want);
	assert_int_equal(tls_rec_seal(&srv, TLS_REC_APPDATA, pt, sizeof pt, out), wn);
	assert_memory_equal(out, want, wn);
	assert_int_equal(srv.wr.seq, 2);
}

/* A client and a server that talk to each other in suite. */
static void
pair(enum tls_rec_suite suite, struct tls_rec *cli, struct tls_rec *srv)
{
	uint8_t a[48], b[48];
	for (size_t i = 0; i < sizeof a; i++) {
		a[i] = (uint8_t)(i * 7 + 1);
		b[i] = (uint8_t)(i * 13 + 5);
	}
	memset(cli, 0, sizeof *cli);
	memset(srv, 0, sizeof *srv);
	cli->suite = srv->suite = suite;
	assert_int_equal(tls_rec_set_secret(suite, &cli->wr, a), 0);
	assert_int_equal(tls_rec_set_secret(suite, &srv->rd, a), 0);
	assert_int_equal(tls_rec_set_secret(suite, &srv->wr, b), 0);
	assert_int_equal(tls_rec_set_secret(suite, &cli->rd, b), 0);
}

/* Seal n bytes, then open the record given in two pieces cut at every
 * byte: MORE until it is whole, then the same bytes. */
static void
round_trip(enum tls_rec_suite suite, size_t n, bool split)
{
	struct tls_rec cli, srv;
	pair(suite, &cli, &srv);
	uint8_t *pt = malloc(n + 1);
	uint8_t *rec = malloc(TLS_REC_SEALED(n));
	assert_non_null(pt);
	assert_non_null(rec);
	for (size_t i = 0; i < n; i++)
		pt[i] = (uint8_t)(i * 31);
	size_t len = tls_rec_seal(&cli, TLS_REC_APPDATA, pt, n, rec);
	assert_int_equal(len, TLS_REC_SEALED(n));
	struct tls_rec_in in;
	for (size_t cut = split ? 0 : len; cut < len; cut++) {
		/* heap copy of exactly cut bytes: ASan sees any over-read */
		uint8_t *part = malloc(cut + 1);
		assert_non_null(part);
		memcpy(part, rec, cut);
		assert_int_equal(tls_rec_open(&srv, part, cut, &in), TLS_REC_MORE);
		assert_int_equal(in.used, 0);
		free(part);
	}
	uint8_t *whole = malloc(len);
	assert_non_null(whole);
	memcpy(whole, rec, len);
	assert_int_equal(tls_rec_open(&srv, whole, len, &in), TLS_REC_DATA);
	assert_int_equal(in.used, len);
	assert_int_equal(in.n, n);
	assert_memory_equal(in.data, pt, n);
	assert_int_equal(srv.rd.seq, 1);
	free(whole);
	free(rec);
	free(pt);
}

static void
test_round_trips(void **state)
{
	for (int s = 0; s < TLS_REC__COUNT; s++) {
		round_trip((enum tls_rec_suite)s, 0, true);
		round_trip((enum tls_rec_suite)s, 1, true);
		round_trip((enum tls_rec_suite)s, 300, true);
		round_trip((enum tls_rec_suite)s, TLS_REC_PLAIN_MAX, false);
	}
	struct tls_rec cli, srv;
	uint8_t big[TLS_REC_PLAIN_MAX + 1], out[TLS_REC_SEALED(TLS_REC_PLAIN_MAX + 1)];
	memset(big, 'x', sizeof big);
	pair(TLS_REC_AES_256_GCM, &cli, &srv);
	assert_int_equal(tls_rec_seal(&cli, TLS_REC_APPDATA, big, sizeof big, out), 0);
}

/* Two records back to back, then a third sealed at the next sequence
 * number: each opens only in order (5.3: the nonce counts). */
static void
test_sequence_numbers(void **state)
{
	struct tls_rec cli, srv;
	uint8_t r1[64], r2[64], copy[64];
	struct tls_rec_in in;
	pair(TLS_REC_CHACHA20, &cli, &srv);
	size_t n1 = tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"one", 3, r1);
	size_t n2 = tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"two", 3, r2);
	memcpy(copy, r2, n2);
	assert_int_equal(tls_rec_open(&srv, copy, n2, &in), TLS_REC_FAIL);	/* out of order */
	assert_int_equal(in.alert, TLS_ALERT_BAD_RECORD_MAC);
	assert_int_equal(srv.rd.seq, 0);
	assert_int_equal(tls_rec_open(&srv, r1, n1, &in), TLS_REC_DATA);
	assert_int_equal(tls_rec_open(&srv, r2, n2, &in), TLS_REC_DATA);
	assert_memory_equal(in.data, "two", 3);
	/* Near the limit: the last record a key may protect, then none. */
	cli.wr.seq = srv.rd.seq = TLS_REC_SEQ_LIMIT - 1;
	n1 = tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"end", 3, r1);
	assert_int_not_equal(n1, 0);
	assert_int_equal(tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"x", 1, r2), 0);
	assert_int_equal(tls_rec_open(&srv, r1, n1, &in), TLS_REC_DATA);
	memcpy(r2, r1, n1);
	assert_int_equal(tls_rec_open(&srv, r2, n1, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_INTERNAL_ERROR);
}

/* A record with any inner plaintext (content, type, padding), sealed
 * by hand with OpenSSL under d, as a peer that pads would send it. */
static size_t
seal_raw(enum tls_rec_suite suite, struct tls_rec_dir *d, const uint8_t *inner, size_t n,
	 uint8_t *out)
{
	static const char *const names[] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305" };
	uint8_t nonce[12];
	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
	size_t body = n + 16;
	out[0] = 23, out[1] = 3, out[2] = 3, out[3] = (uint8_t)(body >> 8), out[4] = (uint8_t)body;
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, names[suite], NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l = 0;
	assert_int_equal(EVP_EncryptInit_ex2(x, c, d->key, nonce, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(x, NULL, &l, out, 5), 1);
	assert_int_equal(EVP_EncryptUpdate(x, out + 5, &l, inner, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(x, out + 5 + n, &l), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n), 1);
	EVP_CIPHER_CTX_free(x);
	EVP_CIPHER_free(c);
	d->seq++;
	return 5 + body;
}

/* Opens inner (as sealed by a peer) at the server; returns the rc.
 * in->data points into a buffer that lives until the next call. */
static enum tls_rec_rc
open_inner(struct tls_rec *cli, struct tls_rec *srv, const uint8_t *inner, size_t n,
	   struct tls_rec_in *in)
{
	static uint8_t *rec;
	free(rec);
	rec = malloc(n + TLS_REC_HDR + TLS_REC_TAG);
	assert_non_null(rec);
	size_t len = seal_raw(cli->suite, &cli->wr, inner, n, rec);
	return tls_rec_open(srv, rec, len, in);
}

static void
test_inner_plaintext(void **state)
{
	struct tls_rec cli, srv;
	struct tls_rec_in in;
	static uint8_t inner[TLS_REC_CIPHER_MAX];
	pair(TLS_REC_AES_128_GCM, &cli, &srv);
	/* Padding is stripped; the last non-zero byte is the type. */
	memcpy(inner, "hi\0\x17\0\0\0", 7);
	assert_int_equal(open_inner(&cli, &srv, inner, 7, &in), TLS_REC_DATA);
	assert_int_equal(in.n, 3);
	assert_memory_equal(in.data, "hi\0", 3);
	/* All zeros: no content type (5.4). */
	memset(inner, 0, 40);
	assert_int_equal(open_inner(&cli, &srv, inner, 40, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_UNEXPECTED_MESSAGE);
	/* 2^14 bytes of data is the most; padding counts toward 2^14 + 1. */
	pair(TLS_REC_AES_128_GCM, &cli, &srv);
	memset(inner, 'a', TLS_REC_PLAIN_MAX);
	inner[TLS_REC_PLAIN_MAX] = 23;
	assert_int_equal(open_inner(&cli, &srv, inner, TLS_REC_PLAIN_MAX + 1, &in), TLS_REC_DATA);
	assert_int_equal(in.n, TLS_REC_PLAIN_MAX);
	inner[TLS_REC_PLAIN_MAX] = 'a';
	inner[TLS_REC_PLAIN_MAX + 1] = 23;
	assert_int_equal(open_inner(&cli, &srv, inner, TLS_REC_PLAIN_MAX + 2, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_RECORD_OVERFLOW);
	/* The longest record allowed on the wire, all padding after one
	 * byte of data: within 2^14 + 256, but the inner plaintext is too
	 * long. */
	pair(TLS_REC_AES_128_GCM, &cli, &srv);
	memset(inner, 0, sizeof inner);
	inner[0] = 'z';
	inner[1] = 23;
	assert_int_equal(open_inner(&cli, &srv, inner, TLS_REC_CIPHER_MAX - 16, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_RECORD_OVERFLOW);
	/* Content types: alerts, unknown ones. */
	pair(TLS_REC_AES_128_GCM, &cli, &srv);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x01\x00\x15", 3, &in),
			 TLS_REC_CLOSED);
	assert_int_equal(in.alert, TLS_ALERT_CLOSE_NOTIFY);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x02\x14\x15", 3, &in),
			 TLS_REC_CLOSED);
	assert_int_equal(in.alert, TLS_ALERT_BAD_RECORD_MAC);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x02\x15", 2, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_DECODE_ERROR);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x01\x14", 2, &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_UNEXPECTED_MESSAGE);	/* change_cipher_spec */
}

static void
test_key_update(void **state)
{
	struct tls_rec cli, srv;
	struct tls_rec_in in;
	uint8_t rec[64];
	pair(TLS_REC_AES_256_GCM, &cli, &srv);
	/* KeyUpdate(update_requested) from the client, then data under its
	 * next key: RFC 8446 7.2 for both ends. */
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x18\x00\x00\x01\x01\x16", 6, &in),
			 TLS_REC_UPDATED);
	assert_true(in.update_requested);
	assert_int_equal(srv.rd.seq, 0);
	assert_int_equal(tls_rec_update(cli.suite, &cli.wr), 0);
	size_t n = tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"after", 5, rec);
	assert_int_equal(tls_rec_open(&srv, rec, n, &in), TLS_REC_DATA);
	assert_memory_equal(in.data, "after", 5);
	/* update_not_requested */
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x18\x00\x00\x01\x00\x16", 6, &in),
			 TLS_REC_UPDATED);
	assert_false(in.update_requested);
	assert_int_equal(tls_rec_update(cli.suite, &cli.wr), 0);
	/* Bad ones: a value other than 0 and 1, a wrong length, another
	 * message, a KeyUpdate with more behind it in the record. */
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x18\x00\x00\x01\x02\x16", 6, &in),
			 TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_DECODE_ERROR);
	pair(TLS_REC_AES_256_GCM, &cli, &srv);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x18\x00\x00\x02\x00\x00\x16", 7,
				    &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_UNEXPECTED_MESSAGE);
	assert_int_equal(open_inner(&cli, &srv, (const uint8_t *)"\x04\x00\x00\x01\x00\x16", 6, &in),
			 TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_UNEXPECTED_MESSAGE);
	assert_int_equal(open_inner(&cli, &srv,
				    (const uint8_t *)"\x18\x00\x00\x01\x00\x18\x00\x00\x01\x00\x16", 11,
				    &in), TLS_REC_FAIL);
	assert_int_equal(in.alert, TLS_ALERT_UNEXPECTED_MESSAGE);
}

/* Headers that fail before any decryption, whatever follows. */
static void
test_bad_headers(void **state)
{
	static const struct {
		const char *hdr;
		uint8_t alert;
	} cases[] = {
		{ "1603030020", TLS_ALERT_UNEXPECTED_MESSAGE },	/* plaintext handshake */
		{ "1503030002", TLS_ALERT_UNEXPECTED_MESSAGE },	/* plaintext alert */
		{ "1403030001", TLS_ALERT_UNEXPECTED_MESSAGE },	/* change_cipher_spec after Finished */
		{ "1703010020", TLS_ALERT_PROTOCOL_VERSION },
		{ "1704030020", TLS_ALERT_PROTOCOL_VERSION },
		{ "1703034101", TLS_ALERT_RECORD_OVERFLOW },	/* 2^14 + 257 */
		{ "170303ffff", TLS_ALERT_RECORD_OVERFLOW },
		{ "1703030010", TLS_ALERT_DECODE_ERROR },	/* shorter than tag + type */
		{ "1703030000", TLS_ALERT_DECODE_ERROR },
	};
	struct tls_rec cli, srv;
	struct tls_rec_in in;
	pair(TLS_REC_AES_128_GCM, &cli, &srv);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint8_t *h = malloc(5);
		assert_non_null(h);
		unhex(cases[i].hdr, h);
		assert_int_equal(tls_rec_open(&srv, h, 5, &in), TLS_REC_FAIL);
		assert_int_equal(in.alert, cases[i].alert);
		assert_non_null(in.why);
		free(h);
	}
	/* The longest body allowed waits for its bytes. */
	uint8_t h[5] = { 23, 3, 3, 0x41, 0x00 };
	assert_int_equal(tls_rec_open(&srv, h, 5, &in), TLS_REC_MORE);
	/* One flipped bit anywhere (header or body): bad_record_mac. */
	uint8_t rec[64], copy[64];
	size_t n = tls_rec_seal(&cli, TLS_REC_APPDATA, (const uint8_t *)"NOOP\r\n", 6, rec);
	for (size_t i = 0; i < n * 8; i++) {
		if (i < 8 * TLS_REC_HDR)
			continue;	/* header bits: the cases above, or another length */
		memcpy(copy, rec, n);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(tls_rec_open(&srv, copy, n, &in), TLS_REC_FAIL);
		assert_int_equal(in.alert, TLS_ALERT_BAD_RECORD_MAC);
	}
	assert_int_equal(tls_rec_open(&srv, rec, n, &in), TLS_REC_DATA);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8448_keys),
		cmocka_unit_test(test_rfc8448_records),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_sequence_numbers),
		cmocka_unit_test(test_inner_plaintext),
		cmocka_unit_test(test_key_update),
		cmocka_unit_test(test_bad_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
