/* test_data_from.c - check_header_from (cmd_data_from.c) fed the message
 * whole and split at every byte, as the content arrives from the network
 * in chunks of any size: the end of the header section and each From
 * field must be found wherever the cut falls.  The session around it is
 * a stub: the policy grants alice@example.test only, and replies are
 * recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "server/session.h"

static char last_reply[512];

bool
policy_checks_header_from(const struct session *s)
{
	(void)s;
	return true;
}

bool
policy_sender_owned(const struct session *s, const char *address)
{
	(void)s;
	return strcasecmp(address, "alice@example.test") == 0;
}

static void record(int code, const char *enh, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
record(int code, const char *enh, const char *fmt, va_list ap)
{
	int n = snprintf(last_reply, sizeof last_reply, "%d %s ", code, enh);
	(void)vsnprintf(last_reply + n, sizeof last_reply - (size_t)n, fmt, ap);
}

void
sess_fail(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	(void)s;
	va_list ap;
	va_start(ap, fmt);
	record(code, enh, fmt, ap);
	va_end(ap);
}

void
sess_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	(void)s;
	va_list ap;
	va_start(ap, fmt);
	record(code, enh, fmt, ap);
	va_end(ap);
}

struct from_case {
	const char *msg;
	const char *reply;	/* NULL: accepted */
};

static const struct from_case cases[] = {
	{ "From: alice@example.test\r\nSubject: x\r\n\r\nFrom: boss@bank.test\r\n", NULL },
	{ "Subject: x\r\nFrom: Alice <alice@example.test>,\r\n alice@example.test\r\n\r\nbody\r\n", NULL },
	{ "Subject: no from\r\n\r\nFrom: boss@bank.test\r\n", NULL },
	{ "\r\nFrom: boss@bank.test\r\n", NULL },	/* empty header section */
	{ "From: alice@example.test\r\n", NULL },	/* header only */
	{ "Subject: x\r\nFrom: boss@bank.test\r\n\r\nbody\r\n",
	  "550 5.7.1 From header address <boss@bank.test> not owned by user alice@example.test" },
	{ "From: alice@example.test\r\nFrom: b <boss@bank.test>\r\n\r\n",
	  "550 5.7.1 From header address <boss@bank.test> not owned by user alice@example.test" },
	{ "From: alice@example.test,\r\n boss@bank.test\r\n\r\n",
	  "550 5.7.1 From header address <boss@bank.test> not owned by user alice@example.test" },
	{ "From \t: boss@bank.test\r\n\r\n",
	  "550 5.7.1 From header address <boss@bank.test> not owned by user alice@example.test" },
	{ "From: <alice@example.test> boss@bank.test\r\n\r\n",
	  "550 5.7.1 From header cannot be checked (bad syntax)" },
	{ "From: x:;\r\n\r\n", "550 5.7.1 From header cannot be checked (no address)" },
};

static uint8_t body[40000];

static void
run_case(const struct from_case *t, const char *m, size_t n, size_t cut1, size_t cut2)
{
	struct session s;
	memset(&s, 0, sizeof s);
	s.auth_user = (char *)"alice@example.test";
	memcpy(s.addr, "127.0.0.1:1", sizeof "127.0.0.1:1");
	last_reply[0] = '\0';
	data_from_begin(&s);
	data_from_capture(&s, (const uint8_t *)m, cut1);
	data_from_capture(&s, (const uint8_t *)m + cut1, cut2 - cut1);
	data_from_capture(&s, (const uint8_t *)m + cut2, n - cut2);
	/* A long body after the header section: the capture must have
	 * stopped at the header's end, or this reads as a header too long. */
	if (strstr(t->msg, "\r\n\r\n") != NULL || strncmp(t->msg, "\r\n", 2) == 0)
		for (int i = 0; i < 4; i++)
			data_from_capture(&s, body, sizeof body);
	bool refused = data_from_refuse(&s);
	buf_free(&s.hdr);
	if (refused != (t->reply != NULL) || (refused && strcmp(last_reply, t->reply) != 0))
		fail_msg("cut %zu/%zu of '%s': refused=%d reply '%s'", cut1, cut2, t->msg, refused,
			 last_reply);
}

static void
test_split_everywhere(void **state)
{
	(void)state;
	memset(body, 'b', sizeof body);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t n = strlen(cases[i].msg);
		/* exactly sized, so that ASan sees an over-read */
		char *m = malloc(n);
		assert_non_null(m);
		memcpy(m, cases[i].msg, n);
		for (size_t a = 0; a <= n; a++)
			for (size_t b = a; b <= n; b++)
				run_case(&cases[i], m, n, a, b);
		free(m);
	}
}

static void
test_header_too_long(void **state)
{
	(void)state;
	struct session s;
	memset(&s, 0, sizeof s);
	s.auth_user = (char *)"alice@example.test";
	data_from_begin(&s);
	static const char line[] = "X-Filler: 0123456789012345678901234567890123456789\r\n";
	for (int i = 0; i < 3000; i++)
		data_from_capture(&s, (const uint8_t *)line, sizeof line - 1);
	data_from_capture(&s, (const uint8_t *)"\r\n", 2);
	assert_true(data_from_refuse(&s));
	assert_string_equal(last_reply,
			    "550 5.7.1 Header section longer than 102400 octets: From cannot be checked");
	buf_free(&s.hdr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_header_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
