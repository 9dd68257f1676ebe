/* smtp_client_mail.c - one mail transaction: MAIL, RCPT..., DATA (in
 * one write with PIPELINING, RFC 2920), the content, and the result per
 * recipient. */
#include "client/smtp_client_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "client/message.h"

void
smtp_client_mail_free(struct smtp_client *c)
{
	free(c->rr);
	c->rr = NULL;
	free(c->expect);
	c->expect = NULL;
	c->msg = NULL;
	buf_free(&c->wire);
	buf_init(&c->wire, (size_t)-1 / 2);
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

static void
done(struct smtp_client *c)
{
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
set_result(struct smtp_client *c, const struct smtp_reply *r)
{
	c->res.code = r->code;
	smtp_reply_summary(r, c->res.text, sizeof c->res.text);
}

static void
write_cmd(struct smtp_client *c, enum smtp_cmd k, size_t rcpt)
{
	const struct smtp_msg *m = c->msg;
	if (k == CMD_MAIL) {
		char params[80] = "";
		size_t o = 0;
		if (smtp_ehlo_has(&c->caps, SMTP_EXT_SIZE))
			o += (size_t)snprintf(params + o, sizeof params - o, " SIZE=%zu", c->msg_size);
		/* RFC 6152 section 2: BODY=8BITMIME tells the server the
		 * content has 8-bit bytes; without the extension we send it
		 * anyway (as every sendmail does) and say so under -v. */
		if (c->eightbit && smtp_ehlo_has(&c->caps, SMTP_EXT_8BITMIME))
			o += (size_t)snprintf(params + o, sizeof params - o, " BODY=8BITMIME");
		/* RFC 3461 4.3: RET=FULL|HDRS (send() checked the server has DSN). */
		if (c->o.dsn_return)
			(void)snprintf(params + o, sizeof params - o, " RET=%s", c->o.dsn_return);
		/* 80 hold all three: SIZE=<20 digits>, BODY=8BITMIME, RET=HDRS */
		smtp_client_writef(c, "MAIL FROM:<%s>%s", m->from, params);
	} else if (k == CMD_RCPT) {
		/* RFC 3461 4.1: NOTIFY=NEVER or SUCCESS,FAILURE,DELAY (config checked). */
		smtp_client_writef(c, "RCPT TO:<%s>%s%s", m->rcpts[rcpt], c->o.dsn_notify ? " NOTIFY=" : "",
				   c->o.dsn_notify ? c->o.dsn_notify : "");
	} else {
		smtp_client_writef(c, "DATA");
	}
}

int
smtp_client_send(struct smtp_client *c, const struct smtp_msg *m)
{
	if (c->state != ST_READY || m->nrcpts == 0 || !addr_ok(m->from))
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (!addr_ok(m->rcpts[i]) || m->rcpts[i][0] == '\0')
			return -1;
	smtp_client_mail_free(c);
	memset(&c->res, 0, sizeof c->res);
	c->msg = m;
	c->rr = calloc(m->nrcpts, sizeof *c->rr);
	c->expect = calloc(m->nrcpts + 2, sizeof *c->expect);
	if (c->rr == NULL || c->expect == NULL ||
	    message_to_wire(m->data, m->len, &c->wire, &c->eightbit, &c->msg_size) != BUF_OK)
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
	/* RFC 1870 section 6: do not send what the server said it will
	 * not take. */
	if (c->caps.size_max > 0 && c->msg_size > c->caps.size_max) {
		c->res.size_refused = true;
		(void)snprintf(c->res.text, sizeof c->res.text,
			 "message of %zu bytes is larger than the server's limit of %llu",
			 c->msg_size, c->caps.size_max);
		smtp_client_defer(c, deferred_done);
		return 0;
	}
	/* msmtp: DSN asked for and not offered is an error, not a silent
	 * loss of the notifications the user counts on. */
	if ((c->o.dsn_notify || c->o.dsn_return) && !smtp_ehlo_has(&c->caps, SMTP_EXT_DSN)) {
		(void)snprintf(c->res.text, sizeof c->res.text,
			       "the server does not support DSN (dsn_notify / dsn_return are set)");
		smtp_client_defer(c, deferred_done);
		return 0;
	}
	if (c->eightbit && !smtp_ehlo_has(&c->caps, SMTP_EXT_8BITMIME))
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
send_body(struct smtp_client *c)
{
	smtp_client_note(c, "(message: %zu bytes%s)", c->msg_size,
			 c->eightbit ? ", 8-bit" : "");
	/* evbuffer_add copies; the content is already dot-stuffed and
	 * ends with CRLF.CRLF. */
	evbuffer_add(bufferevent_get_output(c->bev), c->wire.p, c->wire.len);
	smtp_client_set_state(c, ST_BODY);
}

static void
on_data_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code == 354 && c->mail_ok && c->res.naccepted > 0) {
		send_body(c);
		return;
	}
	if (r->code == 354) {
		/* RFC 2920 3.1: the server took DATA although no recipient
		 * was accepted: end it at once with an empty message. */
		smtp_client_write_line(c, 0, NULL, 0, ".", 1);
		smtp_client_set_state(c, ST_RSET);
		return;
	}
	if (c->mail_ok && c->res.naccepted > 0)
		set_result(c, r);
	smtp_client_writef(c, "RSET");
	smtp_client_set_state(c, ST_RSET);
}

void
smtp_client_mail_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (c->state == ST_BODY) {
		set_result(c, r);
		c->res.delivered = r->code / 100 == 2;
		done(c);
		return;
	}
	if (c->state == ST_RSET) {
		done(c);
		return;
	}
	enum smtp_cmd k = c->expect[c->expect_i];
	size_t idx = c->expect_i;
	c->expect_i++;
	if (k == CMD_MAIL) {
		c->mail_ok = r->code / 100 == 2;
		if (!c->mail_ok)
			set_result(c, r);
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
		if (!c->mail_ok || c->res.code == 0) {
			if (c->mail_ok)
				set_result(c, r);
		}
		smtp_client_writef(c, "RSET");
		smtp_client_set_state(c, ST_RSET);
		return;
	}
	write_cmd(c, c->expect[c->expect_i], c->expect_i - 1);
}
