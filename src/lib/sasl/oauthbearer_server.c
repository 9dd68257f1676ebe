/* oauthbearer_server.c - OAUTHBEARER (RFC 7628), server side.
 *
 * Section 3.1:
 *	client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
 *	gs2-header  = gs2-cbind-flag "," [ authzid ] ","	(RFC 5801)
 *	kvpair      = key "=" value kvsep;  key = 1*ALPHA
 *	value       = *(VCHAR / SP / HTAB / CR / LF);  kvsep = %x01
 * exactly one "auth" pair; "host" and "port" (and unknown keys) are
 * allowed by the grammar and ignored.  Channel binding ("p=") is not
 * offered, so a client asking for it is refused. */
#include "sasl/oauth_common.h"
#include "sasl/scram_common.h"

#define KVSEP '\x01'

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_value_char(char c)
{
	return (c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* gs2-header up to and including its second ','; authzid into *z_r. */
static int
gs2_header(struct span *in, struct span *z_r, const char **why_r)
{
	z_r->p = NULL;
	z_r->n = 0;
	if (in->n >= 2 && (in->p[0] == 'n' || in->p[0] == 'y') && in->p[1] == ',') {
		span_skip(in, 2);
	} else {
		*why_r = in->n > 0 && in->p[0] == 'p' ? "OAUTHBEARER: channel binding not supported"
						      : "OAUTHBEARER: bad GS2 header";
		return -1;
	}
	long comma = span_chr(*in, ',');
	if (comma < 0 || (comma > 0 && (comma < 3 || in->p[0] != 'a' || in->p[1] != '='))) {
		*why_r = "OAUTHBEARER: bad authorization identity in the GS2 header";
		return -1;
	}
	if (comma > 0) {
		z_r->p = in->p + 2;
		z_r->n = (size_t)comma - 2;
	}
	span_skip(in, (size_t)comma + 1);
	return 0;
}

/* One key=value%x01 off the front of *in. */
static int
kvpair(struct span *in, struct span *key_r, struct span *val_r)
{
	size_t i = 0;
	while (i < in->n && is_alpha(in->p[i]))
		i++;
	if (i == 0 || i == in->n || in->p[i] != '=')
		return -1;
	key_r->p = in->p;
	key_r->n = i;
	size_t j = i + 1;
	while (j < in->n && is_value_char(in->p[j]))
		j++;
	if (j == in->n || in->p[j] != KVSEP)
		return -1;
	val_r->p = in->p + i + 1;
	val_r->n = j - i - 1;
	span_skip(in, j + 1);
	return 0;
}

/* The pairs after the header: exactly one auth, then the final kvsep. */
static int
kvpairs(struct span in, struct span *auth_r, const char **why_r)
{
	bool have_auth = false;
	while (in.n > 1) {
		struct span k, v;
		if (kvpair(&in, &k, &v) < 0) {
			*why_r = "OAUTHBEARER: malformed key=value pair";
			return -1;
		}
		if (span_eq(k, "auth")) {
			if (have_auth) {
				*why_r = "OAUTHBEARER: more than one auth value";
				return -1;
			}
			have_auth = true;
			*auth_r = v;
		}
	}
	if (in.n != 1 || in.p[0] != KVSEP) {
		*why_r = "OAUTHBEARER: message does not end with %x01";
		return -1;
	}
	if (!have_auth) {
		*why_r = "OAUTHBEARER: no auth value";
		return -1;
	}
	return 0;
}

static enum sasl_rc
oauthbearer_parse(struct sasl_sess *s, const uint8_t *msg, size_t n, const char **why_r)
{
	struct span in = { (const char *)msg, n }, z, auth, token;
	if (memchr(msg, '\0', n) != NULL) {
		*why_r = "OAUTHBEARER: NUL in the message";
		return SASL_BADSYNTAX;
	}
	if (gs2_header(&in, &z, why_r) < 0)
		return SASL_BADSYNTAX;
	if (in.n == 0 || in.p[0] != KVSEP) {
		*why_r = "OAUTHBEARER: no %x01 after the GS2 header";
		return SASL_BADSYNTAX;
	}
	span_skip(&in, 1);
	if (kvpairs(in, &auth, why_r) < 0 || sasl_oauth_bearer(auth, &token, why_r) < 0)
		return SASL_BADSYNTAX;
	if (z.n > 0 && sasl_scram_name_decode(z, &s->authcid, why_r) < 0)
		return SASL_BADSYNTAX;
	return sasl_oauth_server_ask(s, token, why_r);
}

enum sasl_rc
sasl_oauthbearer_server_step(struct sasl_sess *s, const uint8_t *in, size_t inlen,
                             struct buf *out, const char **why_r)
{
	return sasl_oauth_server_step(s, oauthbearer_parse, in, inlen, out, why_r);
}
