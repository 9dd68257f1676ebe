/* parent.c - `postern serve` itself: the small parent process that
 * prepares everything that needs its privileges and then only
 * supervises (doc/architecture.md).
 *
 * Start-up, in this order, so that nothing listens unless everything is
 * fine: the config, the TLS key (gen_new), the credential store (opened
 * once to check it, then closed: only the auth process keeps it), the
 * spool (opened here, its folders given to `user`), the user, then the
 * ports.  Then it forks the auth process and one network process and
 * waits for signals and dead children on one poll() (signalfd): no event
 * loop, no session, no secret beyond the TLS key and the fake-salt key.
 *
 * Children: restarted with a back-off (PARENT_BACKOFF_MIN doubling to
 * PARENT_BACKOFF_MAX, reset when the child had lived PARENT_BACKOFF_MAX);
 * they die with the parent (PR_SET_PDEATHSIG).  SIGHUP: a new network
 * process with the new settings, the old one drains, the auth process
 * reloads.  SIGTERM/SIGINT: the network processes drain within
 * shutdown_grace, then the auth process stops, then we exit 0.
 */
#include "server/session.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/authd.h"
#include "sasl/sasl.h"
#include "deliver/local_rcpt.h"
#include "server/fdpass.h"
#include "server/runner.h"
#include "server/spool.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "util/log.h"
#include "util/str.h"

#define PARENT_BACKOFF_MIN 100		/* ms */
#define PARENT_BACKOFF_MAX 10000
/* Network processes at once: the current one and those draining after
 * reloads (each lives at most shutdown_grace + PARENT_KILL_AFTER). */
#define PARENT_NETS_MAX 16
/* Seconds past shutdown_grace before a child that does not stop is killed. */
#define PARENT_KILL_AFTER 5

struct child {
	pid_t pid;		/* 0: not running */
	int ctl;		/* our end of its control socketpair */
	bool draining;		/* told to stop (SIGTERM) */
	int64_t started, kill_at;	/* ms of the monotonic clock; kill_at 0: none */
};

struct parent {
	struct gen *gen;
	struct spool *spool;
	int spool_lock;			/* flock'ed SPOOL/lock (spool_lock.c), -1: none */
	int *lfds;
	size_t nlfds;
	bool drop;
	uid_t uid;
	gid_t gid;
	uint8_t key[AUTHD_SALT_KEY_LEN];
	int sfd;			/* signalfd */
	sigset_t sigs;
	struct child auth;
	struct child net[PARENT_NETS_MAX];
	struct child runner;		/* the queue runner (runner.h) */
	int ctl_fd;			/* its control socket, listening; -1: none */
	int64_t auth_due, net_due, runner_due;	/* restart times, 0: none */
	int64_t auth_backoff, net_backoff, runner_backoff;
	bool stopping;
};

/* The process's name in ps and top (/proc/PID/comm, at most 15
 * bytes): which postern process is which, for an administrator (and
 * for bench/, which pauses the runner as Postfix's hold queue holds). */
static void
proc_name(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

static int64_t
now_ms(void)
{
	struct timespec ts = { 0, 0 };
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct child *
parent_current_net(struct parent *p)
{
	for (size_t i = 0; i < PARENT_NETS_MAX; i++)
		if (p->net[i].pid > 0 && !p->net[i].draining)
			return &p->net[i];
	return NULL;
}

/* In a new child: signals back to normal, our descriptors closed, and
 * death with the parent.  Call after any setuid (it clears the flag). */
static void
child_setup(struct parent *p, pid_t parent_pid, int keep_ctl)
{
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	close(p->sfd);
	if (p->auth.ctl >= 0 && p->auth.ctl != keep_ctl)
		close(p->auth.ctl);
	if (p->ctl_fd >= 0 && p->ctl_fd != keep_ctl)
		close(p->ctl_fd);		/* the runner's alone */
	for (size_t i = 0; i < PARENT_NETS_MAX; i++)
		if (p->net[i].pid > 0 && p->net[i].ctl != keep_ctl)
			close(p->net[i].ctl);
}

static void
child_die_with_parent(pid_t parent_pid)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent_pid)
		_exit(1);
}

