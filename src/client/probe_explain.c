/* probe_explain.c - what the replies people hit with Microsoft 365 and
 * Gmail mean, and the RFC 7628 error status of a refused token, in
 * words, for `postern probe`.  The table is keyed by reply code and
 * enhanced status code (RFC 3463), not by text, which providers change. */
#include "client/probe.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/b64.h"
#include "util/buf.h"

static const struct {
	int code;
	const char *status;	/* enhanced status code, whole token */
	const char *text;
} known[] = {
	{ 550, "5.7.30", "Microsoft 365 has turned Basic authentication (a password with AUTH "
			 "PLAIN/LOGIN) off for SMTP submission: use OAuth, `auth xoauth2` with "
			 "`oauth_provider microsoft` and `postern oauth login`" },
	{ 535, "5.7.139", "Microsoft 365 refuses SMTP AUTH for this mailbox or tenant "
			  "(Authenticated SMTP is disabled, or security defaults block it): an "
			  "administrator must enable SMTP AUTH for the mailbox "
			  "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false), or use OAuth" },
	{ 535, "5.7.3", "Microsoft 365: authentication unsuccessful: wrong user name or password, "
			"or with OAuth a token for another user, without the SMTP.Send scope, or "
			"from an app the tenant has not consented to" },
	{ 534, "5.7.9", "Gmail: the account has 2-Step Verification on, so the account password "
			"is refused: create an app password (Google Account, Security, App "
			"passwords) or use OAuth, `auth xoauth2` with `oauth_provider google`" },
};

/* "CODE X.Y.Z ..." of a reply summary: the code and the status token. */
const char *
probe_explain_reply(const char *summary)
{
	/* "NNN X.Y.Z" then a space or the end: the status token whole. */
	if (strlen(summary) < 5 || summary[3] != ' ')
		return NULL;
	const char *st = summary + 4;
	size_t slen = strspn(st, "0123456789.");
	for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
		char code[4];
		(void)snprintf(code, sizeof code, "%03d", known[i].code);
		if (strncmp(summary, code, 3) == 0 && strlen(known[i].status) == slen
		    && strncmp(st, known[i].status, slen) == 0)
			return known[i].text;
	}
	return NULL;
}

/* What each RFC 6750 section 3.1 error code (or XOAUTH2's HTTP-style
 * status) asks the user to do. */
static const char *
status_meaning(const char *status)
{
	if (strcmp(status, "invalid_token") == 0 || strcmp(status, "401") == 0
	    || strcmp(status, "400") == 0)
		return "the token is expired, revoked, malformed or for another user or audience "
		       "(postern oauth login gets a new one)";
	if (strcmp(status, "insufficient_scope") == 0 || strcmp(status, "403") == 0)
		return "the token lacks the scope the server needs (set oauth_scope, then "
		       "postern oauth login)";
	if (strcmp(status, "invalid_request") == 0)
		return "the server could not read the request";
	return "an error code this probe does not know";
}

int
probe_explain_oauth_status(const char *b64, size_t n, struct buf *out)
{
	struct buf dec;
	buf_init(&dec, 8192);
	json_t *j = NULL;
	if (b64_decode(&dec, b64, n) == 0 && dec.len > 0)
		j = json_loadb((const char *)dec.p, dec.len, 0, NULL);
	buf_free(&dec);
	const char *status = json_string_value(json_object_get(j, "status"));
	if (status == NULL) {
		json_decref(j);
		return 0;
	}
	const char *scope = json_string_value(json_object_get(j, "scope"));
	const char *conf = json_string_value(json_object_get(j, "openid-configuration"));
	struct buf line;
	buf_init(&line, 4096);
	int rc = buf_printf(&line, "-- the server refused the token (RFC 7628 error status): "
			    "status %s: %s", status, status_meaning(status));
	if (rc == BUF_OK && scope)
		rc = buf_printf(&line, "; scope needed: %s", scope);
	if (rc == BUF_OK && conf)
		rc = buf_printf(&line, "; provider configuration: %s", conf);
	/* Peer text: escaped for the terminal, then the newline. */
	if (rc == BUF_OK)
		rc = probe_escape(out, line.p, line.len);
	if (rc == BUF_OK)
		rc = buf_addch(out, '\n');
	buf_free(&line);
	json_decref(j);
	return rc == BUF_OK ? 1 : -1;
}
