/* probe.c - formatting for `postern probe` (see probe.h). */
#include "client/probe.h"

#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "sasl/sasl.h"
#include "smtp/ehlo.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/span.h"

void
probe_mask_reset(struct probe_mask *pm)
{
	memset(pm, 0, sizeof *pm);
}

int
probe_escape(struct buf *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		char tmp[4];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			tmp[k++] = '\\';
			tmp[k++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[k++] = (char)c;
		} else {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		}
		int rc = buf_add(out, tmp, k);
		if (rc != BUF_OK)
			return rc;
	}
	return BUF_OK;
}

static bool
mech_is(const char *mech, const char *name)
{
	return mech != NULL && strcasecmp(mech, name) == 0;
}

static bool
mech_is_scram(const char *mech)
{
	return mech != NULL && strncasecmp(mech, "SCRAM-", 6) == 0;
}

/* PLAIN: authzid NUL authcid NUL passwd (RFC 4616 section 2). */
static int
render_plain(const uint8_t *d, size_t n, bool *masked_r, struct buf *out)
{
	const uint8_t *nul1 = memchr(d, '\0', n);
	const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - d)) : NULL;
	*masked_r = true;
	if (nul2 == NULL)	/* not PLAIN's shape: show nothing of it */
		return buf_addstr(out, PROBE_MASK);
	int rc = probe_escape(out, d, (size_t)(nul2 + 1 - d));
	return rc != BUF_OK ? rc : buf_addstr(out, PROBE_MASK);
}

/* SCRAM (RFC 5802 section 7): mask the value of every "p=" and "v="
 * attribute; the attributes are comma-separated.  A "p=" at the very
 * start is the -PLUS gs2 flag ("p=tls-exporter,,n=..."), the binding
 * type and no secret: it is shown. */
static int
render_scram(const uint8_t *d, size_t n, bool *masked_r, struct buf *out)
{
	size_t i = 0;
	int rc = BUF_OK;
	while (i < n && rc == BUF_OK) {
		const uint8_t *comma = memchr(d + i, ',', n - i);
		size_t end = comma ? (size_t)(comma - d) : n;
		bool secret = end - i >= 2 && ((d[i] == 'p' && i > 0) || d[i] == 'v') && d[i + 1] == '=';
		if (secret) {
			*masked_r = true;
			rc = probe_escape(out, d + i, 2);
			if (rc == BUF_OK)
				rc = buf_addstr(out, PROBE_MASK);
		} else {
			rc = probe_escape(out, d + i, end - i);
		}
		if (rc == BUF_OK && comma != NULL)
			rc = buf_addch(out, ',');
		i = end + (comma != NULL);
	}
	return rc;
}

/* CRAM-MD5 response (RFC 2195): "user SP digest". */
static int
render_cram(const uint8_t *d, size_t n, bool *masked_r, struct buf *out)
{
	*masked_r = true;
	size_t sp = n;
	while (sp > 0 && d[sp - 1] != ' ')
		sp--;
	int rc = sp > 0 ? probe_escape(out, d, sp) : BUF_OK;
	return rc != BUF_OK ? rc : buf_addstr(out, PROBE_MASK);
}

static int
render_login_client(struct probe_mask *pm, const uint8_t *d, size_t n, bool *masked_r,
		    struct buf *out)
{
	/* The first answer (or initial response) is the user name; only
	 * one is ever shown, so a server asking twice learns nothing. */
	if (!pm->login_user_sent && (pm->login_expect_user || n > 0)) {
		pm->login_user_sent = true;
		pm->login_expect_user = false;
		return probe_escape(out, d, n);
	}
	*masked_r = true;
	return buf_addstr(out, PROBE_MASK);
}

int
probe_sasl_render(struct probe_mask *pm, const char *mech, enum smtp_dir dir, const uint8_t *dec,
		  size_t n, bool *masked_r, struct buf *out)
{
	*masked_r = false;
	if (dir == SMTP_DIR_SERVER) {
		if (mech_is(mech, "LOGIN")) {
			/* "Username:" (draft-murchison-sasl-login) */
			pm->login_expect_user = n >= 4 && strncasecmp((const char *)dec, "user", 4) == 0;
		}
		if (mech_is_scram(mech))
			return render_scram(dec, n, masked_r, out);
		return probe_escape(out, dec, n);
	}
	if (mech_is(mech, "PLAIN"))
		return render_plain(dec, n, masked_r, out);
	if (mech_is(mech, "LOGIN"))
		return render_login_client(pm, dec, n, masked_r, out);
	if (mech_is(mech, "CRAM-MD5"))
		return render_cram(dec, n, masked_r, out);
	if (mech_is_scram(mech))
		return render_scram(dec, n, masked_r, out);
	if (mech_is(mech, "EXTERNAL"))	/* the authorization identity only */
		return probe_escape(out, dec, n);
	*masked_r = true;	/* a token-bearing mechanism we do not know */
	return buf_addstr(out, PROBE_MASK);
}

