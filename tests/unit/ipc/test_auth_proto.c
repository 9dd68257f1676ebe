/* test_auth_proto.c - the auth-process message codec (ipc/auth_proto.c):
 * every message type round-trips, the decoder gives the same frames for
 * any split of the stream (STYLE.md 23), and every malformed frame is
 * refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/auth_proto.h"
#include "util/buf.h"

#define F(s) { (const uint8_t *)(s), sizeof(s) - 1 }

struct good {
	enum auth_msg_type type;
	uint32_t id;
	size_t n;
	struct auth_field f[5];
};

static uint8_t big[AUTH_PROTO_DATA_MAX];

static const struct good goods[] = {
	{ AUTH_MSG_HELLO, 0, 3, { F("PLAIN"), F("LOGIN"), F("SCRAM-SHA-256") } },
	{ AUTH_MSG_HELLO, 0, 0, { { NULL, 0 } } },
	{ AUTH_MSG_START, 7, 5, { F("PLAIN"), F("192.0.2.1"), F("\x03"), F("\0\1\2\3\4\5\6\7"),
				  F("\0alice\0secret") } },
	{ AUTH_MSG_START, 8, 5, { F("CRAM-MD5"), F("2001:db8::1"), F("\x00"), F("abcdefgh"),
				  { NULL, 0 } } },
	{ AUTH_MSG_START, 9, 5, { F("PLAIN"), F("::1"), F("\x02"), F("abcdefgh"), { NULL, 0 } } },
	{ AUTH_MSG_CONT, 0xffffffffu, 1, { F("c=biws,r=abc") } },
	{ AUTH_MSG_CONT, 1, 1, { { NULL, 0 } } },
	{ AUTH_MSG_CANCEL, 2, 0, { { NULL, 0 } } },
	{ AUTH_MSG_CONTINUE, 3, 1, { F("<1.2@mail.example.test>") } },
	{ AUTH_MSG_OK, 4, 1, { F("alice@example.test") } },
	{ AUTH_MSG_FAIL, 5, 4, { F("\x01"), F("alice"), F("\0\0\x01\xf4"), F("wrong password") } },
	{ AUTH_MSG_FAIL, 6, 4, { F("\x04"), { NULL, 0 }, F("\0\0\0\0"), F("busy") } },
	{ AUTH_MSG_RCPT_CHECK, 10, 3, { F("\"a b\"@example.test"), F("192.0.2.1"), F("abcdefgh") } },
	{ AUTH_MSG_RCPT_ANSWER, 10, 2, { F("\x01"), F("user of the credential store") } },
	{ AUTH_MSG_RCPT_ANSWER, 11, 2, { F("\x02"), { NULL, 0 } } },
	{ AUTH_MSG_RCPT_ANSWER, 12, 2, { F("\x03"), F("LMTP server unreachable") } },
};

static void
encode_all(struct buf *out)
{
	buf_init(out, 1u << 20);
	for (size_t i = 0; i < sizeof goods / sizeof *goods; i++)
		assert_int_equal(auth_proto_encode(out, goods[i].type, goods[i].id, goods[i].f,
						   goods[i].n), 0);
	/* the largest response */
	struct auth_field f = { big, sizeof big };
	assert_int_equal(auth_proto_encode(out, AUTH_MSG_CONT, 42, &f, 1), 0);
}

static void
check_msg(const struct auth_msg *m, size_t k)
{
	if (k == sizeof goods / sizeof *goods) {
		assert_int_equal(m->type, AUTH_MSG_CONT);
		assert_int_equal(m->id, 42);
		assert_int_equal(m->f[0].n, sizeof big);
		assert_memory_equal(m->f[0].p, big, sizeof big);
		return;
	}
	const struct good *g = &goods[k];
	assert_int_equal(m->type, g->type);
	assert_int_equal(m->id, g->id);
	assert_int_equal(m->nfields, g->n);
	for (size_t i = 0; i < g->n; i++) {
		assert_int_equal(m->f[i].n, g->f[i].n);
		if (g->f[i].n)
			assert_memory_equal(m->f[i].p, g->f[i].p, g->f[i].n);
	}
}

