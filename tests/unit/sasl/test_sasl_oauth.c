/* test_sasl_oauth.c - OAUTHBEARER (RFC 7628 section 4) and XOAUTH2
 * (Google's published example), both sides, byte for byte, and the
 * messages a hostile or broken client might send instead. */
#include "sasl_case.h"

#include "util/b64.h"

#define RFC_TOKEN "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
/* RFC 7628 section 4.1, the client's message (with host and port). */
#define RFC_MSG "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01" \
		"auth=Bearer " RFC_TOKEN "\x01\x01"
/* Section 4.3: the server's error status, base64 as on the wire. */
#define RFC_ERR_B64 "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3Blb" \
		    "mlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5p" \
		    "ZC1jb25maWd1cmF0aW9uIn0="
#define G_TOKEN "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
#define G_MSG "user=someuser@example.com\x01" "auth=Bearer " G_TOKEN "\x01\x01"

static const struct sasl_mech *
ob(void)
{
	return sasl_mech_find("OAUTHBEARER", 11);
}

static const struct sasl_mech *
xo(void)
{
	return sasl_mech_find("XOAUTH2", 7);
}

/* The verifier's answer: OK for user, or invalid with the RFC's fields. */
static void
answer(struct sasl_sess *s, const char *user)
{
	const struct sasl_cred_request *r = sasl_cred_request(s);
	assert_non_null(r);
	assert_int_equal(r->kind, SASL_CRED_OAUTH_TOKEN);
	struct sasl_cred_answer a;
	memset(&a, 0, sizeof a);
	if (user != NULL) {
		a.status = SASL_CRED_OK;
		(void)snprintf(a.token_user, sizeof a.token_user, "%s", user);
	} else {
		a.status = SASL_CRED_BADPASS;
		(void)snprintf(a.oauth_status, sizeof a.oauth_status, "invalid_token");
		(void)snprintf(a.oauth_scope, sizeof a.oauth_scope, "example_scope");
		(void)snprintf(a.oauth_openid_config, sizeof a.oauth_openid_config, "%s",
			       "https://example.com/.well-known/openid-configuration");
	}
	sasl_cred_supply(s, &a);
}

static void
test_ob_server_success(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	const struct sasl_cred_request *r = sasl_cred_request(s);
	assert_string_equal(r->authcid, "user@example.com");
	assert_int_equal(r->password_len, sizeof RFC_TOKEN - 1);
	assert_memory_equal(r->password, RFC_TOKEN, sizeof RFC_TOKEN - 1);
	answer(s, "user@example.com");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_DONE);
	assert_string_equal(sasl_sess_authcid(s), "user@example.com");
	sasl_sess_free(&s);
}

/* Section 4.3: error challenge, the client's %x01, failure. */
static void
test_ob_server_failure(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	answer(s, NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	struct buf wire;
	buf_init(&wire, 1024);
	assert_int_equal(b64_encode(&wire, out.p, out.len), BUF_OK);
	assert_int_equal(wire.len, sizeof RFC_ERR_B64 - 1);
	assert_memory_equal(wire.p, RFC_ERR_B64, wire.len);
	buf_free(&wire);
	assert_int_equal(t_step(s, "\x01", 1, &out, &why), SASL_FAIL);
	assert_string_equal(why, "invalid token");
	sasl_sess_free(&s);
}

/* msmtp 1.8.23 answers OAUTHBEARER's error challenge with an empty
 * line: still a failure (535), not a syntax error (501). */
static void
test_ob_server_failure_empty_answer(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	answer(s, NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, "", 0, &out, &why), SASL_FAIL);
	assert_string_equal(why, "invalid token");
	sasl_sess_free(&s);
	s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	answer(s, NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, "xx", 2, &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
}

/* A token valid for user A presented in a message naming user B. */
static void
test_ob_server_other_user(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	answer(s, "mallory@example.com");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_non_null(memmem(out.p, out.len, "\"status\":\"invalid_token\"", 24));
	assert_int_equal(t_step(s, "\x01", 1, &out, &why), SASL_FAIL);
	assert_string_equal(why, "the token was issued to another user");
	sasl_sess_free(&s);
	/* Without an authzid the token's user is the one logged in. */
	static const char noz[] = "n,,\x01" "auth=Bearer abc.def\x01\x01";
	s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, noz, sizeof noz - 1, &out, &why), SASL_NEED_CRED);
	assert_string_equal(sasl_cred_request(s)->authcid, "");
	answer(s, "alice@example.com");
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_DONE);
	assert_string_equal(sasl_sess_authcid(s), "alice@example.com");
	sasl_sess_free(&s);
}

