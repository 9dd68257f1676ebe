/* fuzz_server_session.c - a whole `postern serve` session (the command
 * line reader and parser, the gates, MAIL/RCPT paths and parameters,
 * DATA and its end-of-data scanner, AUTH with every mechanism, RSET,
 * pipelining) fed arbitrary bytes over a socketpair, without a network.
 *
 * The first input byte chooses the mode: even = the bytes go straight
 * to a new session; odd = the session first completes AUTH PLAIN as
 * the toy user, so the fuzz bytes reach what only an authenticated
 * client can (relaying, the transaction after AUTH).  AUTH is relayed
 * to the auth process's code, run on the same event loop over a
 * socketpair (as tests/unit/server/test_auth.c does), with a toy
 * credential store (user "user", password "pencil"); the spool lives in
 * a RAM folder (scripts/fuzz.sh's, else /dev/shm) so that fsync is cheap.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/authd_impl.h"
#include "server/session.h"
#include "store/store.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the toy store ---- */

static int toy_store_obj;

struct store *
store_open(const char *spec, const char *base_dir, char **err_r)
{
	return (struct store *)&toy_store_obj;
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

/* Always cheap: the toy store answers at once, no job for the workers. */
struct store_job *
store_answer_begin(struct store *st, const struct sasl_cred_request *req,
		   struct sasl_cred_answer *a)
{
	memset(a, 0, sizeof *a);
	bool ok = strcmp(req->authcid, "user") == 0 && req->password_len == 6 &&
		  memcmp(req->password, "pencil", 6) == 0;
	a->status = ok ? SASL_CRED_OK : SASL_CRED_BADPASS;
	return NULL;
}

void
store_job_run(struct store_job *j)
{
	abort();
}

void
store_job_end(struct store *st, struct store_job **jp, struct sasl_cred_answer *a)
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

/* ---- one server for the whole run ---- */

static struct server *srv;
static struct authd *authd;
static char spool_top[256];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) == 0 ? 0 : 0;
}

/* The RAM folder goes when the fuzzer exits. */
static void
cleanup(void)
{
	(void)nftw(spool_top, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void
setup_once(void)
{
	if (fuzz_tmpdir(spool_top, sizeof spool_top) == NULL)
		abort();
	(void)atexit(cleanup);
	char path[128];
	(void)snprintf(path, sizeof path, "%s/postern.conf", spool_top);
	FILE *c = fopen(path, "w");
	if (c == NULL)
		abort();
	(void)fputs("hostname = mail.example.test\n"
		    "listen = 127.0.0.1:2525 smtp\n"
		    "credentials = toy:\n"
		    "auth_mechanisms = PLAIN LOGIN\n"
		    "plaintext_auth = always\n"
		    "local_domains = example.test\n"
		    "max_message_size = 65536\n"
		    /* every input comes from one address: let the throttle
		     * count, but not refuse the fuzzer's AUTH for good */
		    "auth_fail_limit_ip = 100000\nauth_fail_limit_ip_day = 100000\n"
		    "auth_fail_limit_subnet = 100000\nauth_fail_limit_subnet_day = 100000\n"
		    "auth_fail_limit_network = 100000\nauth_fail_limit_network_day = 100000\n"
		    "auth_fail_limit_user = 100000\nauth_fail_limit_user_day = 100000\n"
		    "auth_distinct_users_subnet = 100000\n"
		    "spool = spool\n"
		    "log_level = error\n", c);
	if (fclose(c) != 0)
		abort();
	log_init("fuzz", LOG_LVL_ERR, false);
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	struct gen *g = cfg != NULL ? gen_new(cfg, &err) : NULL;
	char spool[300];
	(void)snprintf(spool, sizeof spool, "%s/spool", spool_top);
	int lock = g != NULL ? spool_lock(spool, &err) : -1;	/* kept for the run */
	struct spool *sp = lock >= 0 ? spool_open(spool, lock, &err) : NULL;
	int ap[2];
	if (sp == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, ap) < 0)
		goto fail;
	/* The network process's server without listeners, and the auth
	 * process's side on the same loop. */
	struct server_fds fds = { .nlisten = 0, .auth = ap[0], .ctl = -1 };
	srv = server_new(g, sp, &fds, &err);
	static const uint8_t key[AUTHD_SALT_KEY_LEN];
	struct config *acfg = srv != NULL ? config_load(path, &err) : NULL;
	authd = acfg != NULL ? authd_new(srv->base, acfg, key, &err) : NULL;
	if (authd == NULL || authd_add_conn(authd, ap[1]) < 0)
		goto fail;
	/* the auth side's HELLO (its mechanisms) reaches the server */
	for (int i = 0; i < 8; i++)
		(void)event_base_loop(srv->base, EVLOOP_NONBLOCK);
	return;
fail:
	fprintf(stderr, "fuzz_server_session: %s\n", err != NULL ? err : "?");
	abort();
}

/* Runs the loop a bounded number of passes, reading (and dropping)
 * what the server writes so that it never blocks on a full socket. */
static void
pump(int cfd, unsigned passes)
{
	char sink[16384];
	for (unsigned i = 0; i < passes; i++) {
		(void)event_base_loop(srv->base, EVLOOP_NONBLOCK);
		while (recv(cfd, sink, sizeof sink, MSG_DONTWAIT) > 0)
			;
	}
}

/* "\0user\0pencil" */
static const char auth_prefix[] = "EHLO fuzz.example.test\r\nAUTH PLAIN AHVzZXIAcGVuY2ls\r\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (srv == NULL)
		setup_once();
	struct fuzz_in in = { data, size };
	bool authed = fuzz_take_byte(&in) & 1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(40000) };
	(void)inet_pton(AF_INET, "192.0.2.1", &sa.sin_addr);
	if (!iptab_acquire(srv->ips, "192.0.2.1", 1000000) ||
	    !session_accept(srv, sv[0], (struct sockaddr *)&sa, sizeof sa, ROLE_SMTP)) {
		close(sv[1]);
		return 0;
	}
	if (authed) {
		(void)send(sv[1], auth_prefix, sizeof auth_prefix - 1, MSG_NOSIGNAL);
		pump(sv[1], 8);
	}
	/* The fuzz bytes in pieces, the loop running between them. */
	while (in.n > 0) {
		ssize_t w = send(sv[1], in.p, in.n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0) {
			pump(sv[1], 1);
			w = send(sv[1], in.p, in.n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w <= 0)
				break;
		}
		in.p += w;
		in.n -= (size_t)w;
		pump(sv[1], 2);
	}
	pump(sv[1], 4);
	close(sv[1]);
	pump(sv[1], 4);
	/* Sessions parked on a timer (the AUTH failure delay) do not see
	 * the close: hand them to the server's reaper, as a shutdown does,
	 * so they are freed outside their callbacks (STYLE.md 17). */
	for (int round = 0; round < 16 && !TAILQ_EMPTY(&srv->sessions); round++) {
		struct session *s, *t;
		TAILQ_FOREACH_SAFE(s, &srv->sessions, link, t)
			server_bury(srv, s);
		pump(-1, 2);
	}
	FUZZ_CHECK(TAILQ_EMPTY(&srv->sessions) && TAILQ_EMPTY(&srv->dead));
	return 0;
}
