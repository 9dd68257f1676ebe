/* test_auth.c - the AUTH glue (cmd_auth.c, authc.c) inside a real
 * server and session, and the auth process's side (src/auth) on the same
 * event loop, over socketpairs, with a fake credential store
 * whose answer each test chooses.  This is how the store-failure reply
 * is tested: the file store has no failure a test can provoke (a broken
 * or missing users file keeps the users loaded before), yet every
 * backend can fail, and RFC 4954 names the reply:
 *	454 4.7.0 Temporary authentication failure
 * Also: EHLO offers only what the store can complete, the other store
 * answers give 235 / 535, and the AUTH throttle is told of wrong
 * passwords only (a repeated password once), never of store trouble.,
 * and a lost auth process gives 454 at once,
 * then a new one takes over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/authd_impl.h"
#include "server/session.h"
#include "server/iptab.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "util/log.h"

/* ---- the fake store: answers with fake_status, knows passwords only ---- */

static enum sasl_cred_status fake_status;
static unsigned fake_asked;
static int fake_store_obj;

struct store *
store_open(const char *spec, const char *base_dir, char **err_r)
{
	return (struct store *)&fake_store_obj;
}

void
store_free(struct store **sp)
{
	*sp = NULL;
}

bool
store_supports(const struct store *st, enum sasl_cred_kind kind)
{
	return kind == SASL_CRED_PASSWORD;
}

struct store_job *
store_answer_begin(struct store *st, const struct sasl_cred_request *req,
		   struct sasl_cred_answer *answer_r)
{
	fake_asked++;
	memset(answer_r, 0, sizeof *answer_r);
	answer_r->status = fake_status;
	return NULL;	/* always cheap: no job for the workers */
}

void
store_job_run(struct store_job *j)
{
	abort();
}

void
store_job_end(struct store *st, struct store_job **jp, struct sasl_cred_answer *answer_r)
{
	abort();
}

void
store_job_free(struct store_job **jp)
{
	abort();
}

int
store_reload(struct store *st, char **err_r)
{
	return 0;
}

/* The RCPT check (auth_rcpt.c): one user, "alice". */
enum store_user
store_has_user(struct store *st, const char *name)
{
	return strcmp(name, "alice") == 0 ? STORE_USER_YES : STORE_USER_NO;
}

/* No oauth_* key in these tests: never opened. */
struct store *
store_oauth_open(const struct store_oauth_conf *c, const char *conf_file, char **err_r)
{
	abort();
}

char *
store_fake_key_path(const char *spec, const char *base_dir, char **err_r)
{
	*err_r = NULL;
	return strdup("fake.key");
}

int
store_fake_key_load(const char *path, bool create, uint8_t key_r[STORE_FAKE_KEY_LEN],
		    char **err_r)
{
	*err_r = NULL;
	memset(key_r, 0xfa, STORE_FAKE_KEY_LEN);
	return 0;
}

/* ---- a server and one client connection ---- */

struct fx {
	int lock;	/* the spool's lock (spool_lock.c) */
	char dir[64];
	struct server *srv;
	struct authd *d;
	int cfd;	/* the client's end */
	char in[8192];
	size_t inlen;
};

