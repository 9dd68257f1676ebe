/* fuzz_sasl_server.c - each server mechanism (first byte picks it) fed
 * a sequence of client messages (separated by FUZZ_SEP; the second byte
 * says whether the first is an initial response, whether the channel
 * has tls-exporter data, whether -PLUS was offered, and whether a
 * client certificate maps to the toy user for EXTERNAL).  The toy store
 * answers; a success must name the toy user. */
#include "fuzz_sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct fuzz_in in = { data, size };
	const struct sasl_mech *m = fuzz_sasl_mech(fuzz_take_byte(&in));
	uint8_t flags = fuzz_take_byte(&in);
	bool initial = flags & 1;
	struct sasl_cb cb = fuzz_sasl_cb((flags & 2) != 0);
	struct sasl_server_params sp = {
		.hostname = "mx.example.test",
		.fake_salt_key = fuzz_fake_key,
		.fake_salt_key_len = sizeof fuzz_fake_key,
		.cb = &cb,
		.plus_offered = (flags & 4) != 0,
		.external_user = (flags & 8) != 0 ? FUZZ_USER : NULL,
	};
	struct sasl_sess *s = sasl_server_new(m, &sp);
	if (s == NULL)
		return 0;
	struct buf out;
	buf_init(&out, SASL_MSG_MAX);
	const char *why = NULL;
	enum sasl_rc rc;
	if (initial) {
		size_t n = 0;
		uint8_t *msg = fuzz_take_msg(&in, &n);
		rc = fuzz_sasl_server_step(s, msg != NULL ? msg : (const uint8_t *)"",
					   msg != NULL ? n : 0, &out, &why);
		free(msg);
	} else {
		rc = fuzz_sasl_server_step(s, NULL, 0, &out, &why);
	}
	unsigned rounds = 0;
	while (rc == SASL_MORE && rounds++ < 16) {
		FUZZ_CHECK(out.len <= SASL_MSG_MAX);
		buf_reset(&out);
		size_t n = 0;
		uint8_t *msg = fuzz_take_msg(&in, &n);
		if (msg == NULL)
			break;
		rc = fuzz_sasl_server_step(s, msg, n, &out, &why);
		free(msg);
	}
	if (rc == SASL_DONE) {
		const char *u = sasl_sess_authcid(s);
		FUZZ_CHECK(u != NULL && strcmp(u, FUZZ_USER) == 0);
	} else if (rc != SASL_MORE) {
		FUZZ_CHECK(why != NULL);
	}
	buf_wipe_free(&out);
	sasl_sess_free(&s);
	FUZZ_CHECK(s == NULL);
	return 0;
}
