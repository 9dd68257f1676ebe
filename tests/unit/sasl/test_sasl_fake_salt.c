/* test_sasl_fake_salt.c - SCRAM does not tell who exists: an unknown
 * user's server-first-message (salt, iteration count) is as stable as a
 * real user's when the server gives a lifetime key, and differs between
 * users, mechanisms and keys. */
#include "sasl_test.h"

static const uint8_t key_a[32] = { 0xa1, 0xa2, 0xa3 };
static const uint8_t key_b[32] = { 0xb1, 0xb2, 0xb3 };

/* The ",s=SALT,i=N" tail of the server-first-message that session s
 * gives an unknown user (status: NOUSER or NOSECRET); a new string.
 * Frees s. */
static char *
sess_fake_tail(struct sasl_sess *s, const char *user, enum sasl_cred_status status)
{
	struct buf out, first;
	const char *why = NULL;
	buf_init(&out, SASL_MSG_MAX);
	buf_init(&first, SASL_MSG_MAX);
	assert_non_null(s);
	assert_int_equal(buf_printf(&first, "n,,n=%s,r=clientnonce", user), BUF_OK);
	assert_int_equal(t_steps(s, buf_cstr(&first), &out, &why), SASL_NEED_CRED);
	struct sasl_cred_answer a;
	memset(&a, 0, sizeof a);
	a.status = status;
	sasl_cred_supply(s, &a);
	assert_int_equal(t_step(s, NULL, 0, &out, &why), SASL_MORE);
	const char *tail = strstr(buf_cstr(&out), ",s=");
	assert_non_null(tail);
	char *r = strdup(tail);
	assert_non_null(r);
	sasl_sess_free(&s);
	assert_null(s);
	buf_free(&out);
	buf_free(&first);
	return r;
}

static char *
fake_tail_status(const char *mech, const struct sasl_server_params *p, const char *user,
		 enum sasl_cred_status status)
{
	return sess_fake_tail(sasl_server_new(sasl_mech_find(mech, strlen(mech)), p), user, status);
}

static char *
fake_tail(const char *mech, const struct sasl_server_params *p, const char *user)
{
	return fake_tail_status(mech, p, user, SASL_CRED_NOUSER);
}

static void
test_same_key_same_user_same_salt(void **state)
{
	(void)state;
	struct sasl_server_params p = { .fake_salt_key = key_a, .fake_salt_key_len = sizeof key_a };
	char *one = fake_tail("SCRAM-SHA-256", &p, "ghost");
	char *two = fake_tail("SCRAM-SHA-256", &p, "ghost");
	assert_string_equal(one, two);
	/* 16 bytes of salt (24 base64 characters), like `postern passwd`,
	 * and the iteration count real entries carry. */
	assert_int_equal(strlen(one), strlen(",s=") + 24 + strlen(",i=4096"));
	assert_non_null(strstr(one, ",i=4096"));
	/* A user who exists without a SCRAM secret looks the same. */
	char *nosecret = fake_tail_status("SCRAM-SHA-256", &p, "ghost", SASL_CRED_NOSECRET);
	assert_string_equal(one, nosecret);
	free(one);
	free(two);
	free(nosecret);
}

static void
test_salts_differ(void **state)
{
	(void)state;
	struct sasl_server_params pa = { .fake_salt_key = key_a, .fake_salt_key_len = sizeof key_a };
	struct sasl_server_params pb = { .fake_salt_key = key_b, .fake_salt_key_len = sizeof key_b };
	char *ghost = fake_tail("SCRAM-SHA-256", &pa, "ghost");
	char *other = fake_tail("SCRAM-SHA-256", &pa, "ghost2");
	char *sha1 = fake_tail("SCRAM-SHA-1", &pa, "ghost");
	char *keyb = fake_tail("SCRAM-SHA-256", &pb, "ghost");
	assert_string_not_equal(ghost, other);	/* another user */
	assert_string_not_equal(ghost, sha1);	/* real entries salt each scheme apart */
	assert_string_not_equal(ghost, keyb);	/* another server */
	free(ghost);
	free(other);
	free(sha1);
	free(keyb);
}