static void
test_ob_client(void **state)
{
	(void)state;
	static const char want[] = "n,a=user@example.com,\x01" "auth=Bearer " RFC_TOKEN "\x01\x01";
	struct sasl_client_params p = { "user@example.com", RFC_TOKEN, NULL };
	struct sasl_sess *c = sasl_client_new(ob(), &p);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(out.len, sizeof want - 1);
	assert_memory_equal(out.p, want, out.len);
	assert_null(sasl_sess_peer_error(c));
	/* The error challenge: answered with %x01, kept for the caller. */
	struct buf err;
	buf_init(&err, 1024);
	assert_int_equal(b64_decode(&err, RFC_ERR_B64, sizeof RFC_ERR_B64 - 1), 0);
	buf_reset(&out);
	assert_int_equal(t_step(c, err.p, err.len, &out, &why), SASL_MORE);
	assert_int_equal(out.len, 1);
	assert_int_equal(out.p[0], 0x01);
	assert_string_equal(sasl_sess_peer_error(c),
			    "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
			    "\"openid-configuration\":"
			    "\"https://example.com/.well-known/openid-configuration\"}");
	assert_int_equal(t_step(c, err.p, err.len, &out, &why), SASL_BADSYNTAX);
	buf_free(&err);
	sasl_sess_free(&c);
	/* ',' and '=' in the user are escaped as RFC 5801 saslname. */
	struct sasl_client_params q = { "a,b=c", "t", NULL };
	c = sasl_client_new(ob(), &q);
	buf_reset(&out);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	assert_memory_equal(out.p, "n,a=a=2Cb=3Dc,\x01", 15);
	sasl_sess_free(&c);
	/* A token with a space or %x01 is never sent. */
	struct sasl_client_params bad = { "u", "to ken", NULL };
	c = sasl_client_new(ob(), &bad);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_FAIL);
	sasl_sess_free(&c);
}

static void
test_xo_both(void **state)
{
	(void)state;
	struct sasl_client_params p = { "someuser@example.com", G_TOKEN, NULL };
	struct sasl_sess *c = sasl_client_new(xo(), &p);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(out.len, sizeof G_MSG - 1);
	assert_memory_equal(out.p, G_MSG, out.len);
	struct sasl_sess *s = sasl_server_new(xo(), NULL);
	assert_int_equal(t_step(s, out.p, out.len, &out, &why), SASL_NEED_CRED);
	assert_string_equal(sasl_cred_request(s)->authcid, "someuser@example.com");
	answer(s, NULL);
	buf_reset(&out);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	static const char gerr[] = "{\"status\":\"400\",\"schemes\":\"Bearer\","
				   "\"scope\":\"example_scope\"}";
	assert_int_equal(out.len, sizeof gerr - 1);
	assert_memory_equal(out.p, gerr, out.len);
	/* The client keeps it and answers with an empty message. */
	struct buf ans;
	buf_init(&ans, 64);
	assert_int_equal(t_step(c, out.p, out.len, &ans, &why), SASL_MORE);
	assert_int_equal(ans.len, 0);
	assert_string_equal(sasl_sess_peer_error(c), gerr);
	assert_int_equal(t_step(s, "", 0, &out, &why), SASL_FAIL);
	buf_free(&ans);
	sasl_sess_free(&s);
	sasl_sess_free(&c);
	/* XOAUTH2 needs a user. */
	struct sasl_client_params nou = { "", G_TOKEN, NULL };
	c = sasl_client_new(xo(), &nou);
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_FAIL);
	sasl_sess_free(&c);
}

