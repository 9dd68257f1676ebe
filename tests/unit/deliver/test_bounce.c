/* test_bounce.c - RFC 3464 reports: the exact bytes of a failure report,
 * the delayed variant's fields, Status derivation, the "should I
 * bounce?" predicate, the original header read in any chunking and cut
 * at its cap, and hostile reply text kept on one printable line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/bounce.h"

/* A reader over a string that hands out at most `step` bytes per call
 * and counts how far it was read. */
struct src {
	const char *p;
	size_t len, pos, step;
};

static ssize_t
src_read(void *arg, void *buf, size_t size)
{
	struct src *s = arg;
	size_t n = s->len - s->pos;
	n = n < size ? n : size;
	n = n < s->step ? n : s->step;
	memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static ssize_t
bad_read(void *arg, void *buf, size_t size)
{
	return -1;
}

static const char ORIGINAL[] =
	"Received: from client (127.0.0.1)\r\n\tby mail.example.test\r\n"
	"From: alice@example.test\r\nTo: bob@remote.example\r\nSubject: hello\r\n"
	"\r\n"
	"Body line that must not appear in the report\r\n";

static const struct bounce_rcpt RCPTS[] = {
	{ .final_rcpt = "bob@remote.example", .orig_rcpt = "Bob@remote.example",
	  .remote_mta = "mx.remote.example", .reply_code = 550, .reply_enh = "5.1.1",
	  .reply_text = "5.1.1 <bob@remote.example>: Recipient address rejected: User unknown",
	  .last_attempt = 1700003600 },
	{ .final_rcpt = "carol@nomail.example", .status = "5.1.10",
	  .why = "domain nomail.example does not accept mail (null MX)",
	  .last_attempt = 1700003600 },
};

static const struct bounce_msg MSG = {
	.kind = BOUNCE_FAILED, .hostname = "mail.example.test", .sender = "alice@example.test",
	.queue_id = "0123456789abcdef", .arrival = 1700000000, .now = 1700003601,
	.unique = "1700003601.abc", .rcpts = RCPTS, .nrcpts = 2,
};

static const char WANT[] =
	"From: Mail Delivery System <MAILER-DAEMON@mail.example.test>\r\n"
	"To: <alice@example.test>\r\n"
	"Subject: Undelivered Mail Returned to Sender\r\n"
	"Date: Tue, 14 Nov 2023 23:13:21 +0000\r\n"
	"Message-ID: <1700003601.abc@mail.example.test>\r\n"
	"Auto-Submitted: auto-replied\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/report; report-type=delivery-status;\r\n"
	"\tboundary=\"=_postern_1700003601.abc\"\r\n"
	"\r\n"
	"This is a MIME-encapsulated message.\r\n"
	"\r\n"
	"--=_postern_1700003601.abc\r\n"
	"Content-Description: Notification\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"This is the mail system at host mail.example.test.\r\n"
	"\r\n"
	"Your message could not be delivered to one or more recipients.\r\n"
	"Its header is attached below.\r\n"
	"\r\n"
	"<bob@remote.example>: host mx.remote.example said: 550 5.1.1 <bob@remote.example>: "
	"Recipient address rejected: User unknown\r\n"
	"<carol@nomail.example>: domain nomail.example does not accept mail (null MX)\r\n"
	"\r\n"
	"--=_postern_1700003601.abc\r\n"
	"Content-Description: Delivery report\r\n"
	"Content-Type: message/delivery-status\r\n"
	"\r\n"
	"Reporting-MTA: dns; mail.example.test\r\n"
	"X-Postern-Queue-ID: 0123456789abcdef\r\n"
	"Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822; bob@remote.example\r\n"
	"Original-Recipient: rfc822; Bob@remote.example\r\n"
	"Action: failed\r\n"
	"Status: 5.1.1\r\n"
	"Remote-MTA: dns; mx.remote.example\r\n"
	"Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: Recipient address\r\n"
	" rejected: User unknown\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 23:13:20 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822; carol@nomail.example\r\n"
	"Action: failed\r\n"
	"Status: 5.1.10\r\n"
	"Diagnostic-Code: X-Postern; domain nomail.example does not accept mail (null\r\n"
	" MX)\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 23:13:20 +0000\r\n"
	"\r\n"
	"--=_postern_1700003601.abc\r\n"
	"Content-Description: Undelivered Message Headers\r\n"
	"Content-Type: text/rfc822-headers\r\n"
	"\r\n"
	"Received: from client (127.0.0.1)\r\n\tby mail.example.test\r\n"
	"From: alice@example.test\r\nTo: bob@remote.example\r\nSubject: hello\r\n"
	"\r\n"
	"--=_postern_1700003601.abc--\r\n";

static char *
build(const struct bounce_msg *m, const char *orig, size_t step, size_t *read_r)
{
	struct src s = { orig, strlen(orig), 0, step };
	struct buf out;
	char *err = NULL;
	buf_init(&out, 1 << 20);
	assert_int_equal(bounce_build(m, src_read, &s, &out, &err), 0);
	assert_null(err);
	if (read_r)
		*read_r = s.pos;
	return (char *)out.p;
}

/* The exact report, whatever the chunking of the original; the body is
 * never pulled further than the chunk holding the empty line. */
static void
test_failure_report_bytes(void **state)
{
	for (size_t step = 1; step <= sizeof ORIGINAL; step++) {
		size_t pos;
		char *got = build(&MSG, ORIGINAL, step, &pos);
		assert_string_equal(got, WANT);
		assert_true(pos <= (size_t)(strstr(ORIGINAL, "\r\n\r\n") - ORIGINAL) + 4 + step);
		free(got);
	}
}

static void
test_delayed_variant(void **state)
{
	struct bounce_rcpt r = { .final_rcpt = "bob@remote.example", .remote_mta = "mx.remote.example",
				 .reply_code = 451, .reply_enh = "4.7.1",
				 .reply_text = "4.7.1 Greylisted, try later", .last_attempt = 1700014400 };
	struct bounce_msg m = MSG;
	m.kind = BOUNCE_DELAYED;
	m.rcpts = &r;
	m.nrcpts = 1;
	m.now = 1700014400;
	m.retry_until = 1700432000;
	char *got = build(&m, ORIGINAL, 4096, NULL);
	assert_non_null(strstr(got, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(got, "THIS IS A WARNING ONLY."));
	assert_non_null(strstr(got, "could not be delivered for 4 hour(s).\r\n"
				    "It will be retried until Sun, 19 Nov 2023 22:13:20 +0000.\r\n"));
	assert_non_null(strstr(got, "\r\nAction: delayed\r\nStatus: 4.7.1\r\n"));
	assert_non_null(strstr(got, "Diagnostic-Code: smtp; 451 4.7.1 Greylisted, try later\r\n"));
	assert_non_null(strstr(got, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(got, "Content-Description: Delayed Message Headers\r\n"));
	assert_null(strstr(got, "Action: failed"));
	free(got);
}

static void
check_status(int code, const char *enh, const char *explicit, enum bounce_kind k,
	     const char *want)
{
	struct bounce_rcpt r = { .reply_code = code, .reply_enh = enh, .status = explicit };
	char buf[16];
	assert_string_equal(bounce_status(&r, k, buf, sizeof buf), want);
}

static void
test_status(void **state)
{
	check_status(550, "5.1.1", NULL, BOUNCE_FAILED, "5.1.1");
	check_status(550, "", NULL, BOUNCE_FAILED, "5.0.0");	/* derived from the basic code */
	check_status(554, NULL, NULL, BOUNCE_FAILED, "5.0.0");
	check_status(452, "", NULL, BOUNCE_FAILED, "4.0.0");	/* expired after 4xx */
	check_status(550, "4.2.2", NULL, BOUNCE_FAILED, "5.0.0");	/* class disagrees */
	check_status(550, "5.1", NULL, BOUNCE_FAILED, "5.0.0");	/* malformed */
	check_status(550, "5.1234.1", NULL, BOUNCE_FAILED, "5.0.0");
	check_status(550, "5.1.1", "5.7.1", BOUNCE_FAILED, "5.7.1");	/* caller's own */
	check_status(0, NULL, "4.4.1", BOUNCE_DELAYED, "4.4.1");
	check_status(0, NULL, NULL, BOUNCE_DELAYED, "4.0.0");
	check_status(0, NULL, NULL, BOUNCE_FAILED, "5.0.0");
	check_status(0, NULL, "junk", BOUNCE_FAILED, "5.0.0");
}

static void
test_wanted(void **state)
{
	assert_false(bounce_wanted("", BOUNCE_FAILED, NULL));	/* null sender: never */
	assert_false(bounce_wanted("", BOUNCE_DELAYED, "FAILURE,DELAY"));
	assert_false(bounce_wanted(NULL, BOUNCE_FAILED, NULL));
	assert_true(bounce_wanted("a@b", BOUNCE_FAILED, NULL));
	assert_true(bounce_wanted("a@b", BOUNCE_DELAYED, NULL));
	assert_false(bounce_wanted("a@b", BOUNCE_FAILED, "NEVER"));
	assert_true(bounce_wanted("a@b", BOUNCE_FAILED, "success,failure"));
	assert_false(bounce_wanted("a@b", BOUNCE_DELAYED, "SUCCESS,FAILURE"));
	assert_true(bounce_wanted("a@b", BOUNCE_DELAYED, "DELAY"));
	assert_false(bounce_wanted("a@b", BOUNCE_FAILED, "FAILUREX"));	/* whole tokens */
}

/* A reply trying to add header fields stays one folded, printable field. */
static void
test_hostile_reply(void **state)
{
	struct bounce_rcpt r = RCPTS[0];
	r.reply_text = "5.1.1 no\r\nX-Injected: yes\r\n\r\n--=_postern_1700003601.abc\x01\xff";
	struct bounce_msg m = MSG;
	m.rcpts = &r;
	m.nrcpts = 1;
	char *got = build(&m, ORIGINAL, 4096, NULL);
	assert_null(strstr(got, "\r\nX-Injected"));
	assert_non_null(strstr(got, "Diagnostic-Code: smtp; 550 5.1.1 no X-Injected: yes"));
	assert_non_null(strstr(got, "--=_postern_1700003601.abc??\r\n"));
	/* the forged boundary never starts a line: only the 4 real ones do */
	size_t lines = 0;
	for (const char *p = got; (p = strstr(p, "\r\n--=_postern_")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 4);
	free(got);
}

static void
test_header_cap_and_no_body(void **state)
{
	/* a header section longer than the cap: cut at a line end */
	size_t n = BOUNCE_HEADERS_MAX * 2;
	char *big = malloc(n + 100);
	size_t o = 0;
	while (o < n)
		o += (size_t)snprintf(big + o, n + 100 - o, "X-Filler: %060zu\r\n", o);
	memcpy(big + o, "\r\nbody\r\n", 9);
	char *got = build(&MSG, big, 1000, NULL);
	const char *part = strstr(got, "Content-Type: text/rfc822-headers\r\n\r\n");
	assert_non_null(part);
	part += strlen("Content-Type: text/rfc822-headers\r\n\r\n");
	size_t hlen = strlen(part) - strlen("\r\n--=_postern_1700003601.abc--\r\n");
	assert_true(hlen <= BOUNCE_HEADERS_MAX && hlen > BOUNCE_HEADERS_MAX - 100);
	assert_memory_equal(part + hlen - 2, "\r\n", 2);
	assert_null(strstr(got, "body"));
	free(got);
	free(big);
	/* a message without a header: an empty part */
	got = build(&MSG, "\r\njust a body\r\n", 3, NULL);
	assert_non_null(strstr(got, "text/rfc822-headers\r\n\r\n\r\n--=_postern_1700003601.abc--"));
	free(got);
}

static void
test_errors(void **state)
{
	struct buf out;
	char *err = NULL;
	buf_init(&out, 1 << 20);
	assert_int_equal(bounce_build(&MSG, bad_read, NULL, &out, &err), -1);
	assert_string_equal(err, "cannot read the original message");
	assert_int_equal(out.len, 0);
	free(err);
	struct bounce_msg m = MSG;
	m.unique = "a\"b";
	struct src s = { ORIGINAL, strlen(ORIGINAL), 0, 100 };
	assert_int_equal(bounce_build(&m, src_read, &s, &out, &err), -1);
	free(err);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_report_bytes),
		cmocka_unit_test(test_delayed_variant),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_hostile_reply),
		cmocka_unit_test(test_header_cap_and_no_body),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
