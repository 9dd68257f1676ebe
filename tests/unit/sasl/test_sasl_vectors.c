/* test_sasl_vectors.c - the published vectors (shared/vectors/
 * sasl-vectors.md) reproduced byte for byte, both sides, plus the
 * registry. */
#include "sasl_case.h"

static void
assert_out(const void *want, size_t n)
{
	assert_int_equal(out.len, n);
	assert_memory_equal(out.p, want, n);
}

static void
test_registry(void **state)
{
	(void)state;
	static const char *const order[] = { "EXTERNAL", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
					     "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "CRAM-MD5",
					     "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN" };
	assert_int_equal(sasl_mech_count(), 10);
	for (size_t i = 0; i < 10; i++) {
		assert_string_equal(sasl_mech_name(sasl_mech_at(i)), order[i]);
		if (i > 0)
			assert_true(sasl_mech_strength(sasl_mech_at(i - 1))
				    > sasl_mech_strength(sasl_mech_at(i)));
	}
	assert_ptr_equal(sasl_mech_find("plain", 5), sasl_mech_at(8));
	assert_ptr_equal(sasl_mech_find("Scram-Sha-1", 11), sasl_mech_at(4));
	assert_null(sasl_mech_find("PLAINX", 6));
	assert_null(sasl_mech_find("PLAI", 4));
	assert_null(sasl_mech_find("SCRAM-SHA-1-PLUSX", 17));
	assert_ptr_equal(sasl_mech_find("SCRAM-SHA-1-PLUS", 16), sasl_mech_at(3));
	assert_true(sasl_mech_binds_channel(sasl_mech_find("SCRAM-SHA-1-PLUS", 16)));
	assert_false(sasl_mech_binds_channel(sasl_mech_find("SCRAM-SHA-1", 11)));
	assert_true(sasl_mech_external(sasl_mech_find("EXTERNAL", 8)));
	assert_ptr_equal(sasl_mech_find("PLAINX", 5), sasl_mech_at(8));	/* length given */
	assert_true(sasl_mech_sends_password(sasl_mech_find("OAUTHBEARER", 11)));
	assert_true(sasl_mech_sends_password(sasl_mech_find("XOAUTH2", 7)));
	assert_true(sasl_mech_uses_token(sasl_mech_find("XOAUTH2", 7)));
	assert_false(sasl_mech_uses_token(sasl_mech_find("PLAIN", 5)));
	assert_int_equal(sasl_mech_cred_kind(sasl_mech_find("OAUTHBEARER", 11)),
			 SASL_CRED_OAUTH_TOKEN);
	assert_true(sasl_mech_sends_password(sasl_mech_find("PLAIN", 5)));
	assert_true(sasl_mech_sends_password(sasl_mech_find("LOGIN", 5)));
	assert_false(sasl_mech_sends_password(sasl_mech_find("CRAM-MD5", 8)));
	assert_true(sasl_mech_client_first(sasl_mech_find("SCRAM-SHA-256", 13)));
	assert_false(sasl_mech_client_first(sasl_mech_find("LOGIN", 5)));
	assert_true(sasl_mech_forbids_initial(sasl_mech_find("CRAM-MD5", 8)));
	assert_false(sasl_mech_forbids_initial(sasl_mech_find("LOGIN", 5)));
	assert_int_equal(sasl_mech_cred_kind(sasl_mech_find("SCRAM-SHA-1", 11)),
			 SASL_CRED_SCRAM_SHA1);
}

/* §1a, client: exactly the 21 bytes of RFC 4616. */
static void
test_plain_1a_client(void **state)
{
	(void)state;
	struct sasl_client_params p = { "tim", "tanstaaftanstaaf", NULL };
	struct sasl_sess *c = sasl_client_new(sasl_mech_find("PLAIN", 5), &p);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	assert_out("\0tim\0tanstaaftanstaaf", 21);
	buf_reset(&out);
	assert_int_equal(t_steps(c, "more", &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&c);
}

static void
test_plain_1a_server(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("PLAIN", 5), NULL);
	assert_int_equal(t_step(s, "\0tim\0tanstaaftanstaaf", 21, &out, &why), SASL_NEED_CRED);
	const struct sasl_cred_request *r = sasl_cred_request(s);
	assert_int_equal(r->kind, SASL_CRED_PASSWORD);
	assert_string_equal(r->authcid, "tim");
	assert_int_equal(r->password_len, 16);
	assert_memory_equal(r->password, "tanstaaftanstaaf", 16);
	assert_string_equal(sasl_sess_authcid(s), "tim");
	assert_null(sasl_sess_authzid(s));
	/* sasl_step() before the answer is a caller bug: refused. */
	t_answer(s, "tim", "tanstaaftanstaaf");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_DONE);
	assert_int_equal(out.len, 0);
	sasl_sess_free(&s);
}

