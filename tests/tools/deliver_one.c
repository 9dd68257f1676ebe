/* deliver_one - runs the transport (src/deliver/transport.c) once over a
 * spool, for tests/interop/test_transport.py (not installed): the routes
 * and transports against real peers before and beside the queue runner.
 *
 *	deliver_one CONFIG [ID...]
 *	deliver_one CONFIG -q [-n COUNT] [-u AUTHUSER] [-p AUTHPARAM] [-8] FROM RCPT... <MESSAGE
 *
 * Reads the server config CONFIG (its delivery keys and spool).  With
 * -q it first queues MESSAGE (CRLF line ends, as a server stores it)
 * COUNT times (default 1) for FROM ("" for <>) and the RCPTs, as the
 * server's commit pass would (taking the spool's lock: no server may
 * run on it), then delivers those.  It delivers every recipient still pending or deferred of the messages ID
 * (default: every message of the spool), grouped by route key, one
 * message at a time per key (so that the next message to a destination
 * takes the connection the previous one left idle).  It never writes the
 * spool.  One line per recipient, in the order the results come:
 *
 *	result ID RCPT class=ok|temporary|permanent stage=STAGE code=N
 *	  enh=X.Y.Z route=KIND key=KEY remote="..." tls="..." mech=M reused=yes|no
 *	  reply="..."
 *
 * (one line; wrapped here), then "connections N" (those still open when
 * every delivery is done) and "done". Exit status 0 when every delivery
 * ran (whatever its class), 1 on a setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver/route.h"
#include "deliver/transport.h"
#include "server/config.h"
#include "server/spool.h"

struct task {
	const struct spool_entry *e;
	struct route route;
	size_t *idx;
	size_t n;
	struct task *next_same;	/* next task of the same key */
};

static struct transport *tr;
static size_t running;

static void
print_result(const struct transport_result *r, const struct spool_entry *e)
{
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct transport_rcpt_result *x = &r->rcpts[i];
		printf("result %s %s class=%s stage=%s code=%d enh=%s route=%s key=%s remote=\"%s\" "
		       "tls=\"%s\" mech=%s reused=%s reply=\"%s\"\n",
		       r->id, e->env.rcpts[x->rcpt], smtp_class_name(x->cls), smtp_stage_name(x->stage),
		       x->code, x->enhanced[0] ? x->enhanced : "-", route_kind_name(r->route->kind),
		       r->route->key, x->remote, r->tls ? r->tls : "", r->auth_mech ? r->auth_mech : "-",
		       r->reused ? "yes" : "no", x->reply);
	}
	(void)fflush(stdout);
}

static void start(struct task *t);

static void
done(void *arg, const struct transport_result *r)
{
	struct task *t = arg;
	print_result(r, t->e);
	running--;
	if (t->next_same != NULL)
		start(t->next_same);
}

static void
start(struct task *t)
{
	if (transport_deliver(tr, t->e, t->idx, t->n, &t->route, done, t) < 0) {
		printf("error %s: transport_deliver refused\n", t->e->id);
		return;
	}
	running++;
}

static bool
wanted(const struct spool_entry *e, int argc, char **argv)
{
	if (argc <= 0)
		return true;
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], e->id) == 0)
			return true;
	return false;
}

/* -q: queues stdin count times; the new ids go into ids[0..count). */
struct put {
	const char *auth_user, *auth_param, *body;
	unsigned count;
};

static int
queue_message(const char *dir, const struct put *pu, const char *from, char **rcpts, size_t nrcpt,
	      char **ids, char **err_r)
{
	static uint8_t msg[8 << 20];
	size_t len = fread(msg, 1, sizeof msg, stdin);
	int lock = spool_lock(dir, err_r);
	struct spool *sp = lock >= 0 ? spool_open(dir, lock, err_r) : NULL;
	if (sp == NULL)
		return -1;
	const struct spool_envelope env = {
		.mail_from = from, .auth_param = pu->auth_param,
		.rcpts = (const char *const *)rcpts, .nrcpt = nrcpt, .body = pu->body,
		.auth_user = pu->auth_user, .auth_mech = pu->auth_user ? "PLAIN" : NULL,
		.client_addr = "127.0.0.1:1", .helo = "deliver-one", .arrival = time(NULL),
	};
	for (unsigned i = 0; i < pu->count; i++) {
		char id[SPOOL_ID_MAX];
		const char *why = NULL, *e2 = NULL;
		struct spool_msg *m = spool_msg_new(sp, id, &e2);
		if (m == NULL || spool_msg_write(m, msg, len) < 0 || spool_msg_close(m, &env, &e2) < 0 ||
		    spool_publish(sp, &m, 1, &why, &e2) < 0 || why != NULL) {
			*err_r = strdup(e2 ? e2 : why ? why : "cannot queue");
			return -1;
		}
		ids[i] = strdup(id);
	}
	spool_free(&sp);
	close(lock);
	return 0;
}

