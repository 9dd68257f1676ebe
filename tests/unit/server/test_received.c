/* test_received.c - the Received: header, exact bytes with CRLF, for
 * each RFC 3848 keyword, IPv4 and IPv6 clients, TLS details, one or
 * several recipients, and the date in the local zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/session.h"

/* Wed, 25 Nov 2026 07:15:02 UTC */
#define T0 ((time_t)1795590902)

struct fx {
	struct config cfg;
	struct session s;
	char *rcpts[2];
};

static void
fx_init(struct fx *f)
{
	memset(f, 0, sizeof *f);
	f->cfg.hostname = (char *)"mail.example.test";
	f->s.cfg = &f->cfg;
	memcpy(f->s.ip, "192.0.2.7", sizeof "192.0.2.7");
	f->s.helo = (char *)"client.example.org";
	f->s.esmtp = true;
	memcpy(f->s.queue_id, "0123456789abcdef0a1b", sizeof "0123456789abcdef0a1b");
	f->rcpts[0] = (char *)"bob@example.test";
	f->rcpts[1] = (char *)"carol@example.test";
	f->s.rcpts = f->rcpts;
	f->s.nrcpt = 1;
}

static void
check(const struct fx *f, time_t now, const char *want)
{
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(received_format(&f->s, now, &out), 0);
	assert_string_equal(buf_cstr(&out), want);
	assert_int_equal(out.len, strlen(want));
	buf_free(&out);
}

static int
utc(void **state)
{
	return setenv("TZ", "UTC0", 1) == 0 ? (tzset(), 0) : -1;
}

static void
test_esmtpsa(void **state)
{
	struct fx f;
	fx_init(&f);
	f.s.tls = true;
	f.s.tls_version = "TLSv1.3";
	f.s.tls_cipher = "TLS_AES_256_GCM_SHA384";
	f.s.auth_user = (char *)"alice@example.test";
	check(&f, T0,
	      "Received: from client.example.org ([192.0.2.7])\r\n"
	      "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
	      "\tby mail.example.test (postern) with ESMTPSA id 0123456789abcdef0a1b\r\n"
	      "\tfor <bob@example.test>; Wed, 25 Nov 2026 07:15:02 +0000\r\n");
}

static void
test_keywords(void **state)
{
	struct fx f;
	fx_init(&f);
	f.s.nrcpt = 2;	/* several recipients: none named (Bcc) */
	const char *tail = " id 0123456789abcdef0a1b; Wed, 25 Nov 2026 07:15:02 +0000\r\n";
	char want[512];
	/* ESMTP: EHLO, no TLS, no AUTH */
	(void)snprintf(want, sizeof want, "Received: from client.example.org ([192.0.2.7])\r\n"
		       "\tby mail.example.test (postern) with ESMTP%s", tail);
	check(&f, T0, want);
	/* ESMTPA: authenticated without TLS (plaintext_auth = always) */
	f.s.auth_user = (char *)"alice";
	(void)snprintf(want, sizeof want, "Received: from client.example.org ([192.0.2.7])\r\n"
		       "\tby mail.example.test (postern) with ESMTPA%s", tail);
	check(&f, T0, want);
	/* ESMTPS: TLS, no AUTH (MX role) */
	f.s.auth_user = NULL;
	f.s.tls = true;
	f.s.tls_version = "TLSv1.2";
	f.s.tls_cipher = "ECDHE-RSA-AES128-GCM-SHA256";
	(void)snprintf(want, sizeof want, "Received: from client.example.org ([192.0.2.7])\r\n"
		       "\t(using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256)\r\n"
		       "\tby mail.example.test (postern) with ESMTPS%s", tail);
	check(&f, T0, want);
	/* SMTP: HELO (RFC 3848 has no keyword for HELO + TLS) */
	f.s.tls = false;
	f.s.esmtp = false;
	(void)snprintf(want, sizeof want, "Received: from client.example.org ([192.0.2.7])\r\n"
		       "\tby mail.example.test (postern) with SMTP%s", tail);
	check(&f, T0, want);
}

static void
test_ipv6_literal_and_zone(void **state)
{
	struct fx f;
	fx_init(&f);
	memcpy(f.s.ip, "2001:db8::25", sizeof "2001:db8::25");
	/* RFC 5322 3.3: the zone offset of local time, here UTC+1 */
	assert_int_equal(setenv("TZ", "CET-1", 1), 0);
	tzset();
	check(&f, T0,
	      "Received: from client.example.org ([IPv6:2001:db8::25])\r\n"
	      "\tby mail.example.test (postern) with ESMTP id 0123456789abcdef0a1b\r\n"
	      "\tfor <bob@example.test>; Wed, 25 Nov 2026 08:15:02 +0100\r\n");
	utc(NULL);
}

static void
test_full_buffer(void **state)
{
	struct fx f;
	fx_init(&f);
	struct buf out;
	buf_init(&out, 40);	/* too small: an error, not a cut header */
	assert_int_equal(received_format(&f.s, T0, &out), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_esmtpsa),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_ipv6_literal_and_zone),
		cmocka_unit_test(test_full_buffer),
	};
	return cmocka_run_group_tests(tests, utc, NULL);
}
