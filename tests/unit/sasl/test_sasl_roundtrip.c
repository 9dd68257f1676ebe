/* test_sasl_roundtrip.c - our client against our server for every
 * mechanism, random nonces, right and wrong password, unknown user, and
 * SASLprep at both ends. */
#include "sasl_test.h"

static void
test_every_mech(void **state)
{
	(void)state;
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		bool token = sasl_mech_uses_token(m);
		if (sasl_mech_external(m))
			continue;	/* no secret to get wrong: test_sasl_plus.c */
		const char *secret = token ? "tok3n.value" : "s3cret pass";
		struct t_pair r = t_pair_run(m, "alice", secret, "alice", secret);
		if (r.server != SASL_DONE || r.client == SASL_FAIL)
			fail_msg("%s: server %d (%s) client %d (%s)", sasl_mech_name(m), r.server,
				 r.swhy ? r.swhy : "-", r.client, r.cwhy ? r.cwhy : "-");
		/* SCRAM: the client verified the server too. */
		if (sasl_mech_cred_kind(m) == SASL_CRED_SCRAM_SHA1
		    || sasl_mech_cred_kind(m) == SASL_CRED_SCRAM_SHA256)
			assert_int_equal(r.client, SASL_DONE);
		r = t_pair_run(m, "alice", "wrong", "alice", secret);
		assert_int_equal(r.server, SASL_FAIL);
		assert_string_equal(r.swhy, token ? "invalid token" : "wrong password");
		/* Token mechanisms: alice's token does not log in mallory. */
		r = t_pair_run(m, "mallory", secret, "alice", secret);
		assert_int_equal(r.server, SASL_FAIL);
		assert_string_equal(r.swhy, token ? "the token was issued to another user"
						  : "unknown user");
	}
}

/* A server whose keys differ (another password) cannot forge v=: the
 * client sees the mismatch.  Simulated by a server that accepts any
 * proof: here, a client whose password is right for the store but the
 * store's ServerKey is swapped. */
static void
test_scram_server_signature(void **state)
{
	(void)state;
	const struct sasl_mech *m = sasl_mech_find("SCRAM-SHA-256", 13);
	struct sasl_client_params cp = { "bob", "pw", NULL };
	struct sasl_sess *c = sasl_client_new(m, &cp), *s = sasl_server_new(m, NULL);
	struct buf cb, sb;
	const char *why;
	buf_init(&cb, SASL_MSG_MAX);
	buf_init(&sb, SASL_MSG_MAX);
	assert_int_equal(t_step(c, NULL, 0, &cb, &why), SASL_MORE);
	assert_int_equal(t_step(s, cb.p, cb.len, &sb, &why), SASL_NEED_CRED);
	struct sasl_cred_answer a;
	assert_int_equal(sasl_scram_derive("SHA256", "pw", t_salt, sizeof t_salt, 4096, &a, &why), 0);
	a.status = SASL_CRED_OK;
	a.server_key[0] ^= 1;
	sasl_cred_supply(s, &a);
	assert_int_equal(t_step(s, NULL, 0, &sb, &why), SASL_MORE);
	buf_reset(&cb);
	assert_int_equal(t_step(c, sb.p, sb.len, &cb, &why), SASL_MORE);
	buf_reset(&sb);
	assert_int_equal(t_step(s, cb.p, cb.len, &sb, &why), SASL_MORE);
	buf_reset(&cb);
	assert_int_equal(t_step(c, sb.p, sb.len, &cb, &why), SASL_FAIL);
	assert_string_equal(why, "server signature mismatch");
	buf_free(&cb);
	buf_free(&sb);
	sasl_sess_free(&c);
	sasl_sess_free(&s);
}

/* RFC 4013 section 3 examples: soft hyphen maps to nothing, U+0007 is
 * prohibited; names with ',' and '=' survive the SCRAM escapes. */
