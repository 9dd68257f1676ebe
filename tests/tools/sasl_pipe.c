/* sasl_pipe.c - test-only: one side of a postern SASL mechanism over
 * stdin/stdout in GNU SASL's `gsasl` framing, to run against
 * `gsasl --client` / `gsasl --server` (tests/interop/test_sasl_gsasl.py).
 *
 *	sasl_pipe client|server MECH USER PASSWORD
 *
 * gsasl's framing, as observed with gsasl 2.2 (no --imap/--smtp):
 *  - each side first writes the mechanism name on a line of its own,
 *    which the peer must not treat as data (we read and check it);
 *  - then every gsasl_step() writes its output as one base64 line (an
 *    empty line for empty output) and reads the peer's next line; both
 *    sides write their first line without waiting: the server an empty
 *    line (client-first mechanisms) or its challenge (CRAM-MD5), the
 *    client its initial response or an empty line (CRAM-MD5);
 *  - a successful final step still writes its output (empty, or SCRAM's
 *    v=) and then reads one more line, the peer's acknowledgement, much
 *    like SMTP's "334 v=..." answered by an empty line;
 *  - a side that fails exits without writing, so the peer sees EOF;
 *  - after authentication gsasl reads "application data" until EOF, so
 *    we close stdout when we are done.
 * So the server here writes an empty line after SASL_DONE (success), and
 * the client answers the server's final line with an empty line.
 * The server side answers NEED_CRED from PASSWORD through the same
 * derivations the credential store uses (no plaintext comparison for
 * CRAM-MD5 and SCRAM).
 *
 * SASL_PIPE_CB=BASE64 (environment, client side only): 32 bytes of
 * tls-exporter data (RFC 9266), for SCRAM-*-PLUS.  `gsasl --server`
 * has no TLS here either: after our client-first message it prompts,
 * on the same stream and without a newline, "Enter base64 encoded
 * tls-exporter channel binding: " and reads one line; we answer with
 * the same data, so both ends bind to one (made-up) channel, or with
 * SASL_PIPE_CB_PEER when set (the server's channel is another one).
 *
 * Exit: 0 authenticated, 1 refused, 2 usage or framing error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "util/b64.h"
#include "util/buf.h"

/* A base64 line of a SASL_MSG_MAX message, plus newline and NUL. */
#define LINE_MAX_LEN (SASL_MSG_MAX / 3 * 4 + 8)

struct pipe_ctx {
	const char *side;
	const char *user;
	const char *password;
	const char *cb_b64;		/* SASL_PIPE_CB, NULL when unset */
	const char *cb_peer_b64;	/* SASL_PIPE_CB_PEER, else cb_b64 */
	char line[LINE_MAX_LEN];
	struct buf in, out;
};

/* Reads one line into ctx->in (decoded).  Returns 1, 0 at EOF, -1 bad. */
static int
pipe_read(struct pipe_ctx *c, bool decode)
{
	if (fgets(c->line, sizeof c->line, stdin) == NULL)
		return 0;
	size_t n = strlen(c->line);
	if (n == 0 || c->line[n - 1] != '\n') {
		(void)fprintf(stderr, "sasl_pipe %s: line too long or unterminated\n", c->side);
		return -1;
	}
	c->line[--n] = '\0';
	if (n > 0 && c->line[n - 1] == '\r')
		c->line[--n] = '\0';
	buf_reset(&c->in);
	if (decode && b64_decode(&c->in, c->line, n) != 0) {
		(void)fprintf(stderr, "sasl_pipe %s: bad base64 line \"%s\"\n", c->side, c->line);
		return -1;
	}
	return 1;
}

static int
pipe_write(struct pipe_ctx *c)
{
	struct buf enc;
	buf_init(&enc, LINE_MAX_LEN);
	int rc = b64_encode(&enc, c->out.p, c->out.len);
	if (rc == BUF_OK)
		rc = printf("%s\n", buf_cstr(&enc)) < 0 || fflush(stdout) != 0 ? -1 : 0;
	buf_free(&enc);
	buf_reset(&c->out);
	return rc;
}

