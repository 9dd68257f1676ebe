/* fuzz_sasl_pair.c - a real client and server of one mechanism talk;
 * the fuzz input chooses the mechanism and mutates the messages in
 * flight (flip a byte, cut, append).  Properties: without mutations the
 * right password succeeds on both sides; the server never accepts
 * another user than the one the client named; a client that verifies
 * the server (SCRAM) never reports success over a mutated server-final
 * message. */
#include "fuzz_sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mutator {
	struct fuzz_in in;
	bool used;
};

/* Applies the next mutation (if any) to msg in place; may cut it. */
static void
mutate(struct mutator *mu, struct buf *msg)
{
	uint8_t op = fuzz_take_byte(&mu->in);
	uint8_t pos = fuzz_take_byte(&mu->in);
	uint8_t val = fuzz_take_byte(&mu->in);
	if (msg->len == 0 && (op % 4) != 3)
		return;
	size_t at = msg->len > 0 ? pos % msg->len : 0;
	switch (op % 4) {
	case 0:		/* leave it */
		return;
	case 1:
		if (val == 0)
			return;
		msg->p[at] ^= val;
		break;
	case 2:
		buf_truncate(msg, at);
		break;
	default:
		if (buf_addch(msg, val) != BUF_OK)
			return;
		break;
	}
	mu->used = true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct mutator mu = { { data, size }, false };
	const struct sasl_mech *m = fuzz_sasl_mech(fuzz_take_byte(&mu.in));
	bool wrong = fuzz_take_byte(&mu.in) == 0xff;
	struct sasl_client_params cp = { .authcid = FUZZ_USER,
					 .password = wrong ? "Pencil" : FUZZ_PASS };
	/* One TLS 1.3 channel for both; EXTERNAL's certificate maps to
	 * the toy user; no -PLUS offered, so plain SCRAM's "y" is fine. */
	struct sasl_cb chan = fuzz_sasl_cb(true);
	struct sasl_server_params sp = { .hostname = "mx.example.test",
					 .fake_salt_key = fuzz_fake_key,
					 .fake_salt_key_len = sizeof fuzz_fake_key,
					 .cb = &chan, .external_user = FUZZ_USER };
	struct sasl_sess *c = sasl_client_new(m, &cp), *s = sasl_server_new(m, &sp);
	if (c == NULL || s == NULL) {
		sasl_sess_free(&c);
		sasl_sess_free(&s);
		return 0;
	}
	sasl_sess_set_cb(c, &chan);
	struct buf cb, sb;
	buf_init(&cb, SASL_MSG_MAX);
	buf_init(&sb, SASL_MSG_MAX);
	const char *cwhy = NULL, *swhy = NULL;
	enum sasl_rc crc = SASL_MORE, src;
	bool client_tampered = false, server_tampered = false;
	if (sasl_mech_client_first(m)) {
		crc = sasl_step(c, NULL, 0, &cb, &cwhy);
		mutate(&mu, &cb);
		client_tampered = mu.used;
		src = fuzz_sasl_server_step(s, cb.p != NULL ? cb.p : (const uint8_t *)"", cb.len,
					    &sb, &swhy);
	} else {
		src = fuzz_sasl_server_step(s, NULL, 0, &sb, &swhy);
	}
	unsigned rounds = 0;
	while (src == SASL_MORE && (crc == SASL_MORE || crc == SASL_DONE) && rounds++ < 8) {
		mu.used = false;
		mutate(&mu, &sb);
		server_tampered |= mu.used;
		buf_reset(&cb);
		crc = sasl_step(c, sb.p != NULL ? sb.p : (const uint8_t *)"", sb.len, &cb, &cwhy);
		if (crc != SASL_MORE && crc != SASL_DONE)
			break;
		mu.used = false;
		mutate(&mu, &cb);
		client_tampered |= mu.used;
		buf_reset(&sb);
		src = fuzz_sasl_server_step(s, cb.p != NULL ? cb.p : (const uint8_t *)"", cb.len,
					    &sb, &swhy);
	}
	if (src == SASL_DONE) {
		const char *u = sasl_sess_authcid(s);
		FUZZ_CHECK(u != NULL && strcmp(u, FUZZ_USER) == 0);
		/* A wrong password is never accepted unless the mutation
		 * itself repaired it (PLAIN: flipping 'P' to 'p');
		 * EXTERNAL has none (the certificate is the proof). */
		FUZZ_CHECK(!wrong || client_tampered || sasl_mech_external(m));
	}
	if (!client_tampered && !server_tampered && !wrong) {
		FUZZ_CHECK(src == SASL_DONE);
		FUZZ_CHECK(crc == SASL_DONE || crc == SASL_MORE);
	}
	buf_wipe_free(&cb);
	buf_wipe_free(&sb);
	sasl_sess_free(&c);
	sasl_sess_free(&s);
	return 0;
}