/* Tasks: one per (message, route key); chained per key in spool order. */
static size_t
plan(const struct config *cfg, struct spool_entry *v, size_t nv, int argc, char **argv,
     struct task **tasks_r)
{
	struct task *tasks = calloc(nv * 8 + 1, sizeof *tasks);
	size_t nt = 0;
	for (size_t m = 0; m < nv && tasks != NULL; m++) {
		const struct spool_entry *e = &v[m];
		if (e->torn || !wanted(e, argc, argv))
			continue;
		for (size_t i = 0; i < e->env.nrcpt; i++) {
			char st = e->rcpt[i].state;
			if (st != SPOOL_PENDING && st != SPOOL_DEFERRED)
				continue;
			struct route r;
			struct route_error re;
			if (route_of(&cfg->route, e->env.rcpts[i], &r, &re) < 0) {
				printf("result %s %s class=%s stage=route code=0 enh=%s route=- key=- "
				       "remote=\"\" tls=\"\" mech=- reused=no reply=\"%s\"\n",
				       e->id, e->env.rcpts[i], re.temporary ? "temporary" : "permanent",
				       re.enhanced, re.why);
				continue;
			}
			struct task *t = NULL;
			for (size_t k = 0; k < nt && t == NULL; k++)
				if (tasks[k].e == e && strcmp(tasks[k].route.key, r.key) == 0)
					t = &tasks[k];
			if (t == NULL && nt < nv * 8) {
				t = &tasks[nt++];
				t->e = e;
				t->route = r;
				t->idx = calloc(e->env.nrcpt, sizeof *t->idx);
			}
			if (t != NULL && t->idx != NULL)
				t->idx[t->n++] = i;
		}
	}
	*tasks_r = tasks;
	return nt;
}

int
main(int argc, char **argv)
{
	char *err = NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: deliver_one CONFIG [ID...]\n");
		return 1;
	}
	struct config *cfg = config_load_for(argv[1], CONFIG_NEED_SPOOL, &err);
	struct put pu = { .body = "7BIT", .count = 1 };
	char **ids = NULL;
	int nids = argc - 2, opt;
	char **idv = argv + 2;
	if (argc > 2 && strcmp(argv[2], "-q") == 0) {
		optind = 3;
		while ((opt = getopt(argc, argv, "n:u:p:8")) != -1) {
			if (opt == 'n')
				pu.count = (unsigned)strtoul(optarg, NULL, 10);
			else if (opt == 'u')
				pu.auth_user = optarg;
			else if (opt == 'p')
				pu.auth_param = optarg;
			else if (opt == '8')
				pu.body = "8BITMIME";
			else
				return 1;
		}
		ids = calloc(pu.count + 1, sizeof *ids);
		if (cfg == NULL || ids == NULL || argc - optind < 2 ||
		    queue_message(cfg->spool, &pu, argv[optind], argv + optind + 1,
				  (size_t)(argc - optind - 1), ids, &err) < 0) {
			fprintf(stderr, "deliver_one: -q: %s\n", err ? err : "usage");
			return 1;
		}
		idv = ids;
		nids = (int)pu.count;
	}
	struct spool *sp = cfg ? spool_open_existing(cfg->spool, &err) : NULL;
	struct event_base *base = event_base_new();
	tr = sp && base ? transport_new(base, &cfg->route, sp, &err) : NULL;
	struct spool_entry *v = NULL;
	long nv = tr ? spool_list(sp, &v, &err) : -1;
	if (nv < 0) {
		fprintf(stderr, "deliver_one: %s\n", err ? err : "setup failed");
		return 1;
	}
	struct task *tasks = NULL;
	size_t nt = plan(cfg, v, (size_t)nv, nids, idv, &tasks);
	/* the first task of each key starts now; the others follow it */
	for (size_t i = 0; i < nt; i++) {
		bool first = true;
		for (size_t k = 0; k < i && first; k++)
			first = strcmp(tasks[k].route.key, tasks[i].route.key) != 0;
		for (size_t k = i + 1; k < nt; k++)
			if (strcmp(tasks[k].route.key, tasks[i].route.key) == 0) {
				tasks[i].next_same = &tasks[k];
				break;
			}
		if (first)
			start(&tasks[i]);
	}
	while (running > 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	printf("connections %zu\ndone\n", transport_connections(tr));
	(void)fflush(stdout);
	transport_close_idle(tr);
	/* let the QUITs go out */
	struct timeval tv = { 1, 0 };
	(void)event_base_loopexit(base, &tv);
	(void)event_base_dispatch(base);
	transport_free(&tr);
	for (size_t i = 0; i < nt; i++)
		free(tasks[i].idx);
	free(tasks);
	spool_entries_free(v, (size_t)nv);
	spool_free(&sp);
	event_base_free(base);
	config_free(&cfg);
	for (unsigned i = 0; ids != NULL && i < pu.count; i++)
		free(ids[i]);
	free(ids);
	return 0;
}
