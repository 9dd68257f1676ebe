/* test_sasl_tamper.c - tampered and malformed messages, each fed as an
 * exact-size heap copy, must give the right refusal on both sides. */
#include "sasl_case.h"

struct tcase {
	const char *in;
	size_t n;		/* 0: strlen(in) */
	enum sasl_rc want;
	const char *why;	/* NULL: any */
};

#define SHA1_FIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define SHA1_SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define SHA1_NONCE "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define SHA1_PROOF "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

/* Server: client-final variants, after the vector's client-first. */
static const struct tcase scram_server_final[] = {
	{ "c=biws," SHA1_NONCE "," SHA1_PROOF, 0, SASL_MORE, NULL },	/* control */
	{ "c=biws," SHA1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE ",p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", 0, SASL_FAIL, "wrong password" },
	{ "c=biws," SHA1_NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T", 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE ",p=djBYOHYzQnoyVDBDSkdiSlF5RjBYK0hJNFRzPQ==", 0, SASL_BADSYNTAX,
	  NULL },	/* right base64, wrong length */
	{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J," SHA1_PROOF, 0, SASL_FAIL,
	  "SCRAM: nonce mismatch" },
	{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL," SHA1_PROOF, 0, SASL_FAIL, NULL },
	{ "c=eSws," SHA1_NONCE "," SHA1_PROOF, 0, SASL_FAIL, NULL },	/* c= mismatch */
	{ "c=bixh," SHA1_NONCE "," SHA1_PROOF, 0, SASL_FAIL, NULL },
	{ "c=biw," SHA1_NONCE "," SHA1_PROOF, 0, SASL_FAIL, NULL },	/* bad base64 */
	{ SHA1_NONCE ",c=biws," SHA1_PROOF, 0, SASL_BADSYNTAX, NULL },	/* reordered */
	{ "c=biws," SHA1_PROOF "," SHA1_NONCE, 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE, 0, SASL_BADSYNTAX, NULL },		/* missing p= */
	{ SHA1_NONCE "," SHA1_PROOF, 0, SASL_BADSYNTAX, NULL },		/* missing c= */
	{ "c=biws," SHA1_NONCE "," SHA1_PROOF ",x=1", 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE "," SHA1_PROOF ",", 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE ",m=x," SHA1_PROOF, 0, SASL_BADSYNTAX, NULL },
	{ "c=biws," SHA1_NONCE ",\0=x," SHA1_PROOF, 78, SASL_BADSYNTAX, NULL },
	{ "", 0, SASL_BADSYNTAX, NULL },
};

static void
scram_vec_answer_sha1(struct sasl_sess *s)
{
	static const uint8_t salt[] = { 0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
					0x3c, 0x6d, 0xff, 0x76 };
	struct sasl_cred_answer a;
	assert_int_equal(sasl_scram_derive("SHA1", "pencil", salt, sizeof salt, 4096, &a, &why), 0);
	a.status = SASL_CRED_OK;
	sasl_cred_supply(s, &a);
}

static struct sasl_sess *
scram_server_at_final(void)
{
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("SCRAM-SHA-1", 11), NULL);
	sasl_sess_set_test_nonce(s, "3rfcNHYJY1ZVvWVs7j");
	assert_int_equal(t_steps(s, SHA1_FIRST, &out, &why), SASL_NEED_CRED);
	scram_vec_answer_sha1(s);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(out.len, strlen(SHA1_SFIRST));
	buf_reset(&out);
	return s;
}

static void
run_cases(const struct tcase *t, size_t count, struct sasl_sess *(*at)(void))
{
	for (size_t i = 0; i < count; i++) {
		struct sasl_sess *s = at();
		size_t n = t[i].n ? t[i].n : strlen(t[i].in);
		enum sasl_rc rc = t_step(s, t[i].in, n, &out, &why);
		if (rc != t[i].want)
			fail_msg("case %zu \"%s\": rc %d, want %d (%s)", i, t[i].in, rc,
				 t[i].want, why ? why : "-");
		if (t[i].why != NULL)
			assert_string_equal(why, t[i].why);
		if (rc != SASL_MORE && rc != SASL_DONE && rc != SASL_NEED_CRED)
			assert_non_null(why);
		buf_reset(&out);
		sasl_sess_free(&s);
	}
}