/* §1b: Kurt may not act as Ursel. */
static void
test_plain_1b_refused(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("PLAIN", 5), NULL);
	assert_int_equal(t_step(s, "Ursel\0Kurt\0xipj3plmq", 20, &out, &why), SASL_FAIL);
	assert_string_equal(why, "authorization identity not permitted");
	sasl_sess_free(&s);
}

/* §2a: RFC 4954 payload, authzid equal to authcid, as base64 from the wire. */
static void
test_plain_2a(void **state)
{
	(void)state;
	struct buf dec;
	buf_init(&dec, 64);
	assert_int_equal(b64_decode(&dec, "dGVzdAB0ZXN0ADEyMzQ=", 20), 0);
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("PLAIN", 5), NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);	/* "334 " */
	assert_int_equal(out.len, 0);
	assert_int_equal(t_step(s, dec.p, dec.len, &out, &why), SASL_NEED_CRED);
	assert_string_equal(sasl_sess_authzid(s), "test");
	t_answer(s, "test", "1234");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_DONE);
	sasl_sess_free(&s);
	/* The client with authzid produces the same bytes. */
	struct sasl_client_params p = { "test", "1234", "test" };
	struct sasl_sess *c = sasl_client_new(sasl_mech_find("PLAIN", 5), &p);
	buf_reset(&out);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	assert_out(dec.p, dec.len);
	sasl_sess_free(&c);
	buf_free(&dec);
}

#define CRAM_CHAL "<1896.697170952@postoffice.reston.mci.net>"
#define CRAM_RESP "tim b913a602c7eda7a495b4e6e7334d3890"

static void
test_cram_derive(void **state)
{
	(void)state;
	static const uint8_t want[32] = {
		0xd0, 0x6d, 0x4e, 0x1b, 0x26, 0xfc, 0xca, 0xa4, 0xb0, 0xb6, 0x18, 0x01,
		0x13, 0x23, 0x40, 0xa3, 0x54, 0xb2, 0x11, 0x52, 0x71, 0x1f, 0xb6, 0x04,
		0xca, 0x3e, 0x03, 0x5e, 0x70, 0x15, 0x11, 0x6b,
	};
	uint8_t got[32];
	assert_int_equal(sasl_cram_md5_derive("tanstaaftanstaaf", got), 0);
	assert_memory_equal(got, want, 32);
}

static void
test_cram_client(void **state)
{
	(void)state;
	struct sasl_client_params p = { "tim", "tanstaaftanstaaf", NULL };
	struct sasl_sess *c = sasl_client_new(sasl_mech_find("CRAM-MD5", 8), &p);
	assert_int_equal(t_steps(c, CRAM_CHAL, &out, &why), SASL_MORE);
	assert_out(CRAM_RESP, strlen(CRAM_RESP));
	struct buf enc;
	buf_init(&enc, 128);
	assert_int_equal(b64_encode(&enc, out.p, out.len), 0);
	assert_string_equal(buf_cstr(&enc), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	buf_free(&enc);
	sasl_sess_free(&c);
}

/* Server: challenge via the test nonce; accepts the RFC response from
 * the stored states alone; rejects a digest changed in one digit. */
static void
test_cram_server(void **state)
{
	(void)state;
	for (int bad = 0; bad < 2; bad++) {
		struct sasl_sess *s = sasl_server_new(sasl_mech_find("CRAM-MD5", 8), NULL);
		sasl_sess_set_test_nonce(s, CRAM_CHAL);
		buf_reset(&out);
		assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
		assert_out(CRAM_CHAL, strlen(CRAM_CHAL));
		char resp[] = CRAM_RESP;
		if (bad)
			resp[sizeof resp - 2] = '1';
		assert_int_equal(t_steps(s, resp, &out, &why), SASL_NEED_CRED);
		assert_int_equal(sasl_cred_request(s)->kind, SASL_CRED_CRAM_MD5);
		assert_string_equal(sasl_cred_request(s)->authcid, "tim");
		t_answer(s, "tim", "tanstaaftanstaaf");
		assert_int_equal(t_step(s, NULL, 0, &out, &why), bad ? SASL_FAIL : SASL_DONE);
		sasl_sess_free(&s);
	}
}

struct scram_vec {
	const char *mech, *cnonce, *snonce_part, *cfirst, *sfirst, *cfinal, *sfinal;
	const char *salt, *stored, *server;
};

static const struct scram_vec scram_vecs[] = {
	{ "SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	  "QSXCR+Q6sek8bf92", "6dlGYMOdZcOPutkcNY8U2g7vK9Y=", "D+CSWLOshSulAsxiupA+qs2/fTE=" },
	{ "SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	  "W22ZaJ0SNY7soEsUEjb6gQ==", "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
	  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=" },
};

static void
assert_outs(const char *want)
{
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.p, want, out.len);
	buf_reset(&out);
}

static void
test_scram_client_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const struct scram_vec *v = &scram_vecs[i];
		struct sasl_client_params p = { "user", "pencil", NULL };
		struct sasl_sess *c = sasl_client_new(sasl_mech_find(v->mech, strlen(v->mech)), &p);
		sasl_sess_set_test_nonce(c, v->cnonce);
		assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
		assert_outs(v->cfirst);
		assert_int_equal(t_steps(c, v->sfirst, &out, &why), SASL_MORE);
		assert_outs(v->cfinal);
		assert_int_equal(t_steps(c, v->sfinal, &out, &why), SASL_DONE);
		assert_int_equal(out.len, 0);
		sasl_sess_free(&c);
	}
}