/* Feeds p[0..n) and checks the frames in order from *k on. */
static void
feed(struct auth_proto_dec *d, const uint8_t *p, size_t n, size_t *k)
{
	size_t off = 0;
	for (;;) {
		struct auth_msg m;
		size_t used;
		const char *why = NULL;
		enum auth_proto_rc rc = auth_proto_dec_feed(d, p + off, n - off, &used, &m, &why);
		off += used;
		if (rc == AUTH_PROTO_MORE) {
			assert_int_equal(off, n);
			return;
		}
		assert_int_equal(rc, AUTH_PROTO_FRAME);
		check_msg(&m, (*k)++);
	}
}

static void
test_roundtrip_whole(void **state)
{
	struct buf out;
	encode_all(&out);
	struct auth_proto_dec *d = malloc(sizeof *d);
	assert_non_null(d);
	auth_proto_dec_init(d);
	size_t k = 0;
	feed(d, out.p, out.len, &k);
	assert_int_equal(k, sizeof goods / sizeof *goods + 1);
	free(d);
	buf_free(&out);
}

/* Every split of the whole stream in two, each part on the heap at
 * exactly its size (ASan sees an over-read), gives the same frames. */
static void
test_split_every_byte(void **state)
{
	struct buf out;
	encode_all(&out);
	struct auth_proto_dec *d = malloc(sizeof *d);
	assert_non_null(d);
	for (size_t cut = 0; cut <= out.len; cut++) {
		uint8_t *a = malloc(cut ? cut : 1), *b = malloc(out.len - cut ? out.len - cut : 1);
		assert_true(a && b);
		memcpy(a, out.p, cut);
		memcpy(b, out.p + cut, out.len - cut);
		auth_proto_dec_init(d);
		size_t k = 0;
		feed(d, a, cut, &k);
		feed(d, b, out.len - cut, &k);
		assert_int_equal(k, sizeof goods / sizeof *goods + 1);
		free(a);
		free(b);
	}
	/* and one byte at a time */
	auth_proto_dec_init(d);
	size_t k = 0;
	for (size_t i = 0; i < out.len; i++)
		feed(d, out.p + i, 1, &k);
	assert_int_equal(k, sizeof goods / sizeof *goods + 1);
	free(d);
	buf_free(&out);
}

/* Raw frames (length word included) that must be refused. */
struct bad {
	const char *what;
	size_t n;
	const char *bytes;
};

#define B(what, s) { what, sizeof(s) - 1, s }
static const struct bad bads[] = {
	B("length below the head", "\0\0\0\5\1\1\0\0\0\0"),
	B("length zero", "\0\0\0\0"),
	B("length above the maximum", "\0\1\0\1\1\1\0\0\0\0"),
	B("length huge", "\xff\xff\xff\xff"),
	B("version 0", "\0\0\0\6\0\1\0\0\0\0"),
	B("version 2", "\0\0\0\6\2\1\0\0\0\0"),
	B("type 0", "\0\0\0\6\1\0\0\0\0\0"),
	B("type past the end", "\0\0\0\6\1\x0a\0\0\0\0"),
	B("RCPT_CHECK without fields", "\0\0\0\6\1\x08\0\0\0\1"),
	B("RCPT_CHECK empty recipient", "\0\0\0\x15\1\x08\0\0\0\1\0\0\0\1I\0\x08" "abcdefgh"),
	B("RCPT_CHECK session id of 7", "\0\0\0\x15\1\x08\0\0\0\1\0\1a\0\1I\0\x07" "abcdefg"),
	B("RCPT_ANSWER verdict 0", "\0\0\0\x0b\1\x09\0\0\0\1\0\1\0\0\0"),
	B("RCPT_ANSWER verdict 4", "\0\0\0\x0b\1\x09\0\0\0\1\0\1\4\0\0"),
	B("RCPT_ANSWER verdict of 2 bytes", "\0\0\0\x0c\1\x09\0\0\0\1\0\2\1\1\0\0"),
	B("RCPT_ANSWER one field", "\0\0\0\x09\1\x09\0\0\0\1\0\1\1"),
	B("type 255", "\0\0\0\6\1\xff\0\0\0\0"),
	B("truncated field length", "\0\0\0\7\1\3\0\0\0\1\0"),
	B("field past the frame", "\0\0\0\x0a\1\3\0\0\0\1\0\3ab"),
	B("CONT without field", "\0\0\0\6\1\3\0\0\0\1"),
	B("CONT with two fields", "\0\0\0\x0c\1\3\0\0\0\1\0\1a\0\1b"),
	B("CANCEL with a field", "\0\0\0\x09\1\4\0\0\0\1\0\1a"),
	B("OK without user", "\0\0\0\6\1\6\0\0\0\1"),
	B("FAIL kind 0", "\0\0\0\x13\1\7\0\0\0\1\0\1\0\0\0\0\4\0\0\0\0\0\0"),
	B("FAIL kind 6", "\0\0\0\x13\1\7\0\0\0\1\0\1\6\0\0\0\4\0\0\0\0\0\0"),
	B("FAIL delay of 3 bytes", "\0\0\0\x12\1\7\0\0\0\1\0\1\1\0\0\0\3\0\0\0\0\0"),
	B("FAIL three fields", "\0\0\0\x11\1\7\0\0\0\1\0\1\1\0\0\0\4\0\0\0\0"),
	B("START unknown flag", "\0\0\0\x1b\1\2\0\0\0\1\0\1P\0\1I\0\1\x10\0\x08" "abcdefgh\0\0"),
	B("START response without flag", "\0\0\0\x1c\1\2\0\0\0\1\0\1P\0\1I\0\1\0\0\x08" "abcdefgh\0\1x"),
	B("START session id of 7", "\0\0\0\x1a\1\2\0\0\0\1\0\1P\0\1I\0\1\0\0\x07" "abcdefg\0\0"),
	B("START four fields", "\0\0\0\x19\1\2\0\0\0\1\0\1P\0\1I\0\1\0\0\x08" "abcdefgh"),
};