static void
test_scram_server_final(void **state)
{
	(void)state;
	run_cases(scram_server_final, sizeof scram_server_final / sizeof *scram_server_final,
		  scram_server_at_final);
}

/* Server: client-first variants. NEED_CRED = accepted so far. */
static const struct tcase scram_server_first[] = {
	{ SHA1_FIRST, 0, SASL_NEED_CRED, NULL },			/* control */
	{ "y,,n=user,r=abc", 0, SASL_NEED_CRED, NULL },
	{ "n,a=user,n=user,r=abc", 0, SASL_NEED_CRED, NULL },
	{ "n,,n=user,r=abc,x=ext", 0, SASL_NEED_CRED, NULL },	/* ignored extension */
	{ "n,,n=us=2Cer=3D,r=abc", 0, SASL_NEED_CRED, NULL },
	{ "n,a=other,n=user,r=abc", 0, SASL_FAIL, "authorization identity not permitted" },
	{ "p=tls-unique,,n=user,r=abc", 0, SASL_FAIL, "SCRAM: channel binding requested with a non-PLUS mechanism" },
	{ "x,,n=user,r=abc", 0, SASL_BADSYNTAX, NULL },
	{ "n,n=user,r=abc", 0, SASL_BADSYNTAX, NULL },
	{ "n,,,n=user,r=abc", 0, SASL_BADSYNTAX, NULL },
	{ "n", 0, SASL_BADSYNTAX, NULL },
	{ "n,,", 0, SASL_BADSYNTAX, NULL },
	{ "n,,m=ext,n=user,r=abc", 0, SASL_FAIL, NULL },
	{ "n,,r=abc,n=user", 0, SASL_BADSYNTAX, NULL },		/* reordered */
	{ "n,,n=user", 0, SASL_BADSYNTAX, NULL },			/* missing r= */
	{ "n,,r=abc", 0, SASL_BADSYNTAX, NULL },			/* missing n= */
	{ "n,,n=,r=abc", 0, SASL_BADSYNTAX, NULL },			/* empty user */
	{ "n,,n=us=2Xer,r=abc", 0, SASL_BADSYNTAX, "SCRAM: bad '=' escape in name" },
	{ "n,,n=user=,r=abc", 0, SASL_BADSYNTAX, NULL },
	{ "n,,n=user,r=a\x7f" "bc", 0, SASL_BADSYNTAX, NULL },	/* nonce not printable */
	{ "n,,n=user,r=", 0, SASL_BADSYNTAX, NULL },
	{ "n,,n=us\0er,r=abc", 15, SASL_BADSYNTAX, NULL },
	{ "n,,n=us\xc3(er,r=abc", 0, SASL_BADSYNTAX, NULL },		/* invalid UTF-8 */
	{ "n,,n=a\x07,r=abc", 0, SASL_BADSYNTAX, "SASLprep: prohibited character" },
	{ "n,,n=user,r=abc,", 0, SASL_BADSYNTAX, NULL },
};

static struct sasl_sess *
scram_server_new1(void)
{
	return sasl_server_new(sasl_mech_find("SCRAM-SHA-1", 11), NULL);
}

static void
test_scram_server_first(void **state)
{
	(void)state;
	run_cases(scram_server_first, sizeof scram_server_first / sizeof *scram_server_first,
		  scram_server_new1);
}

