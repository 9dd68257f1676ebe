/* test_pick.c - the client's choice of SASL mechanism: `auth on` never
 * offers the password as a bearer token, even under TLS to a server
 * that offers only OAUTHBEARER/XOAUTH2; `auth xoauth2` uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/smtp_client.h"
#include "smtp/ehlo.h"

static void
test_pick_token_mechs(void **state)
{
	(void)state;
	struct smtp_ehlo caps;
	smtp_ehlo_init(&caps);
	static const char line[] = "AUTH XOAUTH2 OAUTHBEARER PLAIN";
	smtp_ehlo_parse_line(&caps, line, sizeof line - 1);
	struct smtp_client_opts o;
	memset(&o, 0, sizeof o);
	o.auth = SMTP_AUTH_AUTO;
	const char *names[8], *why;
	assert_int_equal(smtp_client_pick_mechs(&caps, true, &o, names, 8, &why), 1);
	assert_string_equal(names[0], "PLAIN");
	o.auth = SMTP_AUTH_MECH;
	o.auth_mech = "XOAUTH2";
	assert_int_equal(smtp_client_pick_mechs(&caps, true, &o, names, 8, &why), 1);
	assert_string_equal(names[0], "XOAUTH2");
	/* Only token mechanisms offered: nothing to try with a password. */
	smtp_ehlo_init(&caps);
	static const char only[] = "AUTH XOAUTH2 OAUTHBEARER";
	smtp_ehlo_parse_line(&caps, only, sizeof only - 1);
	o.auth = SMTP_AUTH_AUTO;
	assert_int_equal(smtp_client_pick_mechs(&caps, true, &o, names, 8, &why), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_token_mechs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
