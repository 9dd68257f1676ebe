/* test_client_errors.c - failures are classified first (temporary or
 * permanent, and where), and `postern send`'s sysexits code is derived
 * from that: the table below is the contract doc/postern.8 and the
 * interop tests rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#include <cmocka.h>

#include "client/smtp_client.h"

struct exit_case {
	enum smtp_class cls;
	enum smtp_stage stage;
	enum smtp_client_fail kind;
	int code;
	int want;
};

static const struct exit_case exits[] = {
	{ SMTP_CLASS_TEMP, SMTP_STAGE_CONNECT, SMTP_FAIL_CONNECT, 0, EX_TEMPFAIL },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_MAIL, SMTP_FAIL_TIMEOUT, 0, EX_TEMPFAIL },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_GREETING, SMTP_FAIL_REPLY, 421, EX_TEMPFAIL },
	{ SMTP_CLASS_PERM, SMTP_STAGE_GREETING, SMTP_FAIL_REPLY, 554, EX_UNAVAILABLE },
	/* refused credentials: the one permanent failure with its own code */
	{ SMTP_CLASS_PERM, SMTP_STAGE_AUTH, SMTP_FAIL_AUTH, 535, EX_NOPERM },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_AUTH, SMTP_FAIL_AUTH_TEMP, 454, EX_TEMPFAIL },
	{ SMTP_CLASS_PERM, SMTP_STAGE_AUTH, SMTP_FAIL_NOAUTH, 0, EX_UNAVAILABLE },
	{ SMTP_CLASS_PERM, SMTP_STAGE_AUTH, SMTP_FAIL_INSECURE, 0, EX_UNAVAILABLE },
	/* TLS: temporary for the queue runner, a setup to fix for a person */
	{ SMTP_CLASS_TEMP, SMTP_STAGE_TLS, SMTP_FAIL_TLS, 0, EX_UNAVAILABLE },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_TLS, SMTP_FAIL_NOSTARTTLS, 0, EX_UNAVAILABLE },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_TLS, SMTP_FAIL_REPLY, 454, EX_TEMPFAIL },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_HELLO, SMTP_FAIL_PROTOCOL, 0, EX_PROTOCOL },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, SMTP_FAIL_INTERNAL, 0, EX_SOFTWARE },
	{ SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, SMTP_FAIL_SOURCE, 0, EX_IOERR },
};

static void
test_sysexit_from_class(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof exits / sizeof *exits; i++) {
		const struct exit_case *t = &exits[i];
		struct smtp_client_error e = { .cls = t->cls, .stage = t->stage, .kind = t->kind,
					       .code = t->code };
		assert_int_equal(smtp_client_error_sysexit(&e), t->want);
		assert_int_equal(smtp_client_error_is_temporary(&e), t->cls == SMTP_CLASS_TEMP);
	}
}

static void
test_class_of_code(void **state)
{
	(void)state;
	assert_int_equal(smtp_class_of_code(250), SMTP_CLASS_OK);
	assert_int_equal(smtp_class_of_code(354), SMTP_CLASS_OK);
	assert_int_equal(smtp_class_of_code(451), SMTP_CLASS_TEMP);
	assert_int_equal(smtp_class_of_code(552), SMTP_CLASS_PERM);
	/* a broken server's code is no reason to try again */
	assert_int_equal(smtp_class_of_code(0), SMTP_CLASS_PERM);
	assert_int_equal(smtp_class_of_code(999), SMTP_CLASS_PERM);
	assert_string_equal(smtp_stage_name(SMTP_STAGE_RCPT), "rcpt");
	assert_string_equal(smtp_class_name(SMTP_CLASS_TEMP), "temporary");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysexit_from_class),
		cmocka_unit_test(test_class_of_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