/* Hands a fresh auth connection to network process n. */
static void
parent_connect(struct parent *p, struct child *n)
{
	int sp[2];
	if (p->auth.pid <= 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	if (fdpass_send(p->auth.ctl, "A", sp[0]) < 0 || fdpass_send(n->ctl, "A", sp[1]) < 0)
		log_err("cannot hand a connection to the auth process: %s", strerror(errno));
	close(sp[0]);
	close(sp[1]);
}

static void
parent_start_auth(struct parent *p)
{
	int ctl[2];
	pid_t me = getpid();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
		log_err("auth process: socketpair: %s", strerror(errno));
		p->auth_due = now_ms() + p->auth_backoff;
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		child_setup(p, me, -1);
		child_die_with_parent(me);
		close(ctl[0]);
		for (size_t i = 0; i < p->nlfds; i++)
			close(p->lfds[i]);
		spool_free(&p->spool);
		close(p->spool_lock);		/* the spool is the network process's */
		const char *path = p->gen->cfg->path;
		log_init("postern proc=auth", p->gen->cfg->log_level, p->gen->cfg->log_syslog);
		proc_name("postern-auth");
		char *err = NULL;
		struct config *cfg = config_load(path, &err);
		gen_unref(&p->gen);	/* the TLS key is not ours */
		if (cfg == NULL) {
			log_err("auth: %s", err ? err : "cannot read the config");
			_exit(1);
		}
		_exit(authd_main(cfg, ctl[1], p->key));
	}
	close(ctl[1]);
	if (pid < 0) {
		close(ctl[0]);
		log_err("auth process: fork: %s", strerror(errno));
		p->auth_due = now_ms() + p->auth_backoff;
		return;
	}
	p->auth = (struct child){ .pid = pid, .ctl = ctl[0], .started = now_ms() };
	log_info("auth process %d started", (int)pid);
	for (size_t i = 0; i < PARENT_NETS_MAX; i++)
		if (p->net[i].pid > 0)
			parent_connect(p, &p->net[i]);
}

/* The network process's life after fork: drop, build, run, exit. */
static void
parent_net_child(struct parent *p, pid_t parent_pid, int ctl, int auth_fd)
{
	log_init("postern proc=net", p->gen->cfg->log_level, p->gen->cfg->log_syslog);
	proc_name("postern-net");
	char *err = NULL;
	if (p->drop && privdrop_to(p->uid, p->gid, &err) < 0) {
		log_err("%s", err ? err : "cannot drop privileges");
		_exit(1);
	}
	child_die_with_parent(parent_pid);
	struct server_fds fds = { .listen = p->lfds, .nlisten = p->nlfds, .auth = auth_fd, .ctl = ctl };
	struct server *srv = server_new(gen_ref(p->gen), p->spool, &fds, &err);
	if (srv == NULL) {
		log_err("%s", err ? err : "cannot start");
		_exit(1);
	}
	int rc = server_run(srv);
	server_free(&srv);
	_exit(rc);
}