static int
pipe_verdict(struct pipe_ctx *c, bool ok, const char *why)
{
	/* EOF for the peer, which waits for it; our verdict is the exit code. */
	(void)fclose(stdout);
	if (ok) {
		(void)fprintf(stderr, "sasl_pipe %s: authenticated\n", c->side);
		return 0;
	}
	(void)fprintf(stderr, "sasl_pipe %s: authentication failed: %s\n", c->side,
		why != NULL ? why : "peer closed the stream");
	return 1;
}

/* The toy credential store: one user, secrets derived from PASSWORD. */
static void
pipe_answer(struct pipe_ctx *c, struct sasl_sess *s)
{
	static const uint8_t salt[16] = "postern-testsalt";
	const struct sasl_cred_request *r = sasl_cred_request(s);
	struct sasl_cred_answer a;
	const char *why;
	memset(&a, 0, sizeof a);
	if (strcmp(r->authcid, c->user) != 0) {
		a.status = SASL_CRED_NOUSER;
	} else if (r->kind == SASL_CRED_PASSWORD) {
		size_t n = strlen(c->password);
		a.status = r->password_len == n && CRYPTO_memcmp(r->password, c->password, n) == 0
			? SASL_CRED_OK : SASL_CRED_BADPASS;
	} else if (r->kind == SASL_CRED_CRAM_MD5) {
		a.status = sasl_cram_md5_derive(c->password, a.cram_md5) == 0
			? SASL_CRED_OK : SASL_CRED_TEMPFAIL;
	} else {
		const char *md = r->kind == SASL_CRED_SCRAM_SHA1 ? "SHA1" : "SHA256";
		a.status = sasl_scram_derive(md, c->password, salt, sizeof salt, 4096, &a, &why) == 0
			? SASL_CRED_OK : SASL_CRED_TEMPFAIL;
	}
	sasl_cred_supply(s, &a);
	OPENSSL_cleanse(&a, sizeof a);
}

static int
pipe_server(struct pipe_ctx *c, const struct sasl_mech *m)
{
	struct sasl_server_params p = { .hostname = "localhost" };
	struct sasl_sess *s = sasl_server_new(m, &p);
	const char *why = NULL;
	int rd = pipe_read(c, true);	/* the client's first line */
	if (rd <= 0)
		return rd < 0 ? 2 : pipe_verdict(c, false, NULL);
	/* An empty first line is "no initial response". */
	enum sasl_rc rc = sasl_step(s, c->in.len > 0 ? c->in.p : NULL, c->in.len, &c->out, &why);
	for (int round = 0; round < 16; round++) {
		while (rc == SASL_NEED_CRED) {
			pipe_answer(c, s);
			rc = sasl_step(s, NULL, 0, &c->out, &why);
		}
		if (rc != SASL_MORE)
			break;
		if (pipe_write(c) < 0)
			return 2;
		if ((rd = pipe_read(c, true)) <= 0)
			return rd < 0 ? 2 : pipe_verdict(c, false, NULL);
		rc = sasl_step(s, c->in.p != NULL ? c->in.p : (const uint8_t *)"", c->in.len,
			       &c->out, &why);
	}
	if (rc == SASL_DONE && pipe_write(c) < 0)	/* success, no data */
		return 2;
	sasl_sess_free(&s);
	return pipe_verdict(c, rc == SASL_DONE, why);
}

/* gsasl --server's prompt for the channel binding (see the top): read
 * it byte by byte (no newline ends it) and answer with our data. */
static int
pipe_answer_cb_prompt(struct pipe_ctx *c)
{
	static const char prompt[] = "Enter base64 encoded tls-exporter channel binding: ";
	for (size_t i = 0; i < sizeof prompt - 1; i++) {
		int ch = getchar();
		if (ch != (unsigned char)prompt[i]) {
			(void)fprintf(stderr, "sasl_pipe client: expected gsasl's channel binding prompt\n");
			return -1;
		}
	}
	return printf("%s\n", c->cb_peer_b64) < 0 || fflush(stdout) != 0 ? -1 : 0;
}