/* Client: server-first variants, after the vector's client-first. */
static const struct tcase scram_client_sfirst[] = {
	{ SHA1_SFIRST, 0, SASL_MORE, NULL },				/* control */
	{ SHA1_SFIRST ",x=ext", 0, SASL_MORE, NULL },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf92,i=4095", 0, SASL_FAIL, "iteration count too low" },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf92,i=04096", 0, SASL_BADSYNTAX, NULL },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf92,i=4096x", 0, SASL_BADSYNTAX, NULL },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf92,i=", 0, SASL_BADSYNTAX, NULL },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf9,i=4096", 0, SASL_BADSYNTAX, "SCRAM: bad salt" },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf9*,i=4096", 0, SASL_BADSYNTAX, "SCRAM: bad salt" },
	{ SHA1_NONCE ",s=,i=4096", 0, SASL_BADSYNTAX, NULL },
	{ "r=fyko+d2lbbFgONRv9qkxdawX3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", 0, SASL_FAIL,
	  "SCRAM: server nonce does not extend ours" },
	{ "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", 0, SASL_FAIL, NULL },
	{ "s=QSXCR+Q6sek8bf92," SHA1_NONCE ",i=4096", 0, SASL_BADSYNTAX, NULL },	/* reordered */
	{ SHA1_NONCE ",i=4096,s=QSXCR+Q6sek8bf92", 0, SASL_BADSYNTAX, NULL },
	{ SHA1_NONCE ",s=QSXCR+Q6sek8bf92", 0, SASL_BADSYNTAX, NULL },		/* missing i= */
	{ "m=x," SHA1_SFIRST, 0, SASL_FAIL, NULL },
	{ "e=other-error", 0, SASL_BADSYNTAX, NULL },
	{ "", 0, SASL_BADSYNTAX, NULL },
};

static struct sasl_sess *
scram_client_at_sfirst(void)
{
	struct sasl_client_params p = { "user", "pencil", NULL };
	struct sasl_sess *c = sasl_client_new(sasl_mech_find("SCRAM-SHA-1", 11), &p);
	sasl_sess_set_test_nonce(c, "fyko+d2lbbFgONRv9qkxdawL");
	assert_int_equal(t_step(c, NULL, 0, &out, &why), SASL_MORE);
	buf_reset(&out);
	return c;
}

static void
test_scram_client_sfirst(void **state)
{
	(void)state;
	run_cases(scram_client_sfirst, sizeof scram_client_sfirst / sizeof *scram_client_sfirst,
		  scram_client_at_sfirst);
}

