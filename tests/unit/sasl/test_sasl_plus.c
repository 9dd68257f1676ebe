/* test_sasl_plus.c - SCRAM-*-PLUS channel binding (RFC 5802 section 6,
 * RFC 9266, RFC 5929) and EXTERNAL (RFC 4422 appendix A): both bindings,
 * another channel, the downgrade ("y" while -PLUS was offered), binding
 * types we do not have, and the gs2 header on the wire. */
#include "sasl_test.h"

static const struct sasl_mech *
mech(const char *name)
{
	const struct sasl_mech *m = sasl_mech_find(name, strlen(name));
	assert_non_null(m);
	return m;
}

/* The client's first message for m over channel cb (NULL: no TLS). */
static void
first_message(const char *m, const struct sasl_cb *cb, char *out, size_t max)
{
	struct sasl_client_params cp = { .authcid = "alice", .password = "pw" };
	struct sasl_sess *c = sasl_client_new(mech(m), &cp);
	struct buf b;
	const char *why = NULL;
	buf_init(&b, SASL_MSG_MAX);
	if (cb != NULL)
		sasl_sess_set_cb(c, cb);
	sasl_sess_set_test_nonce(c, "abc");
	enum sasl_rc rc = t_step(c, NULL, 0, &b, &why);
	(void)snprintf(out, max, "%d %.*s", rc, (int)b.len, b.p ? (const char *)b.p : "");
	buf_free(&b);
	sasl_sess_free(&c);
}

static void
test_gs2_header(void **state)
{
	(void)state;
	struct sasl_cb tls13 = t_cb(1, true), tls12 = t_cb(1, false);
	char got[256];
	first_message("SCRAM-SHA-256-PLUS", &tls13, got, sizeof got);
	assert_string_equal(got, "1 p=tls-exporter,,n=alice,r=abc");
	/* TLS 1.2: no exporter (RFC 9266 section 3), the end point instead. */
	first_message("SCRAM-SHA-1-PLUS", &tls12, got, sizeof got);
	assert_string_equal(got, "1 p=tls-server-end-point,,n=alice,r=abc");
	/* Plain SCRAM over TLS: "y", we could have bound. */
	first_message("SCRAM-SHA-256", &tls13, got, sizeof got);
	assert_string_equal(got, "1 y,,n=alice,r=abc");
	first_message("SCRAM-SHA-256", NULL, got, sizeof got);
	assert_string_equal(got, "1 n,,n=alice,r=abc");
	/* -PLUS without a channel cannot start. */
	first_message("SCRAM-SHA-256-PLUS", NULL, got, sizeof got);
	assert_string_equal(got, "2 ");
}