/* Each malformed message is refused before the store sees a token. */
static void
test_tampered(void **state)
{
	(void)state;
	static const struct {
		bool xoauth2;
		const char *msg;
		size_t len;
	} cases[] = {
#define C(x, m) { x, m, sizeof m - 1 }
		C(false, "p=tls-unique,,\x01" "auth=Bearer t\x01\x01"),	/* channel binding */
		C(false, "x,,\x01" "auth=Bearer t\x01\x01"),		/* bad cbind flag */
		C(false, "n,a=u\x01" "auth=Bearer t\x01\x01"),		/* header not closed */
		C(false, "n,b=u,\x01" "auth=Bearer t\x01\x01"),		/* not a= */
		C(false, "n,a=u=2Xv,\x01" "auth=Bearer t\x01\x01"),	/* bad escape */
		C(false, "n,,\x01" "auth=Bearer t\x01"),		/* no final kvsep */
		C(false, "n,,\x01" "auth=Bearer t\x01\x01\x01"),	/* extra kvsep */
		C(false, "n,,\x01" "host=h\x01\x01"),			/* no auth */
		C(false, "n,,\x01" "auth=Bearer t\x01" "auth=Bearer u\x01\x01"),
		C(false, "n,,\x01" "auth=Basic dTpw\x01\x01"),		/* not Bearer */
		C(false, "n,,\x01" "auth=Bearer \x01\x01"),		/* empty token */
		C(false, "n,,\x01" "auth=Bearer a b\x01\x01"),		/* space in token */
		C(false, "n,,\x01" "auth=Bearer t=x\x01\x01"),		/* '=' inside */
		C(false, "n,,\x01" "1uth=Bearer t\x01\x01"),		/* key not ALPHA */
		C(false, "n,,\x01" "auth=Bearer t\x01\x00\x01"),	/* NUL */
		C(false, "n,,\x01" "h=\x7f\x01" "auth=Bearer t\x01\x01"),	/* DEL in value */
		C(false, "\x01"),					/* only kvsep */
		C(false, ""),
		C(true, "user=u\x01" "auth=Bearer t\x01"),		/* one kvsep */
		C(true, "user=\x01" "auth=Bearer t\x01\x01"),		/* empty user */
		C(true, "auth=Bearer t\x01" "user=u\x01\x01"),		/* order */
		C(true, "user=u\x01" "auth=Bearer t\x01" "x=y\x01\x01"),	/* extra pair */
		C(true, "user=u\x01" "auth=Bearer\x01\x01"),		/* no token */
		C(true, "user=u\x00\x01" "auth=Bearer t\x01\x01"),	/* NUL */
		C(true, "user=u"),
		C(true, ""),
#undef C
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_sess *s = sasl_server_new(cases[i].xoauth2 ? xo() : ob(), NULL);
		enum sasl_rc rc = t_step(s, cases[i].msg, cases[i].len, &out, &why);
		if (rc != SASL_BADSYNTAX)
			fail_msg("case %zu: rc %d", i, rc);
		assert_null(sasl_cred_request(s));
		sasl_sess_free(&s);
	}
	/* After the error challenge, anything but the expected answer. */
	struct sasl_sess *s = sasl_server_new(ob(), NULL);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_NEED_CRED);
	answer(s, NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, RFC_MSG, sizeof RFC_MSG - 1, &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ob_server_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ob_server_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ob_server_failure_empty_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ob_server_other_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ob_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xo_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
