/* cram_md5_server.c - CRAM-MD5 (RFC 2195), server side.  The store gives
 * the HMAC-MD5 context of the secret (derive.c), never the password. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include <inttypes.h>
#include <time.h>

#include "util/buf.h"

/* "<" 20-digit random "." 20-digit time "@" hostname ">" */
#define CRAM_CHALLENGE_MAX (SASL_NAME_MAX + 64)

enum { CRAM_S_START, CRAM_S_WAIT_RESP, CRAM_S_WAIT_CRED };

struct cram_server {
	int st;
	struct buf challenge;
	uint8_t digest[16];	/* the client's, from the hex */
};

int
sasl_cram_md5_server_start(struct sasl_sess *s)
{
	struct cram_server *st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	buf_init(&st->challenge, CRAM_CHALLENGE_MAX);
	s->state = st;
	return 0;
}

void
sasl_cram_md5_server_free(struct sasl_sess *s)
{
	struct cram_server *st = s->state;
	if (st == NULL)
		return;
	buf_free(&st->challenge);
	OPENSSL_cleanse(st, sizeof *st);
	free(st);
	s->state = NULL;
}

/* RFC 2195 section 2: "The data encoded in the first ready response
 * contains an presumptively arbitrary string of random digits, a
 * timestamp, and the fully-qualified primary host name of the server.
 * The syntax of the unencoded form must correspond to that of an
 * RFC 822 'msg-id'". */
static enum sasl_rc
cram_server_challenge(struct sasl_sess *s, struct cram_server *st, struct buf *out,
		      const char **why_r)
{
	int rc;
	if (s->test_nonce != NULL) {
		rc = buf_addstr(&st->challenge, s->test_nonce);
	} else {
		uint64_t r;
		if (sasl_sess_random((uint8_t *)&r, sizeof r) < 0) {
			*why_r = "CRAM-MD5: no random bytes";
			return SASL_TEMPFAIL;
		}
		rc = buf_printf(&st->challenge, "<%" PRIu64 ".%" PRIu64 "@%s>", r,
				(uint64_t)time(NULL), s->hostname);
	}
	if (rc != BUF_OK || buf_add(out, st->challenge.p, st->challenge.len) != BUF_OK) {
		*why_r = "CRAM-MD5: challenge too long";
		return SASL_TEMPFAIL;
	}
	st->st = CRAM_S_WAIT_RESP;
	return SASL_MORE;
}

static int
cram_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "user SP digest", digest 32 lower-case hex digits; the user name may
 * hold spaces, so the digest starts after the last one. */
static enum sasl_rc
cram_server_response(struct sasl_sess *s, struct cram_server *st, const uint8_t *in,
		     size_t n, const char **why_r)
{
	if (n < 34 || in[n - 33] != ' ') {
		*why_r = "CRAM-MD5: response is not \"user digest\"";
		return SASL_BADSYNTAX;
	}
	const uint8_t *hex = in + n - 32;
	for (size_t i = 0; i < 16; i++) {
		int hi = cram_hexval(hex[2 * i]), lo = cram_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			*why_r = "CRAM-MD5: digest is not 32 lower-case hex digits";
			return SASL_BADSYNTAX;
		}
		st->digest[i] = (uint8_t)(hi << 4 | lo);
	}
	if (sasl_saslprep_span(in, n - 33, SASL_NAME_MAX, &s->authcid, why_r) < 0)
		return SASL_BADSYNTAX;
	st->st = CRAM_S_WAIT_CRED;
	return sasl_sess_need_cred(s, SASL_CRED_CRAM_MD5, NULL);
}

static enum sasl_rc
cram_server_verdict(struct sasl_sess *s, struct cram_server *st, const char **why_r)
{
	if (s->cred.status == SASL_CRED_TEMPFAIL) {
		*why_r = "credential store unavailable";
		return SASL_TEMPFAIL;
	}
	if (s->cred.status != SASL_CRED_OK) {
		*why_r = s->cred.status == SASL_CRED_NOSECRET
			? "user has no CRAM-MD5 secret" : "unknown user";
		return SASL_FAIL;
	}
	uint8_t want[16];
	if (sasl_derive_cram_md5_resume(s->cred.cram_md5, st->challenge.p,
					st->challenge.len, want) < 0) {
		*why_r = "CRAM-MD5: MD5 failed";
		return SASL_TEMPFAIL;
	}
	bool ok = CRYPTO_memcmp(want, st->digest, sizeof want) == 0;
	OPENSSL_cleanse(want, sizeof want);
	if (!ok) {
		*why_r = "wrong password";
		return SASL_FAIL;
	}
	return SASL_DONE;
}

enum sasl_rc
sasl_cram_md5_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
			  struct buf *out, const char **why_r)
{
	struct cram_server *st = s->state;
	switch (st->st) {
	case CRAM_S_START:
		/* RFC 4954 section 4: an initial response for a mechanism
		 * whose server speaks first is answered with 501. */
		if (in != NULL) {
			*why_r = "CRAM-MD5: initial response not allowed";
			return SASL_BADSYNTAX;
		}
		return cram_server_challenge(s, st, out, why_r);
	case CRAM_S_WAIT_RESP:
		if (in == NULL) {
			*why_r = "CRAM-MD5: no response";
			return SASL_BADSYNTAX;
		}
		return cram_server_response(s, st, in, inlen, why_r);
	default:
		return cram_server_verdict(s, st, why_r);
	}
}
