/* outbox_cmd.c - `postern outbox [-C FILE] list | flush | delete ID`.
 *
 * flush sends the queued messages oldest first, over one connection per
 * account (messages are grouped by account in the order of their oldest
 * message), and removes each one only after the server's 250 to its
 * final dot.  A message the server refuses (4xx or 5xx) stays in the
 * outbox, and the reason is printed; when only some recipients got a
 * 4xx, the message stays for those recipients only.  The account is
 * looked up in -C FILE when given, else in the config file the message
 * was queued from, else in the default config file.
 *
 * Exit: 0 when everything was delivered (or there was nothing to do);
 * else EX_TEMPFAIL when every failure was temporary, or the code of the
 * last permanent failure (EX_UNAVAILABLE, EX_NOPERM, EX_CONFIG...).
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "client/config.h"
#include "client/outbox.h"
#include "client/message.h"
#include "client/smtp_client.h"
#include "util/str.h"

static const char *prog = "postern outbox";

/* The messages of one account, in queue order. */
struct group {
	const char *config;	/* borrowed from the first message, or -C */
	const char *account;
	size_t *idx;		/* into the flush's msgs; points into flush.order */
	size_t n;
};

struct flush {
	struct outbox *ob;
	const char *conf_opt;	/* -C FILE or NULL */
	struct outbox_msg *msgs;
	size_t nmsgs;
	struct group *groups;
	size_t ngroups;
	size_t *order;		/* message indices, group by group */
	int rc;			/* the exit code so far */
	/* the session running now */
	struct event_base *base;
	const struct group *g;
	size_t next;		/* next message of g to send */
	struct outbox_msg full;	/* the message in flight, with its body */
	struct smtp_msg cur;	/* the same for the session (it borrows it) */
	struct message_norm_src body;	/* its content, line ends made CRLF on the way */
	size_t delivered;
};

/* Keeps the worst exit code: a permanent failure beats a temporary one. */
static void
flush_fail(struct flush *f, int code)
{
	if (f->rc == 0 || f->rc == EX_TEMPFAIL)
		f->rc = code;
}

/* Sends the next message of the group, read afresh from its file: a
 * message deleted meanwhile (`outbox delete`) is skipped, and only one
 * message body is in memory at a time. */
static void
send_next(struct flush *f, struct smtp_client *c)
{
	char *err = NULL;
	outbox_msg_free(&f->full);
	while (f->next < f->g->n &&
	       outbox_read(f->ob, f->msgs[f->g->idx[f->next]].id, &f->full, &err) != 0) {
		(void)fprintf(stderr, "%s: %s; skipped\n", prog, err);
		free(err);
		err = NULL;
		f->next++;
	}
	if (f->next >= f->g->n) {
		smtp_client_quit(c);
		return;
	}
	const struct outbox_msg *m = &f->full;
	/* The session keeps a pointer to the smtp_msg until cbs.sent. */
	f->cur = (struct smtp_msg){ .from = m->from, .rcpts = (const char *const *)m->rcpts,
				    .nrcpts = m->nrcpts };
	/* Queued by `postern send`: CRLF already since issue 14, LF in
	 * older outboxes; the normaliser leaves the first as it is. */
	message_norm_measure(m->data, m->len, &f->cur.size, &f->cur.eightbit);
	message_norm_source(&f->body, m->data, m->len, &f->cur.body);
	if (smtp_client_send(c, &f->cur) != 0) {
		(void)fprintf(stderr, "%s: internal error: cannot send %s\n", prog, m->id);
		smtp_client_quit(c);
	}
}

static void
on_ready(void *arg, struct smtp_client *c)
{
	send_next(arg, c);
}

/* After a 250: forget the message, or keep it for the recipients that
 * got a 4xx (a 5xx recipient will never work: say so and drop it). */
