/* probe.h - what `postern probe` prints: transcript lines with their
 * SASL payload decoded beside them and secrets masked, capabilities, and
 * the TLS session and certificate.  Pure formatting over the session's
 * callbacks' data, so that it can be tested without a network.
 *
 * Masking rule: whatever a reader could use to log in, or to run an
 * offline dictionary attack on the password, is shown as "********":
 *   PLAIN      the password (authzid and user name stay visible)
 *   LOGIN      every client answer except the user name
 *   CRAM-MD5   the digest (the user name stays visible)
 *   SCRAM-*    the client proof p= and the server signature v=; nonces,
 *              salt and iteration count stay visible (they are what one
 *              needs to see when SCRAM fails)
 *   others     (XOAUTH2, OAUTHBEARER...) the whole client message
 * When anything in a client message is masked, its base64 is masked too.
 */
#ifndef POSTERN_CLIENT_PROBE_H
#define POSTERN_CLIENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "client/smtp_client.h"

struct buf;

#define PROBE_MASK "********"

/* Per-session state of the masker (LOGIN needs to know which answer is
 * the user name).  Zero-initialise, or probe_mask_reset(). */
struct probe_mask {
	bool login_expect_user;	/* the last server challenge asked for the user name */
	bool login_user_sent;
};

void probe_mask_reset(struct probe_mask *pm);

/* Appends one transcript line to out, ending with "\n":
 *   "C: EHLO localhost", "S: 250-STARTTLS", "-- note text",
 *   "C: AUTH PLAIN ********   [decoded: \"\\x00alice\\x00********\"]"
 * Every byte outside printable ASCII is escaped as \xNN.
 * Returns a buf_rc. */
int probe_format_line(struct probe_mask *pm, const struct smtp_line *l, struct buf *out);

/* Appends the decoded SASL message dec[0..n) with secrets masked (see
 * above), escaped, without quotes. *masked_r tells whether something
 * was masked. dir is who sent it. Returns a buf_rc. */
int probe_sasl_render(struct probe_mask *pm, const char *mech, enum smtp_dir dir,
		      const uint8_t *dec, size_t n, bool *masked_r, struct buf *out);

/* Appends bytes escaped for a terminal: printable ASCII as is, '"' and
 * '\\' backslashed, everything else \xNN. Returns a buf_rc. */
int probe_escape(struct buf *out, const uint8_t *p, size_t n);

/* "capabilities (before STARTTLS): PIPELINING SIZE=10240000 AUTH=PLAIN,LOGIN\n" */
int probe_format_caps(const struct smtp_ehlo *caps, bool tls, struct buf *out);

/* The TLS session and certificate, several "TLS: ..." lines. */
int probe_format_tls(const struct smtp_tls_info *ti, struct buf *out);

/* Subject, issuer, SANs, validity and fingerprint of x, one per line,
 * each starting with prefix. Returns a buf_rc. */
int probe_format_cert(X509 *x, const char *prefix, struct buf *out);

/* probe_explain.c: what a provider's reply means, from its reply code
 * and enhanced status code (550 5.7.30, 535 5.7.139, 535 5.7.3, 534
 * 5.7.9); summary is smtp_reply_summary()'s "CODE X.Y.Z text".  A
 * static sentence, or NULL when the reply is not one we explain. */
const char *probe_explain_reply(const char *summary);
/* An OAUTHBEARER/XOAUTH2 error challenge (base64 JSON, RFC 7628 3.2.2):
 * appends one "-- ..." line explaining status, scope and
 * openid-configuration.  1 when appended, 0 when it is not such a
 * status, -1 when out cannot hold it. */
int probe_explain_oauth_status(const char *b64, size_t n, struct buf *out);

#endif