static void
test_saslprep(void **state)
{
	(void)state;
	char *out;
	const char *why = NULL;
	assert_int_equal(sasl_saslprep("I\xc2\xadX", &out, &why), 0);
	assert_string_equal(out, "IX");
	free(out);
	assert_int_equal(sasl_saslprep("user", &out, &why), 0);
	assert_string_equal(out, "user");
	free(out);
	assert_int_equal(sasl_saslprep("\xe2\x85\xa8", &out, &why), 0);	/* U+2168 -> "IX" */
	assert_string_equal(out, "IX");
	free(out);
	assert_int_equal(sasl_saslprep("a\xc2\xa0" "b", &out, &why), 0);	/* NBSP -> space */
	assert_string_equal(out, "a b");
	free(out);
	assert_int_equal(sasl_saslprep("\x07", &out, &why), -1);
	assert_string_equal(why, "SASLprep: prohibited character");
	assert_null(out);
	assert_int_equal(sasl_saslprep("\xd8\xa7" "1", &out, &why), -1);	/* RandALCat then digit */
	assert_int_equal(sasl_saslprep("\xc3(", &out, &why), -1);
	assert_string_equal(why, "invalid UTF-8");
	assert_int_equal(sasl_saslprep("\xed\xa0\x80", &out, &why), -1);	/* surrogate */
	assert_int_equal(sasl_saslprep("\xc0\xaf", &out, &why), -1);		/* overlong */

	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		if (sasl_mech_uses_token(m) || sasl_mech_external(m))
			continue;	/* a token is ASCII: test_sasl_oauth.c */
		/* The client types "I<SHY>X"; the server prepares it to "IX". */
		struct t_pair r = t_pair_run(m, "I\xc2\xadX", "pa\xc2\xadss", "IX", "pass");
		if (sasl_mech_cred_kind(m) == SASL_CRED_CRAM_MD5)
			/* CRAM-MD5 hashes the raw password (Dovecot-compatible). */
			assert_int_equal(r.server, SASL_FAIL);
		else
			assert_int_equal(r.server, SASL_DONE);
		r = t_pair_run(m, "a,b=c", "pw", "a,b=c", "pw");
		assert_int_equal(r.server, SASL_DONE);
		/* A prohibited character in the user name never gets through. */
		r = t_pair_run(m, "bad\x07", "pw", "bad\x07", "pw");
		assert_true(r.server != SASL_DONE);
	}
	/* SCRAM client refuses what SASLprep refuses, with a reason. */
	struct sasl_client_params cp = { "user", "pw\x07", NULL };
	struct sasl_sess *c = sasl_client_new(sasl_mech_find("SCRAM-SHA-1", 11), &cp);
	struct buf b;
	buf_init(&b, SASL_MSG_MAX);
	sasl_sess_set_test_nonce(c, "abc");
	assert_int_equal(t_step(c, NULL, 0, &b, &why), SASL_MORE);
	assert_int_equal(t_steps(c, "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", &b, &why), SASL_FAIL);
	assert_string_equal(why, "SASLprep: prohibited character");
	sasl_sess_free(&c);
	buf_free(&b);
}

/* PLAIN/LOGIN: the store's TEMPFAIL is TEMPFAIL. */
static void
test_tempfail(void **state)
{
	(void)state;
	const char *why;
	struct buf b;
	buf_init(&b, 64);
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("PLAIN", 5), NULL);
	assert_int_equal(t_step(s, "\0u\0p", 4, &b, &why), SASL_NEED_CRED);
	struct sasl_cred_answer a = { .status = SASL_CRED_TEMPFAIL };
	sasl_cred_supply(s, &a);
	assert_int_equal(t_step(s, NULL, 0, &b, &why), SASL_TEMPFAIL);
	assert_string_equal(why, "credential store unavailable");
	sasl_sess_free(&s);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_mech),
		cmocka_unit_test(test_scram_server_signature),
		cmocka_unit_test(test_saslprep),
		cmocka_unit_test(test_tempfail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