/* SASL_PIPE_CB into s as tls-exporter data.  0, or -1 when malformed. */
static int
pipe_set_cb(struct pipe_ctx *c, struct sasl_sess *s)
{
	struct sasl_cb cb = { 0 };
	struct buf raw;
	buf_init(&raw, 64);
	int rc = b64_decode(&raw, c->cb_b64, strlen(c->cb_b64)) == 0 && raw.len == sizeof cb.exporter
		? 0 : -1;
	if (rc == 0) {
		memcpy(cb.exporter, raw.p, raw.len);
		cb.has_exporter = true;
		sasl_sess_set_cb(s, &cb);
	}
	buf_free(&raw);
	return rc;
}

static int
pipe_client(struct pipe_ctx *c, const struct sasl_mech *m)
{
	struct sasl_client_params p = { .authcid = c->user, .password = c->password };
	struct sasl_sess *s = sasl_client_new(m, &p);
	if (c->cb_b64 != NULL && pipe_set_cb(c, s) < 0) {
		(void)fprintf(stderr, "sasl_pipe client: SASL_PIPE_CB is not base64 of 32 bytes\n");
		return 2;
	}
	const char *why = NULL;
	enum sasl_rc rc = SASL_MORE;
	bool sent = false;
	for (int round = 0; round < 16 && rc == SASL_MORE; round++) {
		if (round == 1 && c->cb_b64 != NULL && sasl_mech_binds_channel(m)
		    && pipe_answer_cb_prompt(c) < 0)
			return 2;
		int rd = pipe_read(c, true);
		if (rd < 0)
			return 2;
		if (rd == 0)
			break;	/* the server refused */
		rc = sasl_step(s, c->in.p != NULL ? c->in.p : (const uint8_t *)"", c->in.len,
			       &c->out, &why);
		if (rc == SASL_BADSYNTAX && sent && c->in.len == 0) {
			/* An empty line after our last message is gsasl's
			 * successful final step with no data (PLAIN, LOGIN,
			 * CRAM-MD5, where only the server can tell). */
			rc = SASL_DONE;
			why = NULL;
		} else if (rc == SASL_MORE) {
			if (pipe_write(c) < 0)
				return 2;
			sent = true;
		}
	}
	/* Acknowledge the server's final line (SCRAM v=, or empty). */
	if (rc == SASL_DONE && pipe_write(c) < 0)
		return 2;
	sasl_sess_free(&s);
	return pipe_verdict(c, rc == SASL_DONE, rc == SASL_MORE ? NULL : why);
}

int
main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "client") != 0 && strcmp(argv[1], "server") != 0)) {
		(void)fprintf(stderr, "usage: sasl_pipe client|server MECH USER PASSWORD\n");
		return 2;
	}
	const struct sasl_mech *m = sasl_mech_find(argv[2], strlen(argv[2]));
	if (m == NULL) {
		(void)fprintf(stderr, "sasl_pipe: unknown mechanism %s\n", argv[2]);
		return 2;
	}
	struct pipe_ctx c = { .side = argv[1], .user = argv[3], .password = argv[4],
			      .cb_b64 = getenv("SASL_PIPE_CB") };
	c.cb_peer_b64 = getenv("SASL_PIPE_CB_PEER") ? getenv("SASL_PIPE_CB_PEER") : c.cb_b64;
	buf_init(&c.in, SASL_MSG_MAX);
	buf_init(&c.out, SASL_MSG_MAX);
	/* The peer's banner: its mechanism name, not data. */
	if (pipe_read(&c, false) <= 0 || strcmp(c.line, sasl_mech_name(m)) != 0) {
		(void)fprintf(stderr, "sasl_pipe %s: expected the mechanism name %s first\n", c.side,
			sasl_mech_name(m));
		return 2;
	}
	int rc = strcmp(argv[1], "server") == 0 ? pipe_server(&c, m) : pipe_client(&c, m);
	buf_wipe_free(&c.in);
	buf_wipe_free(&c.out);
	return rc;
}
