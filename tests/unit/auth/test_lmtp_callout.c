/* test_lmtp_callout.c - local_delivery's lmtp forms as the RCPT check
 * reads them, and the callout's conversation against a scripted server
 * on a UNIX socket: 2xx known, 5xx unknown, 4xx / early close / garbage
 * / nobody listening all "cannot tell" (never known). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/lmtp_callout.h"

static void
test_parse(void **state)
{
	struct lmtp_target t;
	const char *why = NULL;
	assert_int_equal(lmtp_target_parse("lmtp:127.0.0.1:24", NULL, &t, &why), 1);
	assert_false(t.is_unix);
	assert_string_equal(t.host, "127.0.0.1");
	assert_string_equal(t.port, "24");
	assert_int_equal(lmtp_target_parse("lmtp:[::1]:2424", NULL, &t, &why), 1);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.port, "2424");
	assert_int_equal(lmtp_target_parse("lmtp:unix:run/lmtp", "/etc/postern", &t, &why), 1);
	assert_true(t.is_unix);
	assert_string_equal(t.path, "/etc/postern/run/lmtp");
	assert_int_equal(lmtp_target_parse("lmtp:unix:/var/run/lmtp", "/x", &t, &why), 1);
	assert_string_equal(t.path, "/var/run/lmtp");
	assert_int_equal(lmtp_target_parse("maildir:/var/mail/%u", NULL, &t, &why), 0);
	assert_int_equal(lmtp_target_parse(NULL, NULL, &t, &why), 0);
	assert_int_equal(lmtp_target_parse("lmtp:host", NULL, &t, &why), -1);
	assert_string_equal(why, "want lmtp:HOST:PORT or lmtp:unix:PATH");
	assert_int_equal(lmtp_target_parse("lmtp:host:2x4", NULL, &t, &why), -1);
	assert_string_equal(why, "bad port (want lmtp:HOST:PORT)");
	assert_int_equal(lmtp_target_parse("lmtp:unix:", NULL, &t, &why), -1);
	char longp[200];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	char spec[220];
	snprintf(spec, sizeof spec, "lmtp:unix:/%s", longp);
	assert_int_equal(lmtp_target_parse(spec, NULL, &t, &why), -1);
	assert_string_equal(why, "socket path too long");
}

/* A one-connection server in a child process: sends each of script's
 * replies after reading one line (the first before reading). */
static pid_t
serve(const char *path, const char *const *script, size_t n)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	unlink(path);
	assert_int_equal(bind(l, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(l, 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(l);
		return pid;
	}
	int c = accept(l, NULL, NULL);
	FILE *f = fdopen(c, "r");
	char line[600];
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && fgets(line, sizeof line, f) == NULL)
			_exit(1);
		if (script[i] == NULL)	/* hang up */
			_exit(0);
		(void)!write(c, script[i], strlen(script[i]));
	}
	while (fgets(line, sizeof line, f) != NULL)
		continue;
	_exit(0);
}

static void
run_with(const char *const *script, size_t n, enum auth_rcpt_verdict want, const char *why_part)
{
	char path[] = "/tmp/postern-lmtp-test-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	pid_t pid = script != NULL ? serve(path, script, n) : -1;
	if (script == NULL)
		unlink(path);
	struct lmtp_callout co = { .timeout_ms = 3000 };
	const char *why = NULL;
	char spec[64];
	snprintf(spec, sizeof spec, "lmtp:unix:%s", path);
	assert_int_equal(lmtp_target_parse(spec, NULL, &co.target, &why), 1);
	snprintf(co.helo, sizeof co.helo, "mail.example.test");
	snprintf(co.rcpt, sizeof co.rcpt, "carol@example.test");
	lmtp_callout_run(&co);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	unlink(path);
	if (strstr(co.why, why_part) == NULL)
		fail_msg("why=\"%s\", want \"%s\" in it", co.why, why_part);
	assert_int_equal(co.verdict, want);
}

static void
test_conversation(void **state)
{
	static const char *const ok[] = { "220 lmtp\r\n", "250-x\r\n250 PIPELINING\r\n",
					  "250 2.1.0 ok\r\n", "250 2.1.5 ok\r\n", "250 ok\r\n",
					  "221 bye\r\n" };
	run_with(ok, 6, AUTH_RCPT_KNOWN, "250 2.1.5 ok");
	static const char *const unknown[] = { "220 lmtp\r\n", "250 x\r\n", "250 ok\r\n",
					       "550 5.1.1 <carol@example.test> User doesn't exist\r\n",
					       "250 ok\r\n", "221 bye\r\n" };
	run_with(unknown, 6, AUTH_RCPT_UNKNOWN, "550 5.1.1 <carol@example.test> User doesn't exist");
	static const char *const temp[] = { "220 lmtp\r\n", "250 x\r\n", "250 ok\r\n",
					    "451 4.3.0 try later\r\n", NULL };
	run_with(temp, 5, AUTH_RCPT_TEMP, "451 4.3.0 try later");
	static const char *const busy[] = { "421 4.3.2 busy\r\n" };
	run_with(busy, 1, AUTH_RCPT_TEMP, "421 4.3.2 busy after the greeting");
	static const char *const hangup[] = { "220 lmtp\r\n", "250 x\r\n", NULL };
	run_with(hangup, 3, AUTH_RCPT_TEMP, "connection closed after MAIL FROM");
	static const char *const garbage[] = { "220 lmtp\r\n", "hello there\r\n" };
	run_with(garbage, 2, AUTH_RCPT_TEMP, "malformed reply after LHLO");
	run_with(NULL, 0, AUTH_RCPT_TEMP, "cannot connect");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_conversation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