static void
parent_start_net(struct parent *p)
{
	struct child *slot = NULL;
	for (size_t i = 0; i < PARENT_NETS_MAX && slot == NULL; i++)
		if (p->net[i].pid <= 0)
			slot = &p->net[i];
	int ctl[2], sp[2] = { -1, -1 };
	pid_t me = getpid();
	if (slot == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
		log_err("network process: no slot or socketpair");
		p->net_due = now_ms() + p->net_backoff;
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		sp[0] = sp[1] = -1;
	pid_t pid = fork();
	if (pid == 0) {
		child_setup(p, me, -1);
		close(ctl[0]);
		if (sp[0] >= 0)
			close(sp[0]);
		parent_net_child(p, me, ctl[1], sp[1]);
	}
	close(ctl[1]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (pid < 0) {
		close(ctl[0]);
		log_err("network process: fork: %s", strerror(errno));
		p->net_due = now_ms() + p->net_backoff;
	} else {
		*slot = (struct child){ .pid = pid, .ctl = ctl[0], .started = now_ms() };
		log_info("network process %d started", (int)pid);
		if (sp[0] >= 0 && p->auth.pid > 0 && fdpass_send(p->auth.ctl, "A", sp[0]) < 0)
			log_err("cannot hand a connection to the auth process: %s", strerror(errno));
	}
	if (sp[0] >= 0)
		close(sp[0]);
}

/* The queue runner's life after fork: its own spool handle (opened
 * before the drop: the path need not be reachable by `user`), drop,
 * run, exit.  The listeners are not its business. */
static void
parent_runner_child(struct parent *p, pid_t parent_pid)
{
	log_init("postern proc=runner", p->gen->cfg->log_level, p->gen->cfg->log_syslog);
	proc_name("postern-runner");
	for (size_t i = 0; i < p->nlfds; i++)
		close(p->lfds[i]);
	char *err = NULL;
	struct spool *sp = spool_open_second(p->gen->cfg->spool, p->spool_lock, &err);
	/* the lock stays with the parent and the network process: a runner
	 * still dying after a SIGKILLed parent must not keep the next
	 * server from starting */
	close(p->spool_lock);
	const struct config *cfg = p->gen->cfg;
	struct local_rcpt *map = NULL;	/* read as root: the file may be root's */
	if (sp == NULL ||
	    (cfg->local_recipients != NULL &&
	     (map = local_rcpt_load(cfg->local_recipients, cfg->dir, &err)) == NULL) ||
	    (p->drop && privdrop_to(p->uid, p->gid, &err) < 0)) {
		log_err("runner: %s", err ? err : "cannot start");
		_exit(1);
	}
	child_die_with_parent(parent_pid);
	_exit(runner_main(cfg, sp, map, p->ctl_fd));
}

/* Starts the queue runner; never two at once (each would deliver the
 * same recipients): a reload stops the old one first (parent_reload). */
static void
parent_start_runner(struct parent *p)
{
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		child_setup(p, me, p->ctl_fd);
		parent_runner_child(p, me);
	}
	if (pid < 0) {
		log_err("queue runner: fork: %s", strerror(errno));
		p->runner_due = now_ms() + p->runner_backoff;
		return;
	}
	p->runner = (struct child){ .pid = pid, .ctl = -1, .started = now_ms() };
	log_info("queue runner %d started", (int)pid);
}

/* SIGTERM to the runner: it finishes its deliveries in flight within
 * shutdown_grace; restart says whether a new one follows at once (a
 * reload) or not (the server stops). */
static void
parent_stop_runner(struct parent *p, bool restart)
{
	if (p->runner.pid <= 0 || p->runner.draining)
		return;
	p->runner.draining = true;
	p->runner.kill_at = now_ms() + ((int64_t)p->gen->cfg->shutdown_grace + PARENT_KILL_AFTER) * 1000;
	if (restart)
		p->runner_backoff = PARENT_BACKOFF_MIN;
	(void)kill(p->runner.pid, SIGTERM);
}

/* Tells a network process to stop accepting and drain: SIGTERM when
 * the server stops (idle sessions get 421), SIGUSR1 when a new network
 * process took over after a reload (its sessions go on to their end,
 * within shutdown_grace). */
static void
parent_drain(struct parent *p, struct child *n, int sig)
{
	n->draining = true;
	n->kill_at = now_ms() + ((int64_t)p->gen->cfg->shutdown_grace + PARENT_KILL_AFTER) * 1000;
	(void)kill(n->pid, sig);
}

static int64_t
backoff_next(int64_t cur, int64_t lived)
{
	if (lived >= PARENT_BACKOFF_MAX)
		return PARENT_BACKOFF_MIN;
	return cur * 2 > PARENT_BACKOFF_MAX ? PARENT_BACKOFF_MAX : cur * 2;
}

static void
parent_log_exit(const char *what, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warn("%s %d killed by signal %d", what, (int)pid, WTERMSIG(status));
	else
		log_info("%s %d exited with %d", what, (int)pid, WEXITSTATUS(status));
}

static void
parent_reap(struct parent *p)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int64_t now = now_ms();
		if (pid == p->runner.pid) {
			parent_log_exit("queue runner", pid, status);
			int64_t lived = now - p->runner.started;
			bool asked = p->runner.draining;
			p->runner = (struct child){ .pid = 0, .ctl = -1 };
			if (!p->stopping) {
				p->runner_due = now + (asked ? PARENT_BACKOFF_MIN : p->runner_backoff);
				if (!asked)
					p->runner_backoff = backoff_next(p->runner_backoff, lived);
			}
			continue;
		}
		if (pid == p->auth.pid) {
			parent_log_exit("auth process", pid, status);
			close(p->auth.ctl);
			int64_t lived = now - p->auth.started;
			p->auth = (struct child){ .pid = 0, .ctl = -1 };
			if (!p->stopping) {
				p->auth_due = now + p->auth_backoff;
				p->auth_backoff = backoff_next(p->auth_backoff, lived);
			}
			continue;
		}
		for (size_t i = 0; i < PARENT_NETS_MAX; i++) {
			struct child *n = &p->net[i];
			if (n->pid != pid)
				continue;
			parent_log_exit("network process", pid, status);
			close(n->ctl);
			bool was_current = !n->draining;
			int64_t lived = now - n->started;
			*n = (struct child){ .pid = 0, .ctl = -1 };
			if (was_current && !p->stopping) {
				p->net_due = now + p->net_backoff;
				p->net_backoff = backoff_next(p->net_backoff, lived);
			}
		}
	}
}

