/* sasl_test.h - helpers shared by the SASL unit tests: exact-size heap
 * copies of every message (so ASan sees over-reads), a toy credential
 * store answering NEED_CRED, and a client<->server driver. */
#ifndef POSTERN_TEST_SASL_H
#define POSTERN_TEST_SASL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sasl/sasl.h"
#include "util/b64.h"
#include "util/buf.h"

/* One sasl_step() with in copied to a heap block of exactly n bytes.
 * in == NULL means "no message". */
static inline enum sasl_rc
t_step(struct sasl_sess *s, const void *in, size_t n, struct buf *out, const char **why)
{
	if (in == NULL)
		return sasl_step(s, NULL, 0, out, why);
	uint8_t *p = malloc(n > 0 ? n : 1);
	assert_non_null(p);
	memcpy(p, in, n);
	enum sasl_rc rc = sasl_step(s, p, n, out, why);
	free(p);
	return rc;
}

static inline enum sasl_rc
t_steps(struct sasl_sess *s, const char *in, struct buf *out, const char **why)
{
	return t_step(s, in, in != NULL ? strlen(in) : 0, out, why);
}

/* Fixed salt of the toy store (16 bytes, like `postern passwd`). */
static const uint8_t t_salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* The toy store: one user with one password; answers any request. */
static inline void
t_answer(struct sasl_sess *s, const char *user, const char *password)
{
	const struct sasl_cred_request *r = sasl_cred_request(s);
	assert_non_null(r);
	struct sasl_cred_answer a;
	memset(&a, 0, sizeof a);
	const char *why = NULL;
	if (r->kind == SASL_CRED_OAUTH_TOKEN) {
		/* A verifier judges the token alone ("password" is the
		 * token) and names its user; the mechanism compares. */
		bool same = r->password_len == strlen(password)
			&& memcmp(r->password, password, r->password_len) == 0;
		a.status = same ? SASL_CRED_OK : SASL_CRED_BADPASS;
		(void)snprintf(a.token_user, sizeof a.token_user, "%s", user);
	} else if (strcmp(r->authcid, user) != 0) {
		a.status = SASL_CRED_NOUSER;
	} else if (r->kind == SASL_CRED_PASSWORD) {
		bool same = r->password_len == strlen(password)
			&& memcmp(r->password, password, r->password_len) == 0;
		a.status = same ? SASL_CRED_OK : SASL_CRED_BADPASS;
	} else if (r->kind == SASL_CRED_CRAM_MD5) {
		assert_int_equal(sasl_cram_md5_derive(password, a.cram_md5), 0);
	} else {
		const char *md = r->kind == SASL_CRED_SCRAM_SHA1 ? "SHA1" : "SHA256";
		assert_int_equal(sasl_scram_derive(md, password, t_salt, sizeof t_salt,
						   4096, &a, &why), 0);
	}
	sasl_cred_supply(s, &a);
}

struct t_pair {
	enum sasl_rc client, server;
	const char *cwhy, *swhy;
	int rounds;
};

/* What a TLS 1.3 channel gives both ends (sasl_cb_from_ssl). */
static inline struct sasl_cb
t_cb(uint8_t seed, bool exporter)
{
	struct sasl_cb cb;
	memset(&cb, 0, sizeof cb);
	for (size_t i = 0; i < sizeof cb.exporter; i++)
		cb.exporter[i] = (uint8_t)(seed + i);
	cb.has_exporter = exporter;
	for (size_t i = 0; i < 32; i++)
		cb.end_point[i] = (uint8_t)(seed ^ (0x80 + i));
	cb.end_point_len = 32;
	return cb;
}

/* The channel each side sees, and what the server offered. */
struct t_chan {
	const struct sasl_cb *client, *server;	/* NULL: no TLS on that side */
	bool plus_offered;
	const char *external_user;		/* EXTERNAL: the certificate's user */
};

/* Runs a whole exchange the way the SMTP glue would. */
static inline struct t_pair
t_pair_run_chan(const struct sasl_mech *m, const char *cuser, const char *cpass,
		const char *suser, const char *spass, const struct t_chan *ch)
{
	struct sasl_client_params cp = { .authcid = cuser, .password = cpass };
	struct sasl_server_params sp = { .hostname = "mx.example.test", .cb = ch->server,
					 .plus_offered = ch->plus_offered,
					 .external_user = ch->external_user };
	struct sasl_sess *c = sasl_client_new(m, &cp), *s = sasl_server_new(m, &sp);
	assert_non_null(c);
	assert_non_null(s);
	if (ch->client != NULL)
		sasl_sess_set_cb(c, ch->client);
	struct buf cb, sb;
	buf_init(&cb, SASL_MSG_MAX);
	buf_init(&sb, SASL_MSG_MAX);
	struct t_pair r = { SASL_MORE, SASL_MORE, NULL, NULL, 0 };
	bool have = false;
	if (sasl_mech_client_first(m)) {
		r.client = t_step(c, NULL, 0, &cb, &r.cwhy);
		have = true;
	}
	r.server = t_step(s, have ? cb.p : NULL, cb.len, &sb, &r.swhy);
	for (r.rounds = 0; r.rounds < 10; r.rounds++) {
		while (r.server == SASL_NEED_CRED) {
			t_answer(s, suser, spass);
			r.server = t_step(s, NULL, 0, &sb, &r.swhy);
		}
		if (r.server != SASL_MORE)
			break;
		buf_reset(&cb);
		if (r.client != SASL_DONE) {
			r.client = t_step(c, sb.p != NULL ? sb.p : (const uint8_t *)"", sb.len,
					  &cb, &r.cwhy);
			if (r.client != SASL_MORE && r.client != SASL_DONE)
				break;	/* the client aborts ("*") */
		}
		buf_reset(&sb);
		r.server = t_step(s, cb.p != NULL ? cb.p : (const uint8_t *)"", cb.len, &sb, &r.swhy);
	}
	buf_wipe_free(&cb);
	buf_wipe_free(&sb);
	sasl_sess_free(&c);
	sasl_sess_free(&s);
	assert_null(c);
	return r;
}

/* Both ends over one TLS 1.3 channel; EXTERNAL maps to suser. */
static inline struct t_pair
t_pair_run(const struct sasl_mech *m, const char *cuser, const char *cpass,
	   const char *suser, const char *spass)
{
	struct sasl_cb cb = t_cb(7, true);
	struct t_chan ch = { &cb, &cb, false, suser };
	return t_pair_run_chan(m, cuser, cpass, suser, spass, &ch);
}

#endif
