/* smtp_client_mail.c - one mail transaction: MAIL (with its parameters),
 * RCPT..., DATA (in one write with PIPELINING, RFC 2920), and the result
 * per recipient: refused at RCPT, or the reply after the dot (LMTP: one
 * per accepted recipient, RFC 2033 section 4.2). */
#include "client/smtp_client_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "smtp/xtext.h"

/* A command line with every parameter: RFC 5321 4.5.3.1.4's 512, plus
 * what the extensions allow (RFC 4954 section 5: AUTH= adds 500; RFC
 * 3461: ENVID 100, ORCPT 500; RFC 1870: SIZE 26). */
#define CMD_LINE_MAX 2048

void
smtp_client_mail_free(struct smtp_client *c)
{
	free(c->rr);
	c->rr = NULL;
	free(c->expect);
	c->expect = NULL;
	free(c->chunk);
	c->chunk = NULL;
	c->msg = NULL;
}

/* An address we may put between < and >: printable, no spaces, no
 * brackets, not longer than RFC 5321 4.5.3.1.3's 256-octet path. */
static bool
addr_ok(const char *a)
{
	size_t n = strlen(a);
	if (n > 254)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

/* A parameter value passed on (RET, ENVID, NOTIFY, ORCPT): RFC 5321
 * esmtp-value, printable ASCII without "=" or space; NULL is fine. */
static bool
param_ok(const char *v)
{
	if (v == NULL)
		return true;
	size_t n = strlen(v);
	if (n == 0 || n > 500)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '=')
			return false;
	return true;
}

/* Each recipient's final word, from what the transaction left. */
static void
settle(struct smtp_client *c)
{
	struct smtp_send_result *res = &c->res;
	bool lmtp = c->o.protocol == SMTP_PROTO_LMTP;
	bool all_temp = true, any_refused = false;
	for (size_t i = 0; c->msg && i < c->msg->nrcpts; i++) {
		struct smtp_rcpt_result *rr = &c->rr[i];
		if (rr->code / 100 == 2 && !lmtp && res->code != 0 && rr->data_code == 0) {
			/* SMTP: the one reply to DATA or the dot speaks for all */
			rr->data_code = res->code;
			memcpy(rr->data_text, res->text, sizeof rr->data_text);
		}
		rr->delivered = rr->code / 100 == 2 && rr->data_code / 100 == 2;
		int decisive = rr->code / 100 != 2 && rr->code != 0 ? rr->code : rr->data_code;
		if (rr->delivered)
			rr->cls = SMTP_CLASS_OK;
		else if (decisive != 0)
			rr->cls = smtp_class_of_code(decisive);
		else	/* never got that far: the message's own reason */
			rr->cls = res->code ? smtp_class_of_code(res->code) : res->cls;
		if (rr->delivered)
			res->ndelivered++;
		if (rr->code != 0 && rr->code / 100 != 2) {
			any_refused = true;
			all_temp = all_temp && rr->code / 100 == 4;
		}
	}
	res->delivered = res->ndelivered > 0;
	if (res->delivered)
		res->cls = SMTP_CLASS_OK;
	else if (res->code != 0)
		res->cls = smtp_class_of_code(res->code);
	else if (any_refused)
		res->cls = all_temp ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM;
}

static void
done(struct smtp_client *c)
{
	settle(c);
	c->res.rcpts = c->rr;
	c->res.nrcpts = c->msg ? c->msg->nrcpts : 0;
	smtp_client_set_state(c, ST_READY);
	struct smtp_send_result res = c->res;
	c->cb.sent(c->arg, c, &res);
}

static void
deferred_done(struct smtp_client *c)
{
	done(c);
}

static void
set_result(struct smtp_client *c, const struct smtp_reply *r, enum smtp_stage stage)
{
	c->res.code = r->code;
	c->res.stage = stage;
	smtp_reply_summary(r, c->res.text, sizeof c->res.text);
}

/* " KEY=value" appended; a NULL value appends nothing. */
static int
add_param(struct buf *b, const char *key, const char *value)
{
	return value ? buf_printf(b, " %s=%s", key, value) : BUF_OK;
}

static int
mail_params(struct smtp_client *c, struct buf *b)
{
	const struct smtp_msg *m = c->msg;
	int rc = BUF_OK;
	if (m->size > 0 && smtp_ehlo_has(&c->caps, SMTP_EXT_SIZE))
		rc = buf_printf(b, " SIZE=%llu", (unsigned long long)m->size);
	/* RFC 6152 section 2: BODY=8BITMIME tells the server the content
	 * has 8-bit bytes (send() decided what happens without it). */
	if (rc == BUF_OK && m->eightbit && smtp_ehlo_has(&c->caps, SMTP_EXT_8BITMIME))
		rc = buf_addstr(b, " BODY=8BITMIME");
	/* RFC 4954 section 5: "AUTH=<>" when the identity is unknown. */
	if (rc == BUF_OK && m->auth && smtp_ehlo_has(&c->caps, SMTP_EXT_AUTH)) {
		rc = buf_addstr(b, " AUTH=");
		if (rc == BUF_OK)
			rc = m->auth[0] ? smtp_xtext_encode(m->auth, b) : buf_addstr(b, "<>");
	}
	/* RFC 3461 4.3, 4.4: only to a server that offers DSN (the account's
	 * dsn_return was checked in send()). */
	bool dsn = smtp_ehlo_has(&c->caps, SMTP_EXT_DSN);
	if (rc == BUF_OK && dsn)
		rc = add_param(b, "RET", m->dsn_ret ? m->dsn_ret : c->o.dsn_return);
	if (rc == BUF_OK && dsn)
		rc = add_param(b, "ENVID", m->dsn_envid);
	return rc;
}