static void
settle_delivered(struct flush *f, const struct outbox_msg *m, const struct smtp_send_result *res)
{
	const char **keep = calloc(res->nrcpts ? res->nrcpts : 1, sizeof *keep);
	size_t nkeep = 0;
	for (size_t i = 0; i < res->nrcpts; i++) {
		const struct smtp_rcpt_result *rr = &res->rcpts[i];
		if (rr->code / 100 == 2)
			continue;
		(void)fprintf(stderr, "%s: %s: recipient <%s> refused: %s\n", prog, m->id, rr->rcpt, rr->text);
		if (rr->code / 100 == 4 && keep != NULL)
			keep[nkeep++] = rr->rcpt;
		flush_fail(f, rr->code / 100 == 4 ? EX_TEMPFAIL : EX_UNAVAILABLE);
	}
	char *err = NULL;
	int rc = nkeep > 0 ? outbox_set_rcpts(f->ob, m, keep, nkeep, &err) : outbox_delete(f->ob, m->id, &err);
	free(keep);
	if (rc != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		flush_fail(f, EX_IOERR);
		return;
	}
	f->delivered++;
	printf("%s: delivered to %zu recipient(s)%s\n", m->id, res->naccepted,
	       nkeep ? "; kept for the others" : "");
}

/* Not taken: say why (the deciding reply, else every recipient's). */
static void
report_refused(struct flush *f, const struct outbox_msg *m, struct smtp_client *c,
	       const struct smtp_send_result *res)
{
	bool temp = res->code / 100 == 4;
	if (res->text[0] != '\0') {
		(void)fprintf(stderr, "%s: %s: not delivered by %s: %s\n", prog, m->id, smtp_client_peer(c),
			res->text);
	} else {
		/* No MAIL/DATA reply decided it: every RCPT was refused. */
		temp = res->nrcpts > 0;
		for (size_t i = 0; i < res->nrcpts; i++) {
			const struct smtp_rcpt_result *rr = &res->rcpts[i];
			(void)fprintf(stderr, "%s: %s: %s refused recipient <%s>: %s\n", prog, m->id,
				smtp_client_peer(c), rr->rcpt, rr->code ? rr->text : "not sent");
			temp = temp && rr->code / 100 == 4;
		}
	}
	(void)fprintf(stderr, "%s: %s: kept in the outbox\n", prog, m->id);
	flush_fail(f, temp ? EX_TEMPFAIL : EX_UNAVAILABLE);
}

static void
on_sent(void *arg, struct smtp_client *c, const struct smtp_send_result *res)
{
	struct flush *f = arg;
	const struct outbox_msg *m = &f->full;
	if (res->delivered) {
		settle_delivered(f, m, res);
	} else {
		report_refused(f, m, c, res);
	}
	f->next++;
	send_next(f, c);
}

static void
on_closed(void *arg, struct smtp_client *c, const struct smtp_client_error *err)
{
	struct flush *f = arg;
	if (err != NULL) {
		size_t left = f->g->n - f->next;
		(void)fprintf(stderr, "%s: account %s: %s; %zu message(s) kept in the outbox\n", prog,
			f->g->account, err->msg, left);
		flush_fail(f, smtp_client_error_sysexit(err));
	}
	event_base_loopexit(f->base, NULL);
}

static int
run_session(struct flush *f, const struct smtp_client_opts *o)
{
	static const struct smtp_client_cbs cbs = {
		.ready = on_ready, .sent = on_sent, .closed = on_closed,
	};
	f->base = event_base_new();
	struct smtp_client *c = f->base ? smtp_client_new(f->base, o, &cbs, f) : NULL;
	if (c == NULL) {
		if (f->base)
			event_base_free(f->base);
		(void)fprintf(stderr, "%s: out of memory\n", prog);
		return EX_OSERR;
	}
	smtp_client_start(c);
	event_base_dispatch(f->base);
	smtp_client_free(&c);
	event_base_free(f->base);
	f->base = NULL;
	return 0;
}