static const struct tcase scram_client_sfinal[] = {
	{ "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 0, SASL_DONE, NULL },	/* control */
	{ "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=y", 0, SASL_DONE, NULL },
	{ "v=smF9pqV8S7suAoZWja4dJRkFsKQ=", 0, SASL_FAIL, "server signature mismatch" },
	{ "v=rmF9pqV8S7suAoZWja4dJRkFsKQ", 0, SASL_BADSYNTAX, NULL },
	{ "v=", 0, SASL_BADSYNTAX, NULL },
	{ "e=invalid-proof", 0, SASL_FAIL, NULL },
	{ "", 0, SASL_BADSYNTAX, NULL },
};

static struct sasl_sess *
scram_client_at_sfinal(void)
{
	struct sasl_sess *c = scram_client_at_sfirst();
	assert_int_equal(t_steps(c, SHA1_SFIRST, &out, &why), SASL_MORE);
	buf_reset(&out);
	return c;
}

static void
test_scram_client_sfinal(void **state)
{
	(void)state;
	run_cases(scram_client_sfinal, sizeof scram_client_sfinal / sizeof *scram_client_sfinal,
		  scram_client_at_sfinal);
}

static const struct tcase plain_server[] = {
	{ "\0tim\0pw", 7, SASL_NEED_CRED, NULL },			/* control */
	{ "\0ti\0m\0pw", 8, SASL_BADSYNTAX, NULL },			/* NUL in user */
	{ "\0tim\0p\0w", 8, SASL_BADSYNTAX, NULL },			/* extra NUL */
	{ "tim\0pw", 6, SASL_BADSYNTAX, NULL },				/* one NUL */
	{ "timpw", 5, SASL_BADSYNTAX, NULL },
	{ "", 0, SASL_BADSYNTAX, NULL },
	{ "\0\0pw", 4, SASL_BADSYNTAX, "empty name or password" },	/* empty user */
	{ "\0tim\0", 5, SASL_BADSYNTAX, NULL },				/* empty password */
	{ "\0t\xc3(m\0pw", 8, SASL_BADSYNTAX, "invalid UTF-8" },
	{ "\xff\0tim\0pw", 8, SASL_BADSYNTAX, NULL },			/* bad authzid */
	{ "\0a\x07\0pw", 6, SASL_BADSYNTAX, "SASLprep: prohibited character" },
	{ "\0\xc2\xad\0pw", 6, SASL_BADSYNTAX, NULL },			/* empty after SASLprep */
};

static struct sasl_sess *
plain_server_new(void)
{
	return sasl_server_new(sasl_mech_find("PLAIN", 5), NULL);
}

static void
test_plain_server(void **state)
{
	(void)state;
	run_cases(plain_server, sizeof plain_server / sizeof *plain_server, plain_server_new);
}

/* Over-long messages and fields, on every mechanism and side. */
static void
test_sizes(void **state)
{
	(void)state;
	size_t big = SASL_MSG_MAX + 1;
	uint8_t *p = malloc(big);
	if (p == NULL)
		abort();	/* noreturn, unlike cmocka's asserts: gcc then knows p is set */
	memset(p, 'a', big);
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		struct sasl_sess *s = sasl_server_new(sasl_mech_at(i), NULL);
		assert_int_equal(t_step(s, p, big, &out, &why), SASL_BADSYNTAX);
		assert_string_equal(why, "SASL message too long");
		/* And nothing after the end. */
		assert_int_equal(t_step(s, "", 0, &out, &why), SASL_BADSYNTAX);
		sasl_sess_free(&s);
	}
	/* PLAIN: 256-byte user name, 1025-byte password. */
	memset(p, 0, 3);
	p[0] = 0;
	memset(p + 1, 'u', 256);
	p[257] = 0;
	memset(p + 258, 'p', 8);
	struct sasl_sess *s = plain_server_new();
	assert_int_equal(t_step(s, p, 266, &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
	memset(p + 1, 'u', 255);
	p[256] = 0;
	memset(p + 257, 'p', 1025);
	s = plain_server_new();
	assert_int_equal(t_step(s, p, 257 + 1025, &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
	s = plain_server_new();
	assert_int_equal(t_step(s, p, 257 + 1024, &out, &why), SASL_NEED_CRED);
	sasl_sess_free(&s);
	free(p);
}

static void
test_login_server(void **state)
{
	(void)state;
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("LOGIN", 5), NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_steps(s, "tim", &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, "", 0, &out, &why), SASL_BADSYNTAX);	/* no password */
	sasl_sess_free(&s);
	s = sasl_server_new(sasl_mech_find("LOGIN", 5), NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_BADSYNTAX);	/* no message */
	sasl_sess_free(&s);
	s = sasl_server_new(sasl_mech_find("LOGIN", 5), NULL);
	assert_int_equal(t_step(s, "", 0, &out, &why), SASL_BADSYNTAX);	/* empty user */
	sasl_sess_free(&s);
	s = sasl_server_new(sasl_mech_find("LOGIN", 5), NULL);
	assert_int_equal(t_step(s, "t\0m", 3, &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
}

static const struct tcase cram_server[] = {
	{ "tim b913a602c7eda7a495b4e6e7334d3890", 0, SASL_NEED_CRED, NULL },	/* control */
	{ "tim B913A602C7EDA7A495B4E6E7334D3890", 0, SASL_BADSYNTAX, NULL },
	{ "tim b913a602c7eda7a495b4e6e7334d389", 0, SASL_BADSYNTAX, NULL },
	{ "tim  b913a602c7eda7a495b4e6e7334d389", 0, SASL_BADSYNTAX, NULL },
	{ "timb913a602c7eda7a495b4e6e7334d38901", 0, SASL_BADSYNTAX, NULL },
	{ " b913a602c7eda7a495b4e6e7334d3890", 0, SASL_BADSYNTAX, NULL },
	{ "tim b913a602c7eda7a495b4e6e7334d389g", 0, SASL_BADSYNTAX, NULL },
	{ "", 0, SASL_BADSYNTAX, NULL },
};

static struct sasl_sess *
cram_server_at_resp(void)
{
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("CRAM-MD5", 8), NULL);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	/* Random challenge: <digits.digits@localhost> */
	assert_true(out.len > 4 && out.p[0] == '<' && out.p[out.len - 1] == '>');
	assert_non_null(strstr(buf_cstr(&out), "@localhost>"));
	buf_reset(&out);
	return s;
}

static void
test_cram_server(void **state)
{
	(void)state;
	run_cases(cram_server, sizeof cram_server / sizeof *cram_server, cram_server_at_resp);
	/* An initial response is refused (RFC 4954: 501). */
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("CRAM-MD5", 8), NULL);
	assert_int_equal(t_steps(s, "tim", &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
	/* Store trouble is TEMPFAIL; a missing secret is FAIL. */
	enum sasl_cred_status st[] = { SASL_CRED_TEMPFAIL, SASL_CRED_NOSECRET, SASL_CRED_NOUSER };
	enum sasl_rc want[] = { SASL_TEMPFAIL, SASL_FAIL, SASL_FAIL };
	for (size_t i = 0; i < 3; i++) {
		s = cram_server_at_resp();
		assert_int_equal(t_steps(s, cram_server[0].in, &out, &why), SASL_NEED_CRED);
		/* Resuming without an answer is a caller bug: TEMPFAIL. */
		if (i == 0) {
			assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_TEMPFAIL);
			sasl_sess_free(&s);
			s = cram_server_at_resp();
			assert_int_equal(t_steps(s, cram_server[0].in, &out, &why), SASL_NEED_CRED);
		}
		struct sasl_cred_answer a = { .status = st[i] };
		sasl_cred_supply(s, &a);
		assert_int_equal(t_step(s, NULL, 0, &out, &why), want[i]);
		sasl_sess_free(&s);
	}
}

/* SCRAM server: an unknown user still gets a server-first, and fails
 * only at the proof; TEMPFAIL from the store is TEMPFAIL. */
static void
test_scram_unknown_user(void **state)
{
	(void)state;
	struct sasl_sess *s = scram_server_new1();
	assert_int_equal(t_steps(s, SHA1_FIRST, &out, &why), SASL_NEED_CRED);
	struct sasl_cred_answer a = { .status = SASL_CRED_NOUSER };
	sasl_cred_supply(s, &a);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	assert_non_null(strstr(buf_cstr(&out), ",s="));
	assert_non_null(strstr(buf_cstr(&out), ",i=4096"));
	buf_reset(&out);
	sasl_sess_free(&s);
	s = scram_server_new1();
	assert_int_equal(t_steps(s, SHA1_FIRST, &out, &why), SASL_NEED_CRED);
	a.status = SASL_CRED_TEMPFAIL;
	sasl_cred_supply(s, &a);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_TEMPFAIL);
	sasl_sess_free(&s);
	/* Data in the acknowledgement of v= is refused. */
	s = scram_server_at_final();
	assert_int_equal(t_steps(s, "c=biws," SHA1_NONCE "," SHA1_PROOF, &out, &why), SASL_MORE);
	assert_int_equal(t_steps(s, "x", &out, &why), SASL_BADSYNTAX);
	sasl_sess_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scram_server_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_server_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_client_sfirst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_client_sfinal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_unknown_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cram_server, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
