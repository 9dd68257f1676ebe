/* transport_maildir.c - Maildir deliveries on a worker thread: the
 * writes and fsyncs of maildir_deliver() never run on the loop.  The
 * loop queues a job; the worker delivers each of its recipients in turn,
 * fills the results, and writes the job's pointer into a pipe that the
 * loop watches, which then finishes the job (transport.h). */
#include "deliver/transport_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver/maildir.h"
#include "server/spool.h"
#include "server/spool_reader.h"
#include "util/str.h"

struct md_read {
	struct spool_reader *rd;
	char *err;
};

static ssize_t
md_read(void *arg, void *buf, size_t size)
{
	struct md_read *m = arg;
	free(m->err);
	m->err = NULL;
	return spool_reader_read(m->rd, buf, size, &m->err);
}

/* The first local domain: the bare <Postmaster> has none. */
static void
first_domain(const char *list, char *out, size_t size)
{
	const char *p = list ? list + strspn(list, " ,\t") : "";
	size_t n = strcspn(p, " ,\t");
	(void)snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

/* One recipient, on the worker thread. */
static void
md_one(struct tr_job *j, size_t i)
{
	struct transport *t = j->t;
	const char *rcpt = j->rcpts[i];
	char local[256], domain[ROUTE_DOMAIN_MAX];
	long at = route_split(rcpt);
	if (at < 0) {
		(void)snprintf(local, sizeof local, "%s", rcpt);
		first_domain(t->rc->local_domains, domain, sizeof domain);
	} else {
		(void)snprintf(local, sizeof local, "%.*s", (int)at, rcpt);
		(void)snprintf(domain, sizeof domain, "%s", rcpt + at + 1);
	}
	const struct maildir_env env = {
		.local_part = local,
		.domain = domain,
		.sender = j->e->env.mail_from,
		.recipient = rcpt,
	};
	struct maildir_error me = { 0 };
	struct md_read m = { 0 };
	char *file = NULL, *dir = NULL, remote[300] = "maildir";
	char *err = NULL;
	if (maildir_expand(t->rc->maildir, &env, &dir, &me) == 0) {
		(void)snprintf(remote, sizeof remote, "maildir %s", dir);
		free(dir);
	}
	free(me.why);
	memset(&me, 0, sizeof me);
	m.rd = spool_reader_open(t->sp, j->e, &err);
	if (m.rd == NULL) {
		tr_result_set(&j->res[i], SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0,
			      err ? err : "out of memory", remote);
	} else if (maildir_deliver(t->rc->maildir, &env, md_read, &m, &file, &me) == 0) {
		char ok[400];
		(void)snprintf(ok, sizeof ok, "250 2.0.0 delivered to %s", file ? file : "Maildir");
		tr_result_set(&j->res[i], SMTP_CLASS_OK, SMTP_STAGE_DATA, 0, ok, remote);
	} else {
		char why[480];
		(void)snprintf(why, sizeof why, "%s %s %s", me.temporary ? "451" : "550",
			       me.enhanced ? me.enhanced : (me.temporary ? "4.3.0" : "5.0.0"),
			       m.err ? m.err : me.why ? me.why : "Maildir delivery failed");
		tr_result_set(&j->res[i], me.temporary ? SMTP_CLASS_TEMP : SMTP_CLASS_PERM,
			      m.err ? SMTP_STAGE_LOCAL : SMTP_STAGE_DATA, 0, why, remote);
	}
	j->res[i].code = 0;
	j->fin[i] = true;
	spool_reader_close(&m.rd);
	free(m.err);
	free(me.why);
	free(file);
	free(err);
}

static void *
md_worker(void *arg)
{
	struct transport *t = arg;
	for (;;) {
		(void)pthread_mutex_lock(&t->md_mu);
		while (t->md_n == 0 && !t->md_stop)
			(void)pthread_cond_wait(&t->md_cv, &t->md_mu);
		if (t->md_stop) {
			(void)pthread_mutex_unlock(&t->md_mu);
			return NULL;
		}
		struct tr_job *j = t->md_queue[0];
		memmove(t->md_queue, t->md_queue + 1, (t->md_n - 1) * sizeof(struct tr_job *));
		t->md_n--;
		(void)pthread_mutex_unlock(&t->md_mu);
		for (size_t i = 0; i < j->n; i++)
			md_one(j, i);
		/* a pointer is < PIPE_BUF: written whole or not at all */
		ssize_t w;
		do
			w = write(t->md_pipe[1], &j, sizeof(struct tr_job *));
		while (w < 0 && errno == EINTR);
	}
}

/* On the loop: jobs the worker finished. */
static void
md_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tr_job *j;
	(void)what;
	(void)arg;
	while (read(fd, &j, sizeof(struct tr_job *)) == (ssize_t)sizeof(struct tr_job *))
		tr_job_finish(j);
}

int
tr_maildir_init(struct transport *t, char **err_r)
{
	if (t->rc->local != ROUTE_LOCAL_MAILDIR)
		return 0;
	if (pipe2(t->md_pipe, O_CLOEXEC) < 0 || fcntl(t->md_pipe[0], F_SETFL, O_NONBLOCK) < 0) {
		*err_r = str_printf("pipe: %s", strerror(errno));
		return -1;
	}
	t->md_ev = event_new(t->base, t->md_pipe[0], EV_READ | EV_PERSIST, md_done_cb, t);
	if (t->md_ev == NULL || event_add(t->md_ev, NULL) < 0) {
		*err_r = strdup("out of memory");
		return -1;
	}
	(void)pthread_mutex_init(&t->md_mu, NULL);
	(void)pthread_cond_init(&t->md_cv, NULL);
	if (pthread_create(&t->md_thread, NULL, md_worker, t) != 0) {
		*err_r = strdup("cannot start the Maildir worker thread");
		return -1;
	}
	t->md_started = true;
	return 0;
}

void
tr_maildir_start(struct tr_job *j)
{
	struct transport *t = j->t;
	if (!t->md_started) {
		tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0,
				"451 4.3.5 local_delivery is not a Maildir", "");
		return;
	}
	(void)pthread_mutex_lock(&t->md_mu);
	if (t->md_n == t->md_cap) {
		size_t cap = t->md_cap ? t->md_cap * 2 : 16;
		struct tr_job **q = realloc(t->md_queue, cap * sizeof(struct tr_job *));
		if (q == NULL) {
			(void)pthread_mutex_unlock(&t->md_mu);
			tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0, "out of memory", "");
			return;
		}
		t->md_queue = q;
		t->md_cap = cap;
	}
	t->md_queue[t->md_n++] = j;
	(void)pthread_cond_signal(&t->md_cv);
	(void)pthread_mutex_unlock(&t->md_mu);
}

void
tr_maildir_stop(struct transport *t)
{
	if (t->md_started) {
		(void)pthread_mutex_lock(&t->md_mu);
		t->md_stop = true;
		(void)pthread_cond_signal(&t->md_cv);
		(void)pthread_mutex_unlock(&t->md_mu);
		(void)pthread_join(t->md_thread, NULL);
		(void)pthread_mutex_destroy(&t->md_mu);
		(void)pthread_cond_destroy(&t->md_cv);
		t->md_started = false;
	}
	if (t->md_ev)
		event_free(t->md_ev);
	t->md_ev = NULL;
	for (int i = 0; i < 2; i++)
		if (t->md_pipe[i] >= 0)
			close(t->md_pipe[i]);
	t->md_pipe[0] = t->md_pipe[1] = -1;
	free(t->md_queue);
	t->md_queue = NULL;
	t->md_n = t->md_cap = 0;
}