static void
parent_stop(struct parent *p, int sig)
{
	if (p->stopping)
		return;
	p->stopping = true;
	p->auth_due = p->net_due = p->runner_due = 0;
	log_info("signal %d: stopping the network processes and the queue runner", sig);
	parent_stop_runner(p, false);
	for (size_t i = 0; i < PARENT_NETS_MAX; i++)
		if (p->net[i].pid > 0 && !p->net[i].draining)
			parent_drain(p, &p->net[i], SIGTERM);
}

/* The mechanisms of auth_mechanisms that the store cannot complete are
 * left out of every EHLO (authd.c: the auth process's HELLO): say which
 * and why, on --check's output and in the start-up log, rather than let
 * an administrator wonder where SCRAM went.  Token mechanisms are left
 * to the token checker's own checks. */
static void
parent_report_mechs(const struct config *cfg, const struct store *st, bool check)
{
	for (size_t i = 0; i < cfg->nmechs; i++) {
		const struct sasl_mech *m = cfg->mechs[i];
		const char *why = store_why_not(st, sasl_mech_cred_kind(m));
		if (why == NULL || sasl_mech_uses_token(m))
			continue;
		if (check)
			printf("%s: auth_mechanisms: %s not offered: credentials '%s': %s\n", cfg->path,
			       sasl_mech_name(m), cfg->credentials, why);
		else
			log_warn("auth_mechanisms: %s not offered: credentials '%s': %s",
				 sasl_mech_name(m), cfg->credentials, why);
	}
}

static int parent_check_stores(const struct config *cfg, bool check, char **err_r);

/* SIGHUP: check everything the new config needs, as at start; on any
 * error the running processes go on unchanged. */
static void
parent_reload(struct parent *p)
{
	if (p->stopping)
		return;
	char *err = NULL;
	const struct config *old = p->gen->cfg;
	struct config *cfg = config_load(old->path, &err);
	struct gen *g = cfg ? gen_new(cfg, &err) : NULL;
	if (g != NULL && parent_check_stores(g->cfg, false, &err) < 0)
		gen_unref(&g);
	if (g == NULL) {
		log_err("reload failed, keeping the running config: %s", err ? err : "?");
		free(err);
		return;
	}
	bool same = g->cfg->nlisten == old->nlisten;
	for (size_t i = 0; same && i < old->nlisten; i++)
		same = strcmp(old->listen[i].text, g->cfg->listen[i].text) == 0 &&
		       old->listen[i].role == g->cfg->listen[i].role;
	if (!same) {
		/* The sockets are bound once, by us: the new process gets the
		 * old ones, with the old roles. */
		log_warn("reload: listen changes need a restart; keeping the old listeners");
		gen_unref(&g);
		return;
	}
	if (strcmp(old->spool, g->cfg->spool) != 0)
		log_warn("reload: spool changes need a restart; keeping %s", old->spool);
	log_set_level(g->cfg->log_level);
	gen_unref(&p->gen);
	p->gen = g;
	/* The new process first, then the old one lets go: connections
	 * arriving meanwhile wait in the listen queue for either, and the
	 * old one's sessions finish as they would have. */
	struct child *cur = parent_current_net(p);
	parent_start_net(p);
	if (cur != NULL)
		parent_drain(p, cur, SIGUSR1);
	if (p->auth.pid > 0)
		(void)kill(p->auth.pid, SIGHUP);
	parent_stop_runner(p, true);	/* restarted with the new config when it is gone */
	log_info("reloaded %s", g->cfg->path);
}