/* The SASL part of a line: base64 (or its mask) and the decoded text. */
static int
format_sasl(struct probe_mask *pm, const struct smtp_line *l, struct buf *out)
{
	size_t off = l->payload_off <= l->len ? l->payload_off : l->len;
	const char *b64 = l->text + off;
	size_t b64n = l->len - off;
	struct buf dec, shown;
	buf_init(&dec, SASL_MSG_MAX);
	buf_init(&shown, 4 * SASL_MSG_MAX + 64);
	bool masked = false;
	int rc = probe_escape(out, (const uint8_t *)l->text, off);
	if (rc != BUF_OK)
		goto done;
	/* "*" cancels an exchange (RFC 4954 section 4); "=" is an empty
	 * initial response: neither is base64 to decode. */
	bool plain_token = (b64n == 1 && (b64[0] == '*' || b64[0] == '=')) || b64n == 0;
	if (plain_token || b64_decode(&dec, b64, b64n) != 0) {
		rc = probe_escape(out, (const uint8_t *)b64, b64n);
		if (rc == BUF_OK && !plain_token)
			rc = buf_addstr(out, "   [not base64]");
		else if (rc == BUF_OK && b64n == 0)
			rc = buf_addstr(out, "   [empty response]");
		goto done;
	}
	rc = probe_sasl_render(pm, l->mech, l->dir, dec.p, dec.len, &masked, &shown);
	if (rc != BUF_OK)
		goto done;
	if (masked)
		rc = buf_addstr(out, PROBE_MASK);
	else
		rc = probe_escape(out, (const uint8_t *)b64, b64n);
	if (rc == BUF_OK)
		rc = buf_printf(out, "   [decoded: \"%s\"]", buf_cstr(&shown));
done:
	buf_wipe_free(&dec);
	buf_wipe_free(&shown);
	return rc;
}

