/* cmd_mail.c - MAIL FROM (RFC 5321 4.1.1.2) with SIZE (RFC 1870), BODY
 * (RFC 6152) and AUTH= (RFC 4954 section 5). */
#include "server/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/addr.h"
#include "smtp/xtext.h"
#include "util/log.h"

struct mail_params {
	bool body_8bit;
	char *auth_param;
};

/* One parameter; replies itself and returns -1 on error. */
static int
mail_param(struct session *s, struct span key, struct span val, struct mail_params *p)
{
	if (span_ieq(key, "SIZE")) {
		/* RFC 1870 6: "552 message size exceeds fixed maximum
		 * message size" when the declared size is too big. */
		char num[24];
		char *end;
		if (span_cstr(val, num, sizeof num) < 0 || num[0] < '0' || num[0] > '9') {
			sess_fail(s, 501, "5.5.4", "Bad SIZE= parameter");
			return -1;
		}
		unsigned long long n = strtoull(num, &end, 10);
		if (*end != '\0') {
			sess_fail(s, 501, "5.5.4", "Bad SIZE= parameter");
			return -1;
		}
		if (n > s->cfg->max_message_size) {
			sess_fail(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
			return -1;
		}
		return 0;
	}
	if (span_ieq(key, "BODY")) {
		if (span_ieq(val, "8BITMIME"))
			p->body_8bit = true;
		else if (span_ieq(val, "7BIT"))
			p->body_8bit = false;
		else {
			sess_fail(s, 501, "5.5.4", "Bad BODY= parameter");
			return -1;
		}
		return 0;
	}
	if (span_ieq(key, "AUTH")) {
		struct buf b;
		buf_init(&b, SMTP_PATH_MAX + 2);
		if (val.n == 0 || smtp_xtext_decode(val, &b) < 0 || b.len == 0) {
			buf_free(&b);
			sess_fail(s, 501, "5.5.4", "Bad AUTH= parameter");
			return -1;
		}
		free(p->auth_param);
		/* RFC 4954 5: "If the server does not sufficiently trust the
		 * authenticated identity of the client, or if the client is
		 * not authenticated, then the server MUST behave as if the
		 * AUTH=<> parameter was supplied." */
		p->auth_param = s->auth_user ? (char *)b.p : strdup("<>");
		if (s->auth_user == NULL)
			buf_free(&b);
		return 0;
	}
	sess_fail(s, 555, "5.5.4", "Unsupported parameter '%.*s'", (int)(key.n > 32 ? 32 : key.n), key.p);
	return -1;
}

static int
cmd_mail_check(struct session *s, struct span arg, char from[SMTP_PATH_MAX + 1],
	       struct mail_params *p)
{
	if (s->mail_from != NULL) {
		sess_fail(s, 503, "5.5.1", "Error: nested MAIL command");
		return -1;
	}
	if (!span_istarts(arg, "FROM:")) {
		sess_fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return -1;
	}
	span_skip(&arg, 5);
	struct span params, key, val;
	const char *why = NULL;
	if (smtp_path_parse(arg, true, from, &params, &why) != SMTP_ADDR_OK) {
		sess_fail(s, 501, "5.1.7", "Bad sender address syntax (%s)", why ? why : "syntax");
		return -1;
	}
	int rc;
	while ((rc = smtp_param_next(&params, &key, &val)) == 1)
		if (mail_param(s, key, val, p) < 0)
			return -1;
	if (rc < 0) {
		sess_fail(s, 501, "5.5.4", "Bad MAIL FROM parameter syntax");
		return -1;
	}
	if (!policy_sender_owned(s, from)) {
		char safe[LOG_SAFE_MAX], user[LOG_SAFE_MAX];
		log_safe(user, sizeof user, s->auth_user, strlen(s->auth_user));
		log_info("session=%016" PRIx64 " sender not owned client=%s user=%s from=<%s>", s->id,
			 s->addr, user, log_safe(safe, sizeof safe, from, strlen(from)));
		sess_fail(s, 553, "5.7.1", "Sender address not owned by user %s", user);
		return -1;
	}
	return 0;
}

void
cmd_mail(struct session *s, struct span arg)
{
	char from[SMTP_PATH_MAX + 1];
	struct mail_params p = { 0 };
	if (cmd_mail_check(s, arg, from, &p) < 0) {
		free(p.auth_param);
		return;
	}
	s->mail_from = strdup(from);
	if (s->mail_from == NULL) {
		free(p.auth_param);
		sess_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	s->auth_param = p.auth_param;
	s->body_8bit = p.body_8bit;
	sess_reply(s, 250, "2.1.0", "Ok");
}