/* A byte from a child's control socket: 'R' from a network process
 * asks for a new auth process (it sent us garbage). */
static void
parent_ctl(struct parent *p, struct child *c)
{
	char tag;
	ssize_t n = read(c->ctl, &tag, 1);
	if (n == 1 && tag == 'R' && c != &p->auth && p->auth.pid > 0) {
		log_warn("network process %d asks for a new auth process", (int)c->pid);
		(void)kill(p->auth.pid, SIGKILL);
	}
}

/* Starts what is due, kills what overstayed; returns the poll timeout. */
static int
parent_timers(struct parent *p)
{
	int64_t now = now_ms(), next = -1;
	if (p->auth_due && now >= p->auth_due) {
		p->auth_due = 0;
		parent_start_auth(p);
	}
	if (p->net_due && now >= p->net_due) {
		p->net_due = 0;
		parent_start_net(p);
	}
	if (p->runner_due && now >= p->runner_due && p->runner.pid <= 0) {
		p->runner_due = 0;
		parent_start_runner(p);
	}
	if (p->runner.kill_at && now >= p->runner.kill_at) {
		log_warn("queue runner %d outlived the grace period: killing it", (int)p->runner.pid);
		(void)kill(p->runner.pid, SIGKILL);
		p->runner.kill_at = 0;
	}
	bool nets = false;
	for (size_t i = 0; i < PARENT_NETS_MAX; i++) {
		struct child *n = &p->net[i];
		if (n->pid <= 0)
			continue;
		nets = true;
		if (n->kill_at && now >= n->kill_at) {
			log_warn("network process %d outlived the grace period: killing it", (int)n->pid);
			(void)kill(n->pid, SIGKILL);
			n->kill_at = 0;
		}
		if (n->kill_at && (next < 0 || n->kill_at - now < next))
			next = n->kill_at - now;
	}
	if (p->stopping && !nets && p->auth.pid > 0 && !p->auth.draining) {
		p->auth.draining = true;
		p->auth.kill_at = now + (int64_t)PARENT_KILL_AFTER * 1000;
		(void)kill(p->auth.pid, SIGTERM);
	}
	if (p->auth.kill_at && now >= p->auth.kill_at) {
		(void)kill(p->auth.pid, SIGKILL);
		p->auth.kill_at = 0;
	}
	int64_t due[] = { p->auth_due, p->net_due, p->auth.kill_at, p->runner_due, p->runner.kill_at };
	for (size_t i = 0; i < sizeof due / sizeof *due; i++)
		if (due[i] && (next < 0 || due[i] - now < next))
			next = due[i] - now;
	return next < 0 ? -1 : (int)(next < 0 ? 0 : next) + 1;
}

static void
parent_loop(struct parent *p)
{
	for (;;) {
		int timeout = parent_timers(p);
		struct pollfd pf[PARENT_NETS_MAX + 2];
		struct child *who[PARENT_NETS_MAX + 2];
		size_t n = 0;
		pf[n] = (struct pollfd){ .fd = p->sfd, .events = POLLIN };
		who[n++] = NULL;
		if (p->auth.pid > 0) {
			pf[n] = (struct pollfd){ .fd = p->auth.ctl, .events = POLLIN };
			who[n++] = &p->auth;
		}
		for (size_t i = 0; i < PARENT_NETS_MAX; i++)
			if (p->net[i].pid > 0) {
				pf[n] = (struct pollfd){ .fd = p->net[i].ctl, .events = POLLIN };
				who[n++] = &p->net[i];
			}
		if (poll(pf, n, timeout) < 0 && errno != EINTR)
			log_err("poll: %s", strerror(errno));
		for (size_t i = 1; i < n; i++)
			if (pf[i].revents & POLLIN)
				parent_ctl(p, who[i]);
		struct signalfd_siginfo si;
		if ((pf[0].revents & POLLIN) && read(p->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGCHLD)
				parent_reap(p);
			else if (si.ssi_signo == SIGHUP)
				parent_reload(p);
			else
				parent_stop(p, (int)si.ssi_signo);
		}
		bool any = p->auth.pid > 0 || p->runner.pid > 0;
		for (size_t i = 0; i < PARENT_NETS_MAX; i++)
			any |= p->net[i].pid > 0;
		if (p->stopping && !any)
			break;
	}
}