int
probe_format_line(struct probe_mask *pm, const struct smtp_line *l, struct buf *out)
{
	static const char *const prefix[] = {
		[SMTP_DIR_CLIENT] = "C: ", [SMTP_DIR_SERVER] = "S: ", [SMTP_DIR_NOTE] = "-- ",
	};
	int rc = buf_addstr(out, prefix[l->dir]);
	if (rc != BUF_OK)
		return rc;
	if ((l->flags & SMTP_LINE_SASL) && l->dir != SMTP_DIR_NOTE)
		rc = format_sasl(pm, l, out);
	else if (l->flags & SMTP_LINE_SECRET)
		rc = buf_addstr(out, PROBE_MASK);
	else
		rc = probe_escape(out, (const uint8_t *)l->text, l->len);
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

int
probe_format_caps(const struct smtp_ehlo *caps, bool tls, struct buf *out)
{
	static const struct {
		enum smtp_ext bit;
		const char *name;
	} names[] = {
		{ SMTP_EXT_STARTTLS, "STARTTLS" }, { SMTP_EXT_PIPELINING, "PIPELINING" },
		{ SMTP_EXT_8BITMIME, "8BITMIME" }, { SMTP_EXT_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES" },
		{ SMTP_EXT_SMTPUTF8, "SMTPUTF8" }, { SMTP_EXT_DSN, "DSN" }, { SMTP_EXT_CHUNKING, "CHUNKING" },
	};
	int rc = buf_printf(out, "capabilities (%s):", tls ? "TLS" : "no TLS");
	for (size_t i = 0; rc == BUF_OK && i < sizeof names / sizeof *names; i++)
		if (smtp_ehlo_has(caps, names[i].bit))
			rc = buf_printf(out, " %s", names[i].name);
	if (rc == BUF_OK && smtp_ehlo_has(caps, SMTP_EXT_SIZE))
		rc = buf_printf(out, " SIZE=%llu", caps->size_max);
	if (rc == BUF_OK && smtp_ehlo_has(caps, SMTP_EXT_AUTH)) {
		rc = buf_addstr(out, " AUTH=");
		for (size_t i = 0; rc == BUF_OK && i < caps->nmechs; i++)
			rc = buf_printf(out, "%s%s", i ? "," : "", caps->mechs[i]);
	}
	if (rc == BUF_OK && !smtp_ehlo_has(caps, SMTP_EXT_AUTH))
		rc = buf_addstr(out, " (no AUTH)");
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

/* Appends what a BIO collected. */
static int
bio_to_buf(BIO *bio, struct buf *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	return n > 0 ? probe_escape(out, (const uint8_t *)p, (size_t)n) : BUF_OK;
}

static int
cert_name(X509_NAME *name, const char *label, const char *prefix, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return BUF_NOMEM;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
	int rc = buf_printf(out, "%s%s: ", prefix, label);
	if (rc == BUF_OK)
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

static int
cert_sans(X509 *x, const char *prefix, struct buf *out)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int rc = buf_printf(out, "%ssubject alt names:", prefix);
	for (int i = 0; gens != NULL && rc == BUF_OK && i < sk_GENERAL_NAME_num(gens); i++) {
		BIO *bio = BIO_new(BIO_s_mem());
		if (bio == NULL) {
			rc = BUF_NOMEM;
			break;
		}
		/* Renders "DNS:name", "IP Address:1.2.3.4", ... */
		GENERAL_NAME_print(bio, sk_GENERAL_NAME_value(gens, i));
		rc = buf_addstr(out, i ? ", " : " ");
		if (rc == BUF_OK)
			rc = bio_to_buf(bio, out);
		BIO_free(bio);
	}
	if (rc == BUF_OK && (gens == NULL || sk_GENERAL_NAME_num(gens) == 0))
		rc = buf_addstr(out, " (none)");
	GENERAL_NAMES_free(gens);
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

static int
cert_time(const ASN1_TIME *t, const char *label, const char *prefix, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return BUF_NOMEM;
	ASN1_TIME_print(bio, t);
	int rc = buf_printf(out, "%s%s: ", prefix, label);
	if (rc == BUF_OK)
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

static int
cert_fingerprint(X509 *x, const char *prefix, struct buf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (X509_digest(x, EVP_sha256(), md, &n) != 1)
		return buf_printf(out, "%sSHA-256 fingerprint: (unavailable)\n", prefix);
	int rc = buf_printf(out, "%sSHA-256 fingerprint: ", prefix);
	for (unsigned i = 0; rc == BUF_OK && i < n; i++)
		rc = buf_printf(out, "%s%02X", i ? ":" : "", md[i]);
	return rc != BUF_OK ? rc : buf_addch(out, '\n');
}

int
probe_format_cert(X509 *x, const char *prefix, struct buf *out)
{
	int rc = cert_name(X509_get_subject_name(x), "subject", prefix, out);
	if (rc == BUF_OK)
		rc = cert_name(X509_get_issuer_name(x), "issuer", prefix, out);
	if (rc == BUF_OK)
		rc = cert_sans(x, prefix, out);
	if (rc == BUF_OK)
		rc = cert_time(X509_get0_notBefore(x), "not before", prefix, out);
	if (rc == BUF_OK)
		rc = cert_time(X509_get0_notAfter(x), "not after", prefix, out);
	if (rc == BUF_OK)
		rc = cert_fingerprint(x, prefix, out);
	return rc;
}

int
probe_format_tls(const struct smtp_tls_info *ti, struct buf *out)
{
	int rc = buf_printf(out, "TLS: %s, cipher %s\n", ti->version ? ti->version : "?",
			    ti->cipher ? ti->cipher : "?");
	if (rc == BUF_OK && ti->peer == NULL)
		rc = buf_addstr(out, "TLS: the server sent no certificate\n");
	if (rc == BUF_OK && ti->peer != NULL) {
		rc = buf_addstr(out, "TLS: certificate:\n");
		if (rc == BUF_OK)
			rc = probe_format_cert(ti->peer, "TLS:   ", out);
	}
	if (rc == BUF_OK && ti->chain != NULL)
		rc = buf_printf(out, "TLS: chain: %d certificate(s) sent by the server\n",
				sk_X509_num(ti->chain));
	const char *why = ti->verify_error ? ti->verify_error : "?";
	if (rc == BUF_OK && ti->verified)
		rc = buf_addstr(out, "TLS: verification: ok (chain and host name)\n");
	else if (rc == BUF_OK)
		rc = buf_printf(out, "TLS: verification: FAILED (%s)\n", why);
	return rc;
}