static void
test_plus_both_bindings(void **state)
{
	(void)state;
	const char *names[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS" };
	for (size_t i = 0; i < 2; i++) {
		for (int exporter = 0; exporter <= 1; exporter++) {
			struct sasl_cb cb = t_cb(3, exporter != 0);
			struct t_chan ch = { &cb, &cb, true, NULL };
			struct t_pair r = t_pair_run_chan(mech(names[i]), "alice", "pw", "alice", "pw", &ch);
			assert_int_equal(r.server, SASL_DONE);
			assert_int_equal(r.client, SASL_DONE);
			r = t_pair_run_chan(mech(names[i]), "alice", "bad", "alice", "pw", &ch);
			assert_int_equal(r.server, SASL_FAIL);
			assert_string_equal(r.swhy, "wrong password");
		}
	}
}

/* A man in the middle terminates TLS on both sides: the client's
 * channel differs from the server's, so c= differs. */
static void
test_plus_other_channel(void **state)
{
	(void)state;
	for (int exporter = 0; exporter <= 1; exporter++) {
		struct sasl_cb ccb = t_cb(3, exporter != 0), scb = t_cb(4, exporter != 0);
		struct t_chan ch = { &ccb, &scb, true, NULL };
		struct t_pair r = t_pair_run_chan(mech("SCRAM-SHA-256-PLUS"), "alice", "pw", "alice",
						  "pw", &ch);
		assert_int_equal(r.server, SASL_FAIL);
		assert_string_equal(r.swhy, "SCRAM: channel binding data differ (another TLS channel)");
	}
	/* The client binds with the exporter; the server's TLS is 1.2. */
	struct sasl_cb ccb = t_cb(3, true), scb = t_cb(3, false);
	struct t_chan ch = { &ccb, &scb, true, NULL };
	struct t_pair r = t_pair_run_chan(mech("SCRAM-SHA-256-PLUS"), "alice", "pw", "alice", "pw", &ch);
	assert_int_equal(r.server, SASL_FAIL);
	assert_string_equal(r.swhy, "SCRAM: unsupported channel binding type");
}

/* RFC 5802 section 6: "y" to a server that offered -PLUS fails; to one
 * that did not, it is fine; "n" is always fine for plain SCRAM. */
static void
test_downgrade(void **state)
{
	(void)state;
	struct sasl_cb cb = t_cb(5, true);
	struct t_chan offered = { &cb, &cb, true, NULL }, not_offered = { &cb, &cb, false, NULL };
	struct t_chan no_tls = { NULL, &cb, true, NULL };
	struct t_pair r = t_pair_run_chan(mech("SCRAM-SHA-256"), "alice", "pw", "alice", "pw", &offered);
	assert_int_equal(r.server, SASL_FAIL);
	assert_string_equal(r.swhy,
			    "SCRAM: client says we offer no channel binding, but we did (downgrade)");
	r = t_pair_run_chan(mech("SCRAM-SHA-1"), "alice", "pw", "alice", "pw", &not_offered);
	assert_int_equal(r.server, SASL_DONE);
	r = t_pair_run_chan(mech("SCRAM-SHA-256"), "alice", "pw", "alice", "pw", &no_tls);
	assert_int_equal(r.server, SASL_DONE);
}

static void
test_plus_server_refuses(void **state)
{
	(void)state;
	struct sasl_cb cb = t_cb(6, true);
	static const struct {
		const char *mech, *in, *why;
	} cases[] = {
		{ "SCRAM-SHA-256-PLUS", "p=tls-unique,,n=alice,r=abc",
		  "SCRAM: unsupported channel binding type" },
		{ "SCRAM-SHA-256-PLUS", "n,,n=alice,r=abc",
		  "SCRAM: -PLUS mechanism without channel binding" },
		{ "SCRAM-SHA-256-PLUS", "y,,n=alice,r=abc",
		  "SCRAM: -PLUS mechanism without channel binding" },
		{ "SCRAM-SHA-256", "p=tls-exporter,,n=alice,r=abc",
		  "SCRAM: channel binding requested with a non-PLUS mechanism" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct sasl_server_params sp = { .cb = &cb, .plus_offered = true };
		struct sasl_sess *s = sasl_server_new(mech(cases[i].mech), &sp);
		struct buf b;
		const char *why = NULL;
		buf_init(&b, SASL_MSG_MAX);
		assert_int_equal(t_steps(s, cases[i].in, &b, &why), SASL_FAIL);
		assert_string_equal(why, cases[i].why);
		buf_free(&b);
		sasl_sess_free(&s);
	}
	/* -PLUS on a server without TLS data: nothing to bind to. */
	struct sasl_sess *s = sasl_server_new(mech("SCRAM-SHA-1-PLUS"), NULL);
	struct buf b;
	const char *why = NULL;
	buf_init(&b, SASL_MSG_MAX);
	assert_int_equal(t_steps(s, "p=tls-exporter,,n=alice,r=abc", &b, &why), SASL_FAIL);
	assert_string_equal(why, "SCRAM: unsupported channel binding type");
	buf_free(&b);
	sasl_sess_free(&s);
}

/* One EXTERNAL exchange: server side only (the message is the authzid). */
static enum sasl_rc
external(const char *user, const char *authzid, const char **who_r)
{
	struct sasl_server_params sp = { .external_user = user };
	struct sasl_sess *s = sasl_server_new(mech("EXTERNAL"), &sp);
	struct buf b;
	const char *why = NULL;
	buf_init(&b, SASL_MSG_MAX);
	enum sasl_rc rc = t_step(s, NULL, 0, &b, &why);
	assert_int_equal(rc, SASL_MORE);
	assert_int_equal(b.len, 0);
	rc = t_steps(s, authzid, &b, &why);
	static char who[64];
	(void)snprintf(who, sizeof who, "%s", sasl_sess_authcid(s) ? sasl_sess_authcid(s) : "-");
	*who_r = rc == SASL_DONE ? who : why;
	buf_free(&b);
	sasl_sess_free(&s);
	return rc;
}

static void
test_external(void **state)
{
	(void)state;
	const char *who;
	assert_int_equal(external("alice@example.test", "", &who), SASL_DONE);
	assert_string_equal(who, "alice@example.test");
	assert_int_equal(external("alice@example.test", "alice@example.test", &who), SASL_DONE);
	assert_int_equal(external("alice@example.test", "bob@example.test", &who), SASL_FAIL);
	assert_string_equal(who, "authorization identity not permitted");
	assert_int_equal(external(NULL, "", &who), SASL_FAIL);
	assert_string_equal(who, "EXTERNAL: no verified and mapped client certificate");
	/* The client: the authzid as initial response, then the verdict. */
	struct t_pair r = t_pair_run(mech("EXTERNAL"), "ignored", "", "alice", "");
	assert_int_equal(r.server, SASL_DONE);
	struct t_chan ch = { NULL, NULL, false, NULL };
	r = t_pair_run_chan(mech("EXTERNAL"), "ignored", "", "alice", "", &ch);
	assert_int_equal(r.server, SASL_FAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gs2_header),
		cmocka_unit_test(test_plus_both_bindings),
		cmocka_unit_test(test_plus_other_channel),
		cmocka_unit_test(test_downgrade),
		cmocka_unit_test(test_plus_server_refuses),
		cmocka_unit_test(test_external),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