static void
test_malformed_refused(void **state)
{
	struct auth_proto_dec *d = malloc(sizeof *d);
	assert_non_null(d);
	for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
		uint8_t *p = malloc(bads[i].n);
		assert_non_null(p);
		memcpy(p, bads[i].bytes, bads[i].n);
		auth_proto_dec_init(d);
		struct auth_msg m;
		size_t used;
		const char *why = NULL;
		enum auth_proto_rc rc = auth_proto_dec_feed(d, p, bads[i].n, &used, &m, &why);
		if (rc != AUTH_PROTO_BAD)
			fail_msg("accepted: %s", bads[i].what);
		assert_non_null(why);
		/* a dead stream stays dead */
		assert_int_equal(auth_proto_dec_feed(d, p, bads[i].n, &used, &m, &why), AUTH_PROTO_BAD);
		free(p);
	}
	free(d);
}

/* A field too long for its type: the encoder refuses to write it, and
 * the decoder refuses it when someone else did. */
static void
test_oversized_fields(void **state)
{
	struct buf out;
	buf_init(&out, 1u << 20);
	static uint8_t huge[AUTH_PROTO_DATA_MAX + 1];
	struct auth_field f = { huge, sizeof huge };
	assert_int_equal(auth_proto_encode(&out, AUTH_MSG_CONT, 1, &f, 1), -1);
	struct auth_field mech = { huge, AUTH_PROTO_MECH_MAX + 1 };
	assert_int_equal(auth_proto_encode(&out, AUTH_MSG_HELLO, 0, &mech, 1), -1);
	assert_int_equal(auth_proto_encode(&out, AUTH_MSG__END, 0, NULL, 0), -1);
	assert_int_equal(out.len, 0);
	/* hand-made: CONT with 9217 bytes */
	size_t body = AUTH_PROTO_HEAD + 2 + sizeof huge;
	uint8_t *p = calloc(1, 4 + body);
	assert_non_null(p);
	p[0] = 0, p[1] = 0, p[2] = (uint8_t)(body >> 8), p[3] = (uint8_t)body;
	p[4] = AUTH_PROTO_VERSION, p[5] = AUTH_MSG_CONT;
	p[10] = (uint8_t)(sizeof huge >> 8), p[11] = (uint8_t)sizeof huge;
	struct auth_msg m;
	const char *why = NULL;
	assert_int_equal(auth_proto_parse(p + 4, body, &m, &why), -1);
	assert_string_equal(why, "field too long");
	free(p);
	buf_free(&out);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_whole),
		cmocka_unit_test(test_split_every_byte),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_oversized_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