/* The auth side on the server's own loop, serving fd. */
static int
attach_authd(struct fx *f, const char *path, int fd)
{
	static const uint8_t key[AUTHD_SALT_KEY_LEN];
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	f->d = cfg ? authd_new(f->srv->base, cfg, key, &err) : NULL;
	if (f->d == NULL) {
		print_error("%s\n", err ? err : "?");
		return -1;
	}
	return authd_add_conn(f->d, fd);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	memcpy(f->dir, "/tmp/postern-auth-XXXXXX", sizeof "/tmp/postern-auth-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	char path[128];
	(void)snprintf(path, sizeof path, "%s/postern.conf", f->dir);
	FILE *c = fopen(path, "w");
	if (c == NULL)
		return -1;
	/* smtp role, no TLS: PLAIN allowed in clear by plaintext_auth. */
	(void)fputs("hostname = mail.example.test\n"
		    "listen = 127.0.0.1:2525 smtp\n"
		    "credentials = fake:\n"
		    "auth_mechanisms = SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\n"
		    "plaintext_auth = always\n"
		    "spool = spool\n"
		    "log_level = error\n", c);
	if (fclose(c) != 0)
		return -1;
	log_init("test_auth", LOG_LVL_ERR, false);
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	struct gen *g = cfg ? gen_new(cfg, &err) : NULL;
	f->lock = g ? spool_lock(g->cfg->spool, &err) : -1;
	struct spool *sp = f->lock >= 0 ? spool_open(g->cfg->spool, f->lock, &err) : NULL;
	int ap[2];
	if (sp == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, ap) < 0) {
		print_error("%s\n", err ? err : "?");
		return -1;
	}
	/* the network process's server, without listeners: the session
	 * gets its socket from the test */
	struct server_fds fds = { .nlisten = 0, .auth = ap[0], .ctl = -1 };
	f->srv = server_new(g, sp, &fds, &err);
	if (f->srv == NULL || attach_authd(f, path, ap[1]) < 0) {
		print_error("%s\n", err ? err : "?");
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	f->cfd = sv[1];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(40000) };
	inet_pton(AF_INET, "192.0.2.1", &sa.sin_addr);
	if (!iptab_acquire(f->srv->ips, "192.0.2.1", 10) ||
	    !session_accept(f->srv, sv[0], (struct sockaddr *)&sa, sizeof sa, ROLE_SMTP))
		return -1;
	fake_asked = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	close(f->cfd);
	authd_free(&f->d);
	server_free(&f->srv);
	char p[128];
	(void)snprintf(p, sizeof p, "%s/postern.conf", f->dir);
	(void)unlink(p);
	close(f->lock);
	const char *sub[] = { "spool/lock", "spool/tmp", "spool/queue", "spool" };
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
		(void)snprintf(p, sizeof p, "%s/%s", f->dir, sub[i]);
		(void)(i == 0 ? unlink(p) : rmdir(p));
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* Runs the server's loop until the client has a whole reply (the last
 * line "DDD text\r\n"); returns it, NUL-terminated.  Bounded: about
 * 10 s, enough for the longest failure delay. */
static const char *
reply(struct fx *f)
{
	f->inlen = 0;
	for (int round = 0; round < 1000; round++) {
		(void)event_base_loop(f->srv->base, EVLOOP_NONBLOCK);
		ssize_t n = recv(f->cfd, f->in + f->inlen, sizeof f->in - 1 - f->inlen, 0);
		if (n > 0) {
			f->inlen += (size_t)n;
			f->in[f->inlen] = '\0';
			/* the last line starts after the previous CRLF */
			const char *last = f->in;
			for (const char *p = f->in; (p = strstr(p, "\r\n")) != NULL && p[2]; p += 2)
				last = p + 2;
			if (f->inlen >= 6 && memcmp(f->in + f->inlen - 2, "\r\n", 2) == 0 &&
			    last[3] == ' ')
				return f->in;
			continue;
		}
		if (n == 0)
			break;
		struct pollfd pfd = { .fd = f->cfd, .events = POLLIN };
		(void)poll(&pfd, 1, 10);
	}
	f->in[f->inlen] = '\0';
	return f->in;
}

static const char *
cmd(struct fx *f, const char *line)
{
	size_t n = strlen(line);
	assert_int_equal(send(f->cfd, line, n, 0), (ssize_t)n);
	return reply(f);
}

/* "\0alice\0secret" */
#define PLAIN_IR "AGFsaWNlAHNlY3JldA=="

static void
greet(struct fx *f)
{
	assert_string_equal(reply(f), "220 mail.example.test ESMTP postern\r\n");
	const char *r = cmd(f, "EHLO client.example.test\r\n");
	/* Only what the store can complete: it verifies passwords, so no
	 * SCRAM and no CRAM-MD5 although auth_mechanisms lists them. */
	assert_non_null(strstr(r, "250-AUTH PLAIN LOGIN\r\n"));
}