/* chown of one spool entry to `user`; a missing one is fine (the spool
 * makes what it needs when it first writes it). */
static int
parent_give_one(const struct parent *p, const char *path, char **err_r)
{
	if (lchown(path, p->uid, p->gid) == 0 || errno == ENOENT)
		return 0;
	(void)!asprintf(err_r, "spool %s: chown to user %s: %s", path, p->gen->cfg->user,
			strerror(errno));
	return -1;
}

/* The spool belongs to `user`, who writes it (spool.h has the layout):
 * the folders, the state journal and the segments made before. */
static int
parent_give_spool(const struct parent *p, char **err_r)
{
	const char *dir = p->gen->cfg->spool;
	const char *sub[] = { "", "/tmp", "/queue", "/seg", "/msg", "/state" };
	char path[4096];
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
		int n = snprintf(path, sizeof path, "%s%s", dir, sub[i]);
		if (n < 0 || (size_t)n >= sizeof path) {
			(void)!asprintf(err_r, "spool %s: path too long", dir);
			return -1;
		}
		if (parent_give_one(p, path, err_r) < 0)
			return -1;
	}
	(void)snprintf(path, sizeof path, "%s/seg", dir);
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 0;
	while (d != NULL && rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int n = snprintf(path, sizeof path, "%s/seg/%s", dir, de->d_name);
		if (n > 0 && (size_t)n < sizeof path)
			rc = parent_give_one(p, path, err_r);
	}
	if (d != NULL)
		closedir(d);
	return rc;
}

/* The fake-salt key kept beside the credential store (sasl.h: unknown
 * users' SCRAM salts), made on the first start (store_fake_key_load) and
 * handed to every auth process, so that an unknown user's salt stays
 * the same across restarts as a real user's does; --check only reads it. */
static int
parent_fake_key(struct parent *p, const struct config *cfg, bool check, char **err_r)
{
	_Static_assert(sizeof p->key == STORE_FAKE_KEY_LEN, "fake-salt key length");
	char *path = store_fake_key_path(cfg->credentials, cfg->dir, err_r);
	if (path == NULL && *err_r == NULL) {
		/* No file store (pam:SERVICE): no backend can run SCRAM, the
		 * key is never used; a random one keeps the auth process's
		 * contract. */
		if (RAND_priv_bytes(p->key, sizeof p->key) == 1)
			return 0;
		*err_r = str_printf("fake-salt key: no random bytes");
		return -1;
	}
	if (path == NULL) {
		char *why = *err_r;
		*err_r = str_printf("fake-salt key: %s", why ? why : "out of memory");
		free(why);
		return -1;
	}
	int rc = store_fake_key_load(path, !check, p->key, err_r);
	free(path);
	return rc < 0 ? -1 : 0;
}

/* Locks the spool for the server's life, then opens it, which cleans
 * tmp/: one server per spool, so a second one never deletes the first
 * one's messages in progress (spool_lock.c).  The lock is the parent's
 * (and inherited by the network process): it lasts as long as the
 * server.  Returns 0, or -1 with *err_r malloc'd (naming the other
 * server's pid when it holds the lock). */
static int
parent_open_spool(struct parent *p, const char *dir, char **err_r)
{
	char *why = NULL;
	p->spool_lock = spool_lock(dir, &why);
	if (p->spool_lock < 0) {
		*err_r = why != NULL ? why : strdup("out of memory");
		return -1;
	}
	p->spool = spool_open(dir, p->spool_lock, &why);
	if (p->spool == NULL) {
		(void)!asprintf(err_r, "spool %s: %s", dir, why ? why : "cannot open");
		free(why);
		return -1;
	}
	return 0;
}

/* The stores the auth process will open, opened once to check them and
 * closed: the credential store, and the token verifier when oauth_* keys
 * ask for one (its JWKS file, secret file and URL).  0, or -1 with
 * *err_r malloc'd. */
