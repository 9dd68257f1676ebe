/* fuzz_sasl_client.c - each client mechanism (first byte picks it) fed
 * arbitrary server challenges (separated by FUZZ_SEP), as a hostile or
 * broken server would send them. */
#include "fuzz_sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fuzz_in in = { data, size };
	const struct sasl_mech *m = fuzz_sasl_mech(fuzz_take_byte(&in));
	struct sasl_client_params cp = { .authcid = FUZZ_USER, .password = FUZZ_PASS };
	struct sasl_sess *c = sasl_client_new(m, &cp);
	if (c == NULL)
		return 0;
	struct sasl_cb cb = fuzz_sasl_cb(true);	/* SCRAM-*-PLUS binds */
	sasl_sess_set_cb(c, &cb);
	struct buf out;
	buf_init(&out, SASL_MSG_MAX);
	const char *why = NULL;
	enum sasl_rc rc = SASL_MORE;
	if (sasl_mech_client_first(m))
		rc = sasl_step(c, NULL, 0, &out, &why);
	unsigned rounds = 0;
	while ((rc == SASL_MORE || rc == SASL_DONE) && rounds++ < 16) {
		FUZZ_CHECK(out.len <= SASL_MSG_MAX);
		buf_reset(&out);
		size_t n = 0;
		uint8_t *msg = fuzz_take_msg(&in, &n);
		if (msg == NULL)
			break;
		rc = sasl_step(c, msg, n, &out, &why);
		free(msg);
	}
	FUZZ_CHECK(rc != SASL_NEED_CRED);
	buf_wipe_free(&out);
	sasl_sess_free(&c);
	return 0;
}