/* What the throttle says now about 192.0.2.1 when its address limit
 * is ip_limit failures a day (not a minute: that window might end
 * between the failures and the question). */
static enum throttle_verdict
throttle_now(struct fx *f, unsigned ip_limit)
{
	struct throttle_limits l = f->d->cfg->throttle;
	struct throttle_ip ip;
	struct timespec ts;
	unsigned delay;
	l.ip_day = ip_limit;
	throttle_set_limits(f->d->throttle, &l);
	assert_int_equal(throttle_ip_parse("192.0.2.1", &ip), 0);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	uint64_t now = (uint64_t)ts.tv_sec * 1000u;
	enum throttle_verdict v = throttle_check(f->d->throttle, &ip, "alice", now, &delay, NULL);
	if (v != THROTTLE_REFUSE)
		throttle_cancel(f->d->throttle, &ip, "alice", now);	/* only asking */
	return v;
}

static void
test_store_failure_454(void **state)
{
	struct fx *f = *state;
	greet(f);
	fake_status = SASL_CRED_TEMPFAIL;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "454 4.7.0 Temporary authentication failure\r\n");
	assert_int_equal(fake_asked, 1);
	/* the session goes on: not authenticated, AUTH may be tried again */
	assert_string_equal(cmd(f, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
	fake_status = SASL_CRED_OK;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "235 2.7.0 Authentication successful\r\n");
	/* a backend failure is no guess: nothing counted for the address */
	assert_int_equal(throttle_now(f, 1), THROTTLE_ALLOW);
}

static void
test_store_failure_454_login(void **state)
{
	struct fx *f = *state;
	greet(f);
	fake_status = SASL_CRED_TEMPFAIL;
	assert_string_equal(cmd(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	assert_string_equal(cmd(f, "YWxpY2U=\r\n"), "334 UGFzc3dvcmQ6\r\n");
	assert_string_equal(cmd(f, "c2VjcmV0\r\n"), "454 4.7.0 Temporary authentication failure\r\n");
}

static void
test_wrong_and_unknown_535(void **state)
{
	struct fx *f = *state;
	greet(f);
	fake_status = SASL_CRED_BADPASS;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "535 5.7.8 Authentication credentials invalid\r\n");
	fake_status = SASL_CRED_NOUSER;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "535 5.7.8 Authentication credentials invalid\r\n");
	/* two failures, one password: counted once */
	assert_int_equal(throttle_now(f, 1), THROTTLE_DELAY);
	assert_int_equal(throttle_now(f, 2), THROTTLE_ALLOW);
	/* a mechanism the store cannot complete is not offered, so not accepted */
	assert_string_equal(cmd(f, "AUTH CRAM-MD5\r\n"),
			    "504 5.5.4 Unrecognized authentication type\r\n");
}

/* The auth process goes away in the middle of an exchange: the client
 * gets 454 at once (no hang), AUTH gets 454 while there is none, and a
 * new one takes over through the same path the parent uses. */
static void
test_auth_process_lost_454(void **state)
{
	struct fx *f = *state;
	greet(f);
	fake_status = SASL_CRED_OK;
	assert_string_equal(cmd(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	authd_free(&f->d);	/* closes its end */
	assert_string_equal(reply(f), "454 4.7.0 Temporary authentication failure\r\n");
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "454 4.7.0 Temporary authentication failure\r\n");
	int ap[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ap), 0);
	char path[128];
	(void)snprintf(path, sizeof path, "%s/postern.conf", f->dir);
	assert_int_equal(authc_attach(f->srv, ap[0]), 0);
	assert_int_equal(attach_authd(f, path, ap[1]), 0);
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "235 2.7.0 Authentication successful\r\n");
}

/* A password the store knows to be right (its login cache answers at
 * once) is no guess: it passes even when the throttle refuses this
 * address and user, so that the owner is never locked out by counts. */
