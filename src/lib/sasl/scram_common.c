/* scram_common.c - SCRAM attribute parsing and key arithmetic shared by
 * scram_client.c and scram_server.c (RFC 5802 section 7 grammar). */
#include "sasl/scram_common.h"

#include <openssl/hmac.h>

#include "util/b64.h"
#include "util/buf.h"

bool
sasl_scram_msg_valid(const uint8_t *in, size_t n)
{
	return memchr(in, '\0', n) == NULL && sasl_saslprep_utf8_valid(in, n);
}

static bool
scram_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int
sasl_scram_conv_init(struct sasl_scram_conv *c, const char *digest)
{
	c->md = EVP_get_digestbyname(digest);
	c->len = c->md != NULL ? (size_t)EVP_MD_get_size(c->md) : 0;
	buf_init(&c->gs2, SASL_MSG_MAX);
	buf_init(&c->nonce, SASL_MSG_MAX);
	buf_init(&c->auth, SASL_SCRAM_AUTHMSG_MAX);
	return c->md != NULL && c->len <= SASL_KEY_MAX ? 0 : -1;
}

void
sasl_scram_conv_free(struct sasl_scram_conv *c)
{
	buf_free(&c->gs2);
	buf_free(&c->nonce);
	buf_free(&c->auth);
}

char
sasl_scram_peek(struct span in)
{
	if (in.n == 0)
		return '\0';
	if (in.n >= 2 && in.p[1] == '=')
		return in.p[0];
	return '?';
}

/* attr-val = ALPHA "=" value; value = 1*value-char (no ','). */
static int
scram_attr_any(struct span *in, char *name_r, struct span *val_r)
{
	if (in->n < 3 || !scram_is_alpha(in->p[0]) || in->p[1] != '=')
		return -1;
	long comma = span_chr(*in, ',');
	size_t end = comma < 0 ? in->n : (size_t)comma;
	if (end <= 2)
		return -1;
	*name_r = in->p[0];
	val_r->p = in->p + 2;
	val_r->n = end - 2;
	span_skip(in, end);
	if (comma >= 0) {
		span_skip(in, 1);
		if (in->n == 0)
			return -1;	/* a trailing ',' starts no attribute */
	}
	return 0;
}

int
sasl_scram_attr(struct span *in, char name, struct span *val_r)
{
	struct span save = *in;
	char got;
	if (scram_attr_any(in, &got, val_r) < 0 || got != name) {
		*in = save;
		return -1;
	}
	return 0;
}

int
sasl_scram_extensions(struct span in, const char **why_r)
{
	while (in.n > 0) {
		char name;
		struct span v;
		if (scram_attr_any(&in, &name, &v) < 0) {
			*why_r = "SCRAM: malformed attribute";
			return -1;
		}
		/* RFC 5802 section 5.1: "m: This attribute is reserved for
		 * future extensibility.  In this version of SCRAM, its
		 * presence in a client or a server message MUST cause
		 * authentication failure when the attribute is parsed by
		 * the other end."  Here it would also be out of order. */
		if (name == 'm') {
			*why_r = "SCRAM: misplaced m= attribute";
			return -1;
		}
	}
	return 0;
}

int
sasl_scram_name_decode(struct span v, char **out_r, const char **why_r)
{
	uint8_t raw[SASL_NAME_MAX];
	size_t n = 0;
	for (size_t i = 0; i < v.n; i++) {
		char c = v.p[i];
		if (c == '=') {
			/* RFC 5802 section 5.1: "If the server receives a
			 * username that contains '=' not followed by either
			 * '2C' or '3D', then the server MUST fail." */
			if (v.n - i >= 3 && v.p[i + 1] == '2' && v.p[i + 2] == 'C')
				c = ',';
			else if (v.n - i >= 3 && v.p[i + 1] == '3' && v.p[i + 2] == 'D')
				c = '=';
			else {
				*why_r = "SCRAM: bad '=' escape in name";
				return -1;
			}
			i += 2;
		}
		if (n == sizeof raw) {
			*why_r = "SCRAM: name too long";
			return -1;
		}
		raw[n++] = (uint8_t)c;
	}
	int rc = sasl_saslprep_span(raw, n, SASL_NAME_MAX, out_r, why_r);
	OPENSSL_cleanse(raw, sizeof raw);
	return rc;
}

