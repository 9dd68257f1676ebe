/* oauth_common.h - what OAUTHBEARER (RFC 7628) and XOAUTH2 share: one
 * state, the bearer-token grammar, the verdict on the store's answer
 * and the error exchange that ends a failed attempt. */
#ifndef POSTERN_SASL_OAUTH_COMMON_H
#define POSTERN_SASL_OAUTH_COMMON_H

#include "sasl/sasl_impl.h"
#include "util/buf.h"
#include "util/span.h"

enum {
	OAUTH_START,		/* nothing seen or sent yet */
	OAUTH_WAIT_MSG,		/* server: sent the empty challenge */
	OAUTH_WAIT_CRED,	/* server: asked the store */
	OAUTH_WAIT_DUMMY,	/* server: sent the error, waits for the client's answer */
	OAUTH_SENT,		/* client: sent the message */
	OAUTH_ANSWERED,		/* client: answered an error challenge */
};

struct sasl_oauth {
	int st;
	bool xoauth2;
	const char *fail_why;	/* server: why the token was refused (static) */
	char *token;		/* server: the token while the store looks at it */
};

/* Allocates s->state for either mechanism; 0 or -1. */
int sasl_oauth_start(struct sasl_sess *s, bool xoauth2);

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
 * "~" / "+" / "/" ) *"=" */
bool sasl_oauth_b64token(const char *p, size_t n);
/* auth-value = "Bearer" 1*SP b64token (scheme case-insensitive, as in
 * HTTP); sets *token_r.  0, or -1 with *why_r. */
int sasl_oauth_bearer(struct span v, struct span *token_r, const char **why_r);

/* Server: parses the client's message (set s->authcid when it names
 * a user) and ends with sasl_oauth_server_ask(). */
typedef enum sasl_rc sasl_oauth_parse_fn(struct sasl_sess *s, const uint8_t *msg, size_t n,
					 const char **why_r);
/* Server step of either mechanism: an empty challenge when there was no
 * initial response, parse, the store's verdict, the error exchange
 * (ended by the client's %x01 or empty answer). */
enum sasl_rc sasl_oauth_server_step(struct sasl_sess *s, sasl_oauth_parse_fn *parse,
				    const uint8_t *in, size_t inlen, struct buf *out,
				    const char **why_r);

/* Server: keeps the token and the claimed user (s->authcid, "" for
 * none) and asks the store; returns SASL_NEED_CRED or TEMPFAIL. */
enum sasl_rc sasl_oauth_server_ask(struct sasl_sess *s, struct span token, const char **why_r);

/* Client: what differs between the two mechanisms' messages. */
struct sasl_oauth_client_form {
	/* Appends everything before "auth=Bearer ..."; a buf_rc. */
	int (*head)(struct sasl_sess *s, struct buf *out);
	bool need_user;
	int answer;	/* to the error challenge: one byte, or -1 for empty */
};

/* Client step of either mechanism: first the message (head, then
 * "auth=Bearer " token %x01 %x01); a challenge after it is the server's
 * error status, kept for sasl_sess_peer_error() and answered; a second
 * one is BADSYNTAX. */
enum sasl_rc sasl_oauth_client_step(struct sasl_sess *s, const struct sasl_oauth_client_form *f,
				    const uint8_t *in, size_t inlen, struct buf *out,
				    const char **why_r);

#endif