static void
write_cmd(struct smtp_client *c, enum smtp_cmd k, size_t rcpt)
{
	const struct smtp_msg *m = c->msg;
	if (k == CMD_DATA) {
		smtp_client_writef(c, "DATA");
		return;
	}
	struct buf line;
	buf_init(&line, CMD_LINE_MAX);
	bool dsn = smtp_ehlo_has(&c->caps, SMTP_EXT_DSN);
	int rc;
	if (k == CMD_MAIL) {
		rc = buf_printf(&line, "MAIL FROM:<%s>", m->from);
		if (rc == BUF_OK)
			rc = mail_params(c, &line);
	} else {
		/* RFC 3461 4.1, 4.2: NOTIFY and ORCPT, per recipient. */
		const char *notify = m->rcpt_notify && m->rcpt_notify[rcpt] ? m->rcpt_notify[rcpt]
									     : c->o.dsn_notify;
		rc = buf_printf(&line, "RCPT TO:<%s>", m->rcpts[rcpt]);
		if (rc == BUF_OK && dsn)
			rc = add_param(&line, "NOTIFY", notify);
		if (rc == BUF_OK && dsn && m->rcpt_orcpt)
			rc = add_param(&line, "ORCPT", m->rcpt_orcpt[rcpt]);
	}
	/* send() checked every piece's length: the line fits. */
	if (rc == BUF_OK)
		smtp_client_write_line(c, 0, NULL, 0, (const char *)line.p, line.len);
	else
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "command line too long");
	buf_free(&line);
}

/* The caller's message is well formed (a caller bug otherwise). */
static bool
msg_ok(const struct smtp_msg *m)
{
	if (m->nrcpts == 0 || !addr_ok(m->from) || m->body.read == NULL || !param_ok(m->dsn_ret) ||
	    !param_ok(m->dsn_envid) || (m->auth && strlen(m->auth) > 254))
		return false;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!addr_ok(m->rcpts[i]) || m->rcpts[i][0] == '\0')
			return false;
		if ((m->rcpt_notify && !param_ok(m->rcpt_notify[i])) ||
		    (m->rcpt_orcpt && !param_ok(m->rcpt_orcpt[i])))
			return false;
	}
	return true;
}

/* A reason not to send at all (the server could not take it as it
 * is); the result says why, with its class. */
static bool
refuse_early(struct smtp_client *c)
{
	const struct smtp_msg *m = c->msg;
	const char *why = NULL;
	char tmp[200];
	/* RFC 1870 section 6: do not send what the server said it will
	 * not take (552 there: permanent). */
	if (c->caps.size_max > 0 && m->size > c->caps.size_max) {
		c->res.size_refused = true;
		(void)snprintf(tmp, sizeof tmp, "message of %llu bytes is larger than the server's "
			       "limit of %llu", (unsigned long long)m->size, c->caps.size_max);
		why = tmp;
	} else if ((c->o.dsn_notify || c->o.dsn_return) && !smtp_ehlo_has(&c->caps, SMTP_EXT_DSN)) {
		/* msmtp: DSN asked for by the account and not offered is an
		 * error, not a silent loss of the notifications the user
		 * counts on. */
		why = "the server does not support DSN (dsn_notify / dsn_return are set)";
	} else if (m->eightbit && m->strict_8bit && !smtp_ehlo_has(&c->caps, SMTP_EXT_8BITMIME)) {
		why = "5.6.3 the message has 8-bit content and the server does not offer 8BITMIME "
		      "(RFC 6152 section 3: not converted)";
	}
	if (why == NULL)
		return false;
	(void)snprintf(c->res.text, sizeof c->res.text, "%s", why);
	c->res.cls = SMTP_CLASS_PERM;
	c->res.stage = SMTP_STAGE_MAIL;
	smtp_client_defer(c, deferred_done);
	return true;
}