/* The store answer built from the vector's own stored secrets. */
static void
scram_vec_answer(struct sasl_sess *s, const struct scram_vec *v)
{
	struct sasl_cred_answer a;
	struct buf b;
	memset(&a, 0, sizeof a);
	buf_init(&b, 64);
	assert_int_equal(b64_decode(&b, v->salt, strlen(v->salt)), 0);
	memcpy(a.salt, b.p, b.len);
	a.salt_len = b.len;
	buf_reset(&b);
	assert_int_equal(b64_decode(&b, v->stored, strlen(v->stored)), 0);
	memcpy(a.stored_key, b.p, b.len);
	a.key_len = b.len;
	buf_reset(&b);
	assert_int_equal(b64_decode(&b, v->server, strlen(v->server)), 0);
	memcpy(a.server_key, b.p, b.len);
	buf_free(&b);
	a.iterations = 4096;
	sasl_cred_supply(s, &a);
}

static void
test_scram_server_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const struct scram_vec *v = &scram_vecs[i];
		const struct sasl_mech *m = sasl_mech_find(v->mech, strlen(v->mech));
		struct sasl_sess *s = sasl_server_new(m, NULL);
		sasl_sess_set_test_nonce(s, v->snonce_part);
		assert_int_equal(t_steps(s, v->cfirst, &out, &why), SASL_NEED_CRED);
		assert_int_equal(sasl_cred_request(s)->kind, sasl_mech_cred_kind(m));
		assert_string_equal(sasl_cred_request(s)->authcid, "user");
		scram_vec_answer(s, v);
		assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
		assert_outs(v->sfirst);
		assert_int_equal(t_steps(s, v->cfinal, &out, &why), SASL_MORE);
		assert_outs(v->sfinal);
		assert_int_equal(t_step(s, "", 0, &out, &why), SASL_DONE);
		assert_string_equal(sasl_sess_authcid(s), "user");
		sasl_sess_free(&s);
	}
}

/* The store's derivation gives the vector's StoredKey and ServerKey. */
static void
test_scram_derive(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const struct scram_vec *v = &scram_vecs[i];
		struct buf salt, want;
		buf_init(&salt, 64);
		buf_init(&want, 64);
		assert_int_equal(b64_decode(&salt, v->salt, strlen(v->salt)), 0);
		struct sasl_cred_answer a;
		assert_int_equal(sasl_scram_derive(i == 0 ? "SHA1" : "SHA256", "pencil", salt.p,
						   salt.len, 4096, &a, &why), 0);
		assert_int_equal(b64_decode(&want, v->stored, strlen(v->stored)), 0);
		assert_int_equal(a.key_len, want.len);
		assert_memory_equal(a.stored_key, want.p, want.len);
		buf_reset(&want);
		assert_int_equal(b64_decode(&want, v->server, strlen(v->server)), 0);
		assert_memory_equal(a.server_key, want.p, want.len);
		buf_free(&salt);
		buf_free(&want);
	}
}

/* §8 LOGIN, both orders of the server side, and the client. */
static void
test_login_vectors(void **state)
{
	(void)state;
	const struct sasl_mech *m = sasl_mech_find("LOGIN", 5);
	struct sasl_sess *s = sasl_server_new(m, NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_outs("Username:");
	assert_int_equal(t_steps(s, "tim", &out, &why), SASL_MORE);
	assert_outs("Password:");
	assert_int_equal(t_steps(s, "tanstaaftanstaaf", &out, &why), SASL_NEED_CRED);
	t_answer(s, "tim", "tanstaaftanstaaf");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_DONE);
	sasl_sess_free(&s);
	/* User name as initial response: only the password prompt. */
	s = sasl_server_new(m, NULL);
	assert_int_equal(t_steps(s, "tim", &out, &why), SASL_MORE);
	assert_outs("Password:");
	assert_int_equal(t_steps(s, "tanstaaftanstaaf", &out, &why), SASL_NEED_CRED);
	sasl_sess_free(&s);
	/* Client: ignores the prompt text. */
	struct sasl_client_params p = { "tim", "tanstaaftanstaaf", NULL };
	struct sasl_sess *c = sasl_client_new(m, &p);
	assert_int_equal(t_steps(c, "username:", &out, &why), SASL_MORE);
	assert_outs("tim");
	assert_int_equal(t_steps(c, "Secret please", &out, &why), SASL_MORE);
	assert_outs("tanstaaftanstaaf");
	assert_int_equal(t_steps(c, "again?", &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_1a_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_1a_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_1b_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_2a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cram_derive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cram_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cram_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_client_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_server_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_derive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_vectors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