static int
parent_check_stores(const struct config *cfg, bool check, char **err_r)
{
	char *why = NULL;
	struct store *st = store_open(cfg->credentials, cfg->dir, &why);
	if (st == NULL) {
		(void)!asprintf(err_r, "credentials %s: %s", cfg->credentials, why ? why : "cannot open");
		free(why);
		return -1;
	}
	parent_report_mechs(cfg, st, check);
	store_free(&st);
	if (authd_check_rcpt(cfg, err_r) < 0)
		return -1;
	if (!store_oauth_configured(&cfg->oauth))
		return 0;
	st = store_oauth_open(&cfg->oauth, cfg->path, err_r);
	store_free(&st);
	return *err_r != NULL ? -1 : 0;
}

/* Everything --check checks, then (unless check) the ports. */
static int
parent_prepare(struct parent *p, struct config *cfg, bool check, char **err_r)
{
	p->gen = gen_new(cfg, err_r);
	if (p->gen == NULL)
		return -1;
	cfg = p->gen->cfg;
	if (parent_check_stores(cfg, check, err_r) < 0)
		return -1;
	p->drop = geteuid() == 0;
	if (p->drop && privdrop_lookup(cfg, &p->uid, &p->gid, err_r) < 0)
		return -1;
	/* --check only looks at the spool and reads the key: the server it
	 * checks for holds the spool, and a first start makes the key. */
	if (parent_fake_key(p, cfg, check, err_r) < 0)
		return -1;
	if (check)
		return spool_check(cfg->spool, err_r);
	if (parent_open_spool(p, cfg->spool, err_r) < 0)
		return -1;
	if (p->drop && parent_give_spool(p, err_r) < 0)
		return -1;
	p->ctl_fd = runner_ctl_listen(cfg->control_socket, p->drop, p->uid, p->gid, err_r);
	if (p->ctl_fd < 0)
		return -1;
	p->lfds = listener_bind_all(cfg, err_r);
	if (p->lfds == NULL)
		return -1;
	p->nlfds = cfg->nlisten;
	return 0;
}

static void
parent_free(struct parent *p)
{
	for (size_t i = 0; p->lfds != NULL && i < p->nlfds; i++)
		close(p->lfds[i]);
	free(p->lfds);
	spool_free(&p->spool);
	if (p->ctl_fd >= 0) {
		close(p->ctl_fd);
		(void)unlink(p->gen->cfg->control_socket);	/* before the lock goes */
	}
	if (p->spool_lock >= 0)
		close(p->spool_lock);		/* the next server may start */
	gen_unref(&p->gen);
	if (p->sfd >= 0)
		close(p->sfd);
	OPENSSL_cleanse(p->key, sizeof p->key);
}

int
parent_run(struct config *cfg, bool check)
{
	struct parent p = { .sfd = -1, .spool_lock = -1, .auth = { .pid = 0, .ctl = -1 },
			    .runner = { .pid = 0, .ctl = -1 }, .ctl_fd = -1,
			    .auth_backoff = PARENT_BACKOFF_MIN, .net_backoff = PARENT_BACKOFF_MIN,
			    .runner_backoff = PARENT_BACKOFF_MIN };
	for (size_t i = 0; i < PARENT_NETS_MAX; i++)
		p.net[i].ctl = -1;
	char *err = NULL;
	if (!check)
		log_init("postern proc=parent", cfg->log_level, cfg->log_syslog);
	if (parent_prepare(&p, cfg, check, &err) < 0) {
		(void)fprintf(stderr, "postern: %s\n", err ? err : "cannot start");
		free(err);
		parent_free(&p);
		return 1;
	}
	if (check) {
		printf("%s: ok\n", p.gen->cfg->path);
		parent_free(&p);
		return 0;
	}
	if (!p.drop)
		log_info("not started as root: every process keeps uid %u (user '%s' is not used)",
			 (unsigned)geteuid(), p.gen->cfg->user);
	/* Dead children and signals arrive on one descriptor. */
	sigemptyset(&p.sigs);
	int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaddset(&p.sigs, sigs[i]);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || sigprocmask(SIG_BLOCK, &p.sigs, NULL) < 0 ||
	    (p.sfd = signalfd(-1, &p.sigs, SFD_CLOEXEC)) < 0) {
		(void)fprintf(stderr, "postern: signals: %s\n", strerror(errno));
		parent_free(&p);
		return 1;
	}
	parent_start_auth(&p);
	parent_start_net(&p);
	parent_start_runner(&p);
	parent_loop(&p);
	log_info("all processes stopped");
	parent_free(&p);
	return 0;
}