int
smtp_client_send(struct smtp_client *c, const struct smtp_msg *m)
{
	if (c->state != ST_READY || !msg_ok(m))
		return -1;
	smtp_client_mail_free(c);
	memset(&c->res, 0, sizeof c->res);
	c->msg = m;
	c->rr = calloc(m->nrcpts, sizeof *c->rr);
	c->expect = calloc(m->nrcpts + 2, sizeof *c->expect);
	if (c->rr == NULL || c->expect == NULL)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++)
		c->rr[i].rcpt = m->rcpts[i];
	c->nexpect = 0;
	c->expect[c->nexpect++] = CMD_MAIL;
	for (size_t i = 0; i < m->nrcpts; i++)
		c->expect[c->nexpect++] = CMD_RCPT;
	c->expect[c->nexpect++] = CMD_DATA;
	c->expect_i = 0;
	c->rcpt_sent = 0;
	c->mail_ok = false;
	smtp_client_set_state(c, ST_MAIL);
	if (refuse_early(c))
		return 0;
	if (m->eightbit && !smtp_ehlo_has(&c->caps, SMTP_EXT_8BITMIME))
		smtp_client_note(c, "the message has 8-bit bytes but the server does not offer "
				    "8BITMIME; sending it as is");
	c->pipelining = smtp_ehlo_has(&c->caps, SMTP_EXT_PIPELINING);
	if (c->pipelining) {
		/* RFC 2920 3.1: MAIL, RCPT and DATA may go in one group; DATA
		 * is the last command of the group. */
		for (size_t i = 0; i < c->nexpect; i++)
			write_cmd(c, c->expect[i], i == 0 ? 0 : i - 1);
	} else {
		write_cmd(c, CMD_MAIL, 0);
	}
	return 0;
}

static void
on_data_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code == 354 && c->mail_ok && c->res.naccepted > 0) {
		smtp_client_body_start(c);
		return;
	}
	if (r->code == 354) {
		/* RFC 2920 3.1: the server took DATA although no recipient
		 * was accepted: end it at once with an empty message. */
		smtp_client_write_line(c, 0, NULL, 0, ".", 1);
		/* LMTP answers "." once per accepted recipient: none here;
		 * the RSET's reply is the one to wait for. */
		if (c->o.protocol == SMTP_PROTO_LMTP)
			smtp_client_writef(c, "RSET");
		smtp_client_set_state(c, ST_RSET);
		return;
	}
	if (c->mail_ok && c->res.naccepted > 0)
		set_result(c, r, SMTP_STAGE_DATA);
	else if (c->mail_ok)
		c->res.stage = SMTP_STAGE_RCPT;
	smtp_client_writef(c, "RSET");
	smtp_client_set_state(c, ST_RSET);
}

/* After the dot.  SMTP: one reply for the message.  LMTP (RFC 2033
 * 4.2): "one reply for each successful RCPT command", in their order. */
static void
on_dot_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (c->o.protocol == SMTP_PROTO_SMTP) {
		set_result(c, r, SMTP_STAGE_DATA);
		done(c);
		return;
	}
	while (c->lmtp_i < c->msg->nrcpts && c->rr[c->lmtp_i].code / 100 != 2)
		c->lmtp_i++;
	if (c->lmtp_i < c->msg->nrcpts) {
		struct smtp_rcpt_result *rr = &c->rr[c->lmtp_i++];
		rr->data_code = r->code;
		smtp_reply_summary(r, rr->data_text, sizeof rr->data_text);
		/* the message's reply: the first failure, else the last */
		if (c->res.code / 100 == 2 || c->res.code == 0)
			set_result(c, r, SMTP_STAGE_DATA);
	}
	while (c->lmtp_i < c->msg->nrcpts && c->rr[c->lmtp_i].code / 100 != 2)
		c->lmtp_i++;
	if (c->lmtp_i >= c->msg->nrcpts)
		done(c);
}

/* One transaction reply (MAIL, RCPT or DATA) in the order they were sent. */
static void
on_cmd_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	enum smtp_cmd k = c->expect[c->expect_i];
	size_t idx = c->expect_i;
	c->expect_i++;
	if (k == CMD_MAIL) {
		c->mail_ok = r->code / 100 == 2;
		if (!c->mail_ok)
			set_result(c, r, SMTP_STAGE_MAIL);
	} else if (k == CMD_RCPT) {
		struct smtp_rcpt_result *rr = &c->rr[idx - 1];
		rr->code = r->code;
		smtp_reply_summary(r, rr->text, sizeof rr->text);
		if (r->code / 100 == 2)
			c->res.naccepted++;
	} else {
		on_data_reply(c, r);
		return;
	}
	if (c->pipelining)
		return;
	/* One at a time: stop early when nothing can be delivered. */
	if (!c->mail_ok || (c->expect[c->expect_i] == CMD_DATA && c->res.naccepted == 0)) {
		if (c->mail_ok)	/* the last refusal speaks for the message */
			set_result(c, r, SMTP_STAGE_RCPT);
		smtp_client_writef(c, "RSET");
		smtp_client_set_state(c, ST_RSET);
		return;
	}
	write_cmd(c, c->expect[c->expect_i], c->expect_i - 1);
}

void
smtp_client_mail_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (c->state == ST_BODY) {
		on_dot_reply(c, r);
		return;
	}
	if (c->state == ST_RSET) {
		done(c);
		return;
	}
	on_cmd_reply(c, r);
}
