/* test_route.c - route_of() per recipient (local, relay, MX, the destination
 * key, addresses never reinterpreted) and the config setters' checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/route.h"

static void
conf(struct route_conf *rc, const char *relay, const char *local)
{
	char *err = NULL;
	route_conf_init(rc);
	rc->local_domains = "example.test, Other.Test";
	rc->helo_name = "mx.example.test";
	if (relay != NULL)
		assert_int_equal(route_set_relay_host(rc, relay, &err), 0);
	if (local != NULL)
		assert_int_equal(route_set_local_delivery(rc, local, "/etc/postern", &err), 0);
	assert_null(err);
}

static void
test_mx_by_default(void **state)
{
	struct route_conf rc;
	struct route r;
	struct route_error e;
	conf(&rc, NULL, "maildir:mail/%u");
	assert_int_equal(route_of(&rc, "Bob@Remote.EXAMPLE.", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_MX);
	assert_true(r.mx);
	assert_string_equal(r.domain, "remote.example");
	assert_string_equal(r.key, "mx:remote.example");
	/* a quoted '@' and '%' / '!' in the local part are not routes: the
	 * domain is after the last '@' */
	assert_int_equal(route_of(&rc, "\"a@other.test\"@remote.example", &r, &e), 0);
	assert_string_equal(r.key, "mx:remote.example");
	assert_int_equal(route_of(&rc, "a%other.test@remote.example", &r, &e), 0);
	assert_string_equal(r.key, "mx:remote.example");
	assert_int_equal(route_of(&rc, "other.test!a@remote.example", &r, &e), 0);
	assert_string_equal(r.key, "mx:remote.example");
	/* and the reverse: a local domain in the local part stays remote */
	assert_int_equal(route_of(&rc, "a%example.test@remote.example", &r, &e), 0);
	assert_false(r.local);
	route_conf_clear(&rc);
}

static void
test_local(void **state)
{
	struct route_conf rc;
	struct route r;
	struct route_error e;
	conf(&rc, "[smtp.example.net]:587", "maildir:mail/%u");
	assert_string_equal(rc.maildir, "/etc/postern/mail/%u");
	assert_int_equal(route_of(&rc, "alice@EXAMPLE.test", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_MAILDIR);
	assert_true(r.local);
	assert_string_equal(r.key, "maildir");
	assert_int_equal(route_of(&rc, "Postmaster", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_MAILDIR);
	assert_int_equal(route_set_local_delivery(&rc, "lmtp:unix:/run/lmtp", NULL, &(char *){ 0 }), 0);
	assert_int_equal(route_of(&rc, "bob@other.test", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_LMTP);
	assert_string_equal(r.key, "lmtp:unix:/run/lmtp");
	assert_int_equal(route_set_local_delivery(&rc, "lmtp:[::1]:24", NULL, &(char *){ 0 }), 0);
	assert_int_equal(route_of(&rc, "bob@other.test", &r, &e), 0);
	assert_string_equal(r.key, "lmtp:[::1]:24");
	route_conf_clear(&rc);
	/* no local_delivery: kept queued, not sent to the relay or the MX */
	conf(&rc, "[smtp.example.net]:587", NULL);
	assert_int_equal(route_of(&rc, "alice@example.test", &r, &e), -1);
	assert_true(e.temporary);
	assert_string_equal(e.enhanced, "4.3.5");
	route_conf_clear(&rc);
}

static void
test_relay(void **state)
{
	struct route_conf rc;
	struct route r;
	struct route_error e;
	conf(&rc, "[smtp.example.net]:587", NULL);
	assert_false(rc.relay_mx);
	assert_int_equal(rc.relay_port, 587);
	assert_int_equal(route_of(&rc, "x@remote.example", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_RELAY);
	assert_false(r.mx);
	assert_string_equal(r.key, "relay:[smtp.example.net]:587");
	/* even an address literal goes to the relay */
	assert_int_equal(route_of(&rc, "x@[192.0.2.1]", &r, &e), 0);
	assert_int_equal(r.kind, ROUTE_RELAY);
	route_conf_clear(&rc);
	conf(&rc, "Relay.Example.NET", NULL);
	assert_true(rc.relay_mx);
	assert_int_equal(rc.relay_port, 25);
	assert_int_equal(route_of(&rc, "x@remote.example", &r, &e), 0);
	assert_true(r.mx);
	assert_string_equal(r.domain, "relay.example.net");
	route_conf_clear(&rc);
	conf(&rc, "192.0.2.7:2525", NULL);	/* an IP has no MX: used as written */
	assert_false(rc.relay_mx);
	route_conf_clear(&rc);
}

static void
test_refused_addresses(void **state)
{
	struct route_conf rc;
	struct route r;
	struct route_error e;
	conf(&rc, NULL, NULL);
	assert_int_equal(route_of(&rc, "nodomain", &r, &e), -1);
	assert_false(e.temporary);
	assert_string_equal(e.enhanced, "5.1.3");
	assert_int_equal(route_of(&rc, "x@", &r, &e), -1);
	assert_int_equal(route_of(&rc, "x@[192.0.2.1]", &r, &e), -1);
	assert_string_equal(e.enhanced, "5.1.2");
	assert_int_equal(route_of(&rc, "x@bad_dom ain", &r, &e), -1);
	route_conf_clear(&rc);
}

static void
test_setters_refuse(void **state)
{
	struct route_conf rc;
	char *err = NULL;
	route_conf_init(&rc);
	static const char *const relays[] = { "", "[x", "[x]y", "a:b:c", "host:0", "host:65536",
					      "ho st", "[x]:", NULL };
	for (size_t i = 0; relays[i]; i++) {
		assert_int_equal(route_set_relay_host(&rc, relays[i], &err), -1);
		assert_non_null(err);
		free(err);
		err = NULL;
	}
	static const char *const locals[] = { "maildir:", "maildir:/m/%x", "lmtp:", "lmtp:host",
					      "lmtp:unix:", "mbox:/var/mail", NULL };
	for (size_t i = 0; locals[i]; i++) {
		assert_int_equal(route_set_local_delivery(&rc, locals[i], "/", &err), -1);
		assert_non_null(err);
		free(err);
		err = NULL;
	}
	assert_int_equal(route_set_relay_tls(&rc, "yes", &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(route_set_relay_tls(&rc, "opportunistic", &err), 0);
	assert_int_equal(rc.relay_tls, ROUTE_TLS_OPPORTUNISTIC);
	assert_int_equal(route_set_relay_credentials(&rc, "/nonexistent/creds", "/", &err), -1);
	assert_non_null(strstr(err, "/nonexistent/creds"));
	free(err);
	route_conf_clear(&rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_by_default),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_refused_addresses),
		cmocka_unit_test(test_setters_refuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