/* Without a key (the old behaviour, still the default for callers that
 * give none) each session draws its own: the salts differ. */
static void
test_no_key_per_session(void **state)
{
	(void)state;
	char *one = fake_tail("SCRAM-SHA-1", NULL, "ghost");
	char *two = fake_tail("SCRAM-SHA-1", NULL, "ghost");
	assert_string_not_equal(one, two);
	free(one);
	free(two);
}

static void
test_fake_iterations(void **state)
{
	(void)state;
	struct sasl_server_params p = { .fake_salt_key = key_a, .fake_salt_key_len = sizeof key_a,
					.fake_iterations = 10000 };
	char *t = fake_tail("SCRAM-SHA-1", &p, "ghost");
	assert_non_null(strstr(t, ",i=10000"));
	free(t);
}

/* The key is copied: the caller's buffer may change after new(). */
static void
test_key_copied(void **state)
{
	(void)state;
	uint8_t key[32];
	memcpy(key, key_a, sizeof key);
	struct sasl_server_params p = { .fake_salt_key = key, .fake_salt_key_len = sizeof key };
	char *want = fake_tail("SCRAM-SHA-256", &p, "ghost");
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("SCRAM-SHA-256", 13), &p);
	memset(key, 0, sizeof key);
	char *got = sess_fake_tail(s, "ghost", SASL_CRED_NOUSER);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

/* An unknown user still fails, at the proof, with a reason for the log. */
static void
test_unknown_user_fails(void **state)
{
	(void)state;
	struct sasl_client_params cp = { .authcid = "ghost", .password = "pencil" };
	struct sasl_server_params sp = { .fake_salt_key = key_a, .fake_salt_key_len = sizeof key_a };
	const struct sasl_mech *m = sasl_mech_find("SCRAM-SHA-256", 13);
	struct sasl_sess *c = sasl_client_new(m, &cp), *s = sasl_server_new(m, &sp);
	struct buf co, so;
	const char *why = NULL;
	buf_init(&co, SASL_MSG_MAX);
	buf_init(&so, SASL_MSG_MAX);
	assert_int_equal(t_step(c, NULL, 0, &co, &why), SASL_MORE);
	assert_int_equal(t_step(s, co.p, co.len, &so, &why), SASL_NEED_CRED);
	t_answer(s, "user", "pencil");	/* knows "user" only */
	assert_int_equal(t_step(s, NULL, 0, &so, &why), SASL_MORE);
	buf_reset(&co);
	assert_int_equal(t_step(c, so.p, so.len, &co, &why), SASL_MORE);
	buf_reset(&so);
	assert_int_equal(t_step(s, co.p, co.len, &so, &why), SASL_FAIL);
	assert_string_equal(why, "unknown user");
	sasl_sess_free(&c);
	sasl_sess_free(&s);
	buf_free(&co);
	buf_free(&so);
}

/* Regression (issue 12 item 9): sasl_sess_set_test_nonce() freed the
 * fake-salt key without clearing the pointer, and sasl_sess_free()
 * freed it again (ASan: double free).  The test nonce leaves the key
 * alone: the unknown user's salt is still the keyed one. */
static void
test_test_nonce_keeps_key(void **state)
{
	(void)state;
	struct sasl_server_params p = { .fake_salt_key = key_a, .fake_salt_key_len = sizeof key_a };
	char *want = fake_tail("SCRAM-SHA-256", &p, "ghost");
	struct sasl_sess *s = sasl_server_new(sasl_mech_find("SCRAM-SHA-256", 13), &p);
	assert_non_null(s);
	sasl_sess_set_test_nonce(s, "servernonce");
	sasl_sess_set_test_nonce(s, "servernonce2");
	char *got = sess_fake_tail(s, "ghost", SASL_CRED_NOUSER);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_key_same_user_same_salt),
		cmocka_unit_test(test_salts_differ),
		cmocka_unit_test(test_no_key_per_session),
		cmocka_unit_test(test_fake_iterations),
		cmocka_unit_test(test_key_copied),
		cmocka_unit_test(test_unknown_user_fails),
		cmocka_unit_test(test_test_nonce_keeps_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