int
sasl_scram_name_encode(struct buf *out, const char *name)
{
	int rc = BUF_OK;
	for (const char *p = name; *p != '\0' && rc == BUF_OK; p++) {
		if (*p == ',')
			rc = buf_addstr(out, "=2C");
		else if (*p == '=')
			rc = buf_addstr(out, "=3D");
		else
			rc = buf_addch(out, (uint8_t)*p);
	}
	return rc;
}

bool
sasl_scram_nonce_valid(struct span v)
{
	if (v.n == 0)
		return false;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

int
sasl_scram_nonce_new(struct sasl_sess *s, struct buf *out)
{
	if (s->test_nonce != NULL)
		return buf_addstr(out, s->test_nonce) == BUF_OK ? 0 : -1;
	uint8_t r[SASL_SCRAM_NONCE_BYTES];
	if (sasl_sess_random(r, sizeof r) < 0)
		return -1;
	return b64_encode(out, r, sizeof r) == BUF_OK ? 0 : -1;
}

long
sasl_scram_b64(struct span v, uint8_t *out, size_t want, size_t max)
{
	struct buf b;
	buf_init(&b, b64_decoded_max(v.n));
	long rc = -1;
	if (b64_decode(&b, v.p, v.n) == 0 && b.len > 0
	    && (want != 0 ? b.len == want : b.len <= max)) {
		memcpy(out, b.p, b.len);
		rc = (long)b.len;
	}
	buf_wipe_free(&b);
	return rc;
}

int
sasl_scram_iter(struct span v, unsigned *out)
{
	unsigned long n = 0;
	if (v.n == 0 || v.n > 10 || v.p[0] == '0')
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (unsigned long)(v.p[i] - '0');
	}
	if (n > 0xffffffffUL)
		return -1;
	*out = (unsigned)n;
	return 0;
}

int
sasl_scram_hmac(const EVP_MD *md, const uint8_t *key, size_t keylen,
		const void *msg, size_t msglen, uint8_t *out)
{
	unsigned n = 0;
	if (HMAC(md, key, (int)keylen, msg, msglen, out, &n) == NULL
	    || n != (unsigned)EVP_MD_get_size(md))
		return -1;
	return 0;
}

int
sasl_scram_salted(const EVP_MD *md, const char *password, const uint8_t *salt,
		  size_t salt_len, unsigned iter, uint8_t *out, const char **why_r)
{
	char *prep;
	if (strlen(password) > SASL_PASS_MAX) {
		*why_r = "password too long";
		return -1;
	}
	if (sasl_saslprep(password, &prep, why_r) < 0)
		return -1;
	/* RFC 5802 section 3: "SaltedPassword := Hi(Normalize(password),
	 * salt, i)", and Hi is PBKDF2 with HMAC as the PRF. */
	int ok = PKCS5_PBKDF2_HMAC(prep, (int)strlen(prep), salt, (int)salt_len,
				   (int)iter, md, EVP_MD_get_size(md), out) == 1;
	str_wipe_free(&prep);
	if (!ok)
		*why_r = "SCRAM: PBKDF2 failed";
	return ok ? 0 : -1;
}

const uint8_t *
sasl_scram_cb_data(const struct sasl_cb *cb, struct span name, size_t *len_r)
{
	*len_r = 0;
	if (cb == NULL)
		return NULL;
	if (span_eq(name, SASL_CB_NAME_EXPORTER) && cb->has_exporter) {
		*len_r = sizeof cb->exporter;
		return cb->exporter;
	}
	if (span_eq(name, SASL_CB_NAME_END_POINT) && cb->end_point_len > 0
	    && cb->end_point_len <= sizeof cb->end_point) {
		*len_r = cb->end_point_len;
		return cb->end_point;
	}
	return NULL;
}

const char *
sasl_scram_cb_pick(const struct sasl_cb *cb)
{
	if (cb == NULL)
		return NULL;
	if (cb->has_exporter)
		return SASL_CB_NAME_EXPORTER;
	return cb->end_point_len > 0 ? SASL_CB_NAME_END_POINT : NULL;
}

int
sasl_scram_cbind_input(struct buf *out, const struct buf *gs2, const uint8_t *data, size_t len)
{
	struct buf in;
	buf_init(&in, SASL_MSG_MAX);
	int rc = buf_add(&in, gs2->p, gs2->len);
	if (rc == BUF_OK && len > 0)
		rc = buf_add(&in, data, len);
	if (rc == BUF_OK)
		rc = b64_encode(out, in.p, in.len);
	buf_free(&in);
	return rc;
}