/* The config file for a group: -C, else the recorded one, else default. */
static int
group_account(struct flush *f, const struct group *g, struct client_config *cfg,
	      const struct client_account **acct_r)
{
	char *err = NULL, *tried = NULL;
	char *path = f->conf_opt ? strdup(f->conf_opt) : g->config ? strdup(g->config)
								  : client_config_default_path(&tried);
	if (path == NULL) {
		(void)fprintf(stderr, "%s: no configuration file (%s); use -C FILE\n", prog, tried ? tried : "?");
		free(tried);
		return EX_CONFIG;
	}
	int rc = client_config_load(cfg, path, &err);
	free(path);
	if (rc == 0 && (*acct_r = client_config_account(cfg, g->account, &err)) == NULL) {
		client_config_free(cfg);
		rc = -1;
	}
	if (rc != 0) {
		(void)fprintf(stderr, "%s: account %s: %s; %zu message(s) kept\n", prog, g->account, err, g->n);
		free(err);
		return EX_CONFIG;
	}
	return 0;
}

static void
flush_group(struct flush *f, const struct group *g)
{
	struct client_config cfg;
	const struct client_account *acct;
	int rc = group_account(f, g, &cfg, &acct);
	if (rc != 0) {
		flush_fail(f, rc);
		return;
	}
	char *pw = NULL, *err = NULL;
	struct smtp_client_opts o;
	if (client_account_opts(acct, &o, &pw, &err) != 0) {
		(void)fprintf(stderr, "%s: account %s: %s; %zu message(s) kept\n", prog, g->account,
			      err ? err : "no password", g->n);
		free(err);
		flush_fail(f, EX_CONFIG);
	} else {
		f->g = g;
		f->next = 0;
		rc = run_session(f, &o);
		if (rc != 0)
			flush_fail(f, rc);
	}
	str_wipe_free(&pw);
	client_config_free(&cfg);
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The group of message m, created when new; SIZE_MAX for a damaged one. */
static size_t
group_of(struct flush *f, const struct outbox_msg *m)
{
	if (m->account == NULL)
		return SIZE_MAX;	/* damaged: already reported */
	const char *conf = f->conf_opt ? f->conf_opt : m->config;
	for (size_t k = 0; k < f->ngroups; k++)
		if (strcmp(f->groups[k].account, m->account) == 0 && same(f->groups[k].config, conf))
			return k;
	f->groups[f->ngroups] = (struct group){ .config = conf, .account = m->account };
	return f->ngroups++;
}

/* Groups msgs by (config, account), in the order of each group's oldest.
 * All groups share one index array (f->order), so ownership stays in f. */
static int
make_groups(struct flush *f)
{
	size_t cap = f->nmsgs ? f->nmsgs : 1;
	f->groups = calloc(cap, sizeof *f->groups);
	f->order = calloc(cap, sizeof *f->order);
	size_t *gid = calloc(cap, sizeof *gid);
	if (f->groups == NULL || f->order == NULL || gid == NULL) {
		free(gid);
		return -1;
	}
	for (size_t i = 0; i < f->nmsgs; i++) {
		gid[i] = group_of(f, &f->msgs[i]);
		if (gid[i] != SIZE_MAX)
			f->groups[gid[i]].n++;
	}
	size_t pos = 0;
	for (size_t k = 0; k < f->ngroups; k++) {
		f->groups[k].idx = f->order + pos;
		pos += f->groups[k].n;
		f->groups[k].n = 0;
	}
	for (size_t i = 0; i < f->nmsgs; i++)
		if (gid[i] != SIZE_MAX) {
			struct group *g = &f->groups[gid[i]];
			g->idx[g->n++] = i;
		}
	free(gid);
	return 0;
}

static int
load_all(struct flush *f)
{
	char **ids, *err = NULL;
	size_t n;
	if (outbox_list(f->ob, &ids, &n, &err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_IOERR;
	}
	f->msgs = calloc(n ? n : 1, sizeof *f->msgs);
	if (f->msgs == NULL) {
		outbox_free_ids(&ids, n);
		return EX_OSERR;
	}
	f->nmsgs = n;
	for (size_t i = 0; i < n; i++) {
		if (outbox_read(f->ob, ids[i], &f->msgs[i], &err) != 0) {
			(void)fprintf(stderr, "%s: %s\n", prog, err);
			free(err);
			err = NULL;
			flush_fail(f, EX_DATAERR);
			continue;
		}
		/* Only the envelope is needed to group; send_next rereads. */
		OPENSSL_cleanse(f->msgs[i].data, f->msgs[i].len);
		free(f->msgs[i].data);
		f->msgs[i].data = NULL;
		f->msgs[i].len = 0;
	}
	outbox_free_ids(&ids, n);
	return 0;
}

static int
do_flush(struct outbox *ob, const char *conf_opt)
{
	char *err = NULL;
	int lk = outbox_lock(ob, &err);
	if (lk != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, lk == 1 ? "another flush is running" : err);
		free(err);
		return lk == 1 ? EX_TEMPFAIL : EX_IOERR;
	}
	struct flush f = { .ob = ob, .conf_opt = conf_opt };
	int rc = load_all(&f);
	if (rc == 0 && make_groups(&f) != 0)
		rc = EX_OSERR;
	for (size_t i = 0; rc == 0 && i < f.ngroups; i++)
		flush_group(&f, &f.groups[i]);
	if (rc == 0)
		printf("%zu of %zu message(s) delivered\n", f.delivered, f.nmsgs);
	free(f.order);
	free(f.groups);
	for (size_t i = 0; i < f.nmsgs; i++)
		outbox_msg_free(&f.msgs[i]);
	outbox_msg_free(&f.full);
	free(f.msgs);
	return rc != 0 ? rc : f.rc;
}

static void
list_one(struct outbox *ob, const char *id)
{
	struct outbox_msg m;
	char *err = NULL;
	if (outbox_read(ob, id, &m, &err) != 0) {
		printf("%s  DAMAGED: %s\n", id, err);
		free(err);
		return;
	}
	char when[32] = "?";
	struct tm tm;
	if (localtime_r(&m.queued, &tm) == NULL ||
	    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		(void)snprintf(when, sizeof when, "?");
	printf("%s  account=%s  from=<%s>  size=%zu  queued=%s\n    to:", id, m.account, m.from,
	       m.len, when);
	for (size_t i = 0; i < m.nrcpts; i++)
		printf(" <%s>", m.rcpts[i]);
	printf("\n");
	outbox_msg_free(&m);
}

static int
do_list(struct outbox *ob)
{
	char **ids, *err = NULL;
	size_t n;
	if (outbox_list(ob, &ids, &n, &err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_IOERR;
	}
	for (size_t i = 0; i < n; i++)
		list_one(ob, ids[i]);
	if (n == 0)
		printf("outbox %s is empty\n", outbox_dir(ob));
	outbox_free_ids(&ids, n);
	return 0;
}

static int
do_delete(struct outbox *ob, const char *id)
{
	char *err = NULL;
	if (outbox_delete(ob, id, &err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_NOINPUT;
	}
	printf("deleted %s\n", id);
	return 0;
}

static void
usage(FILE *f)
{
	(void)fprintf(f, "usage: postern outbox [-C FILE] list | flush | delete ID\n");
}

int
cmd_outbox(int argc, char **argv)
{
	const char *conf = NULL, *verb = NULL, *id = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (verb == NULL)
			verb = argv[i];
		else if (id == NULL)
			id = argv[i];
		else
			verb = "";	/* too many words */
	}
	bool ok = verb != NULL && ((strcmp(verb, "delete") == 0 && id != NULL) ||
				   ((strcmp(verb, "list") == 0 || strcmp(verb, "flush") == 0) && id == NULL));
	if (!ok) {
		usage(stderr);
		return EX_USAGE;
	}
	struct outbox *ob;
	char *err = NULL;
	if (outbox_open(&ob, NULL, &err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_CANTCREAT;
	}
	int rc = strcmp(verb, "list") == 0 ? do_list(ob)
		 : strcmp(verb, "flush") == 0 ? do_flush(ob, conf) : do_delete(ob, id);
	outbox_close(&ob);
	return rc;
}