static void
test_right_password_skips_throttle(void **state)
{
	struct fx *f = *state;
	greet(f);
	struct throttle_limits l = f->d->cfg->throttle;
	l.ip_minute = l.ip_day = l.user_minute = l.user_day = 1;
	l.delay_max_ms = 1;	/* over a limit: refuse, no delay first */
	throttle_set_limits(f->d->throttle, &l);
	fake_status = SASL_CRED_BADPASS;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "535 5.7.8 Authentication credentials invalid\r\n");
	/* another wrong one is refused without a check ... */
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "454 4.7.0 Temporary authentication failure, try again later\r\n");
	/* ... a right one is not */
	fake_status = SASL_CRED_OK;
	assert_string_equal(cmd(f, "AUTH PLAIN " PLAIN_IR "\r\n"),
			    "235 2.7.0 Authentication successful\r\n");
}

static bool
reading(const struct session *s)
{
	return (bufferevent_get_enabled(s->bev) & EV_READ) != 0;
}

/* Each state's row (session.c sess_states[]) alone decides whether the
 * session reads: no caller turns reading on or off by hand.  A session
 * waiting for the auth process reads on (what comes waits in its input;
 * switching reading off and on around each wait cost two epoll_ctl
 * calls) but answers nothing before the auth answer, reads the response
 * after the 334, and the output backpressure keeps reading off whatever
 * the row says. */
static void
test_state_rows_reading(void **state)
{
	struct fx *f = *state;
	greet(f);
	struct session *s = TAILQ_FIRST(&f->srv->sessions);
	assert_non_null(s);
	assert_int_equal(s->state, ST_CMD);
	assert_true(reading(s));
	/* a wrong password: the 535 waits for the failure delay (at least
	 * 500 ms, a timer); a NOOP sent meanwhile waits for it */
	fake_status = SASL_CRED_BADPASS;
	size_t n = strlen("AUTH PLAIN " PLAIN_IR "\r\n");
	assert_int_equal(send(f->cfd, "AUTH PLAIN " PLAIN_IR "\r\n", n, 0), (ssize_t)n);
	for (int round = 0; round < 1000 && s->state == ST_CMD; round++) {
		struct pollfd pfd = { .fd = f->cfd, .events = 0 };
		(void)poll(&pfd, 1, 1);
		(void)event_base_loop(f->srv->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(s->state, ST_AUTH_WAIT);
	assert_true(reading(s));
	assert_int_equal(send(f->cfd, "NOOP\r\n", 6, 0), 6);
	/* one write: the 535 and the NOOP's reply go out in the same pass */
	assert_string_equal(reply(f), "535 5.7.8 Authentication credentials invalid\r\n"
				      "250 2.0.0 Ok\r\n");
	assert_int_equal(s->state, ST_CMD);
	assert_true(reading(s));
	/* the response after a 334 is read */
	assert_string_equal(cmd(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	assert_int_equal(s->state, ST_AUTH);
	assert_true(reading(s));
	assert_string_equal(cmd(f, "*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
	assert_int_equal(s->state, ST_CMD);
	assert_true(reading(s));

	/* every row, in turn */
	static const bool reads[ST__COUNT] = {
		[ST_HANDSHAKE] = true, [ST_CMD] = true, [ST_AUTH] = true, [ST_AUTH_WAIT] = true,
		[ST_DATA] = true, [ST_COMMIT] = true, [ST_RCPT_WAIT] = true, [ST_CLOSING] = false,
	};
	for (int st = 0; st < ST__COUNT; st++) {
		sess_set_state(s, (enum sess_state)st);
		assert_int_equal(reading(s), reads[st]);
		sess_set_state(s, ST_CMD);
		assert_true(reading(s));
	}
	/* output full: a reading state does not turn reading back on */
	sess_set_state(s, ST_CLOSING);
	s->out_blocked = true;
	sess_set_state(s, ST_AUTH);
	assert_false(reading(s));
	s->out_blocked = false;
	sess_set_state(s, ST_CMD);
	assert_true(reading(s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_failure_454, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_454_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_and_unknown_535, setup, teardown),
		cmocka_unit_test_setup_teardown(test_right_password_skips_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_process_lost_454, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_rows_reading, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
