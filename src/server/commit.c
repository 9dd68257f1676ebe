/* commit.c - group commit, with the flush off the event loop.
 *
 * Once per loop iteration the pass (commit_run) writes the frames of
 * every message whose DATA ended into the spool's segment, then hands
 * the flush (fdatasync) to the flusher thread and goes on serving the
 * other sessions; the sessions of the pass wait on srv->flushing.  When
 * the flush returns, the thread wakes the loop through a pipe
 * (flush_done), and every session of that flush gets its 250, or its
 * 451 when the flush failed (STYLE.md 20: 250 only once durable).
 * Passes that end while a flush runs wait together on srv->flush_next:
 * one flush covers all of them when the running one is over, so the
 * disk is never idle while mail waits and the loop never waits for the
 * disk.  A message that could not be written gets its 451/452 at once,
 * alone.
 */
#include "server/session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/spool.h"
#include "util/log.h"

struct flusher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct spool_flush job;	/* the flush the thread runs (under mu) */
	bool queued;		/* job handed over, not yet run (under mu) */
	bool stop;		/* under mu */
	bool busy;		/* loop's view: a job is out (queued or running) */
	bool thread_up;
	int wake[2];		/* the thread writes a byte when a job is done */
	struct event *wake_ev;
};

static void *
flusher_main(void *arg)
{
	struct flusher *f = arg;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->queued && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		if (!f->queued)
			break;
		struct spool_flush job = f->job;
		pthread_mutex_unlock(&f->mu);
		spool_flush_run(&job);
		pthread_mutex_lock(&f->mu);
		f->job = job;
		f->queued = false;
		/* A full pipe wakes the loop already: EAGAIN is fine. */
		char b = 0;
		(void)!write(f->wake[1], &b, 1);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Hands srv->fl_next and the sessions waiting on it to the thread,
 * when it is idle and there is something to flush. */
static void
flush_start(struct server *srv)
{
	struct flusher *f = srv->flusher;
	if (f->busy || TAILQ_EMPTY(&srv->flush_next))
		return;
	struct session *s;
	TAILQ_CONCAT(&srv->flushing, &srv->flush_next, wait_link);
	TAILQ_FOREACH(s, &srv->flushing, wait_link)
		s->commit_on = &srv->flushing;
	pthread_mutex_lock(&f->mu);
	f->job = srv->fl_next;
	f->queued = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	f->busy = true;
	spool_flush_init(&srv->fl_next);
}

/* Answers every session of a finished flush: the message is durable,
 * or the flush failed and none of them is. */
static void
flush_done(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct flusher *f = srv->flusher;
	char drain[16];
	while (read(fd, drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&f->mu);
	bool done = f->busy && !f->queued;
	struct spool_flush job = f->job;
	pthread_mutex_unlock(&f->mu);
	if (!done)
		return;
	f->busy = false;
	const char *why = NULL;
	int rc = spool_flush_end(srv->spool, &job, &why);
	struct session_list batch = TAILQ_HEAD_INITIALIZER(batch);
	TAILQ_CONCAT(&batch, &srv->flushing, wait_link);
	/* The next group was written meanwhile: its flush starts before
	 * these sessions run again. */
	flush_start(srv);
	struct session *s;
	while ((s = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, s, wait_link);
		s->commit_on = NULL;
		spool_msg_settle(&s->msg, rc == 0);
		cmd_data_committed(s, rc == 0, why);
	}
}

int
commit_init(struct server *srv)
{
	struct flusher *f = calloc(1, sizeof *f);
	TAILQ_INIT(&srv->flush_next);
	TAILQ_INIT(&srv->flushing);
	spool_flush_init(&srv->fl_next);
	if (f == NULL)
		return -1;
	f->wake[0] = f->wake[1] = -1;
	srv->flusher = f;
	if (pipe2(f->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	f->wake_ev = event_new(srv->base, f->wake[0], EV_READ | EV_PERSIST, flush_done, srv);
	if (f->wake_ev == NULL || event_add(f->wake_ev, NULL) < 0)
		return -1;
	if (pthread_mutex_init(&f->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&f->cv, NULL) != 0) {
		pthread_mutex_destroy(&f->mu);
		return -1;
	}
	int e = pthread_create(&f->thread, NULL, flusher_main, f);
	if (e != 0) {
		log_err("cannot start the spool flusher thread: %s", strerror(e));
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		return -1;
	}
	f->thread_up = true;
	return 0;
}

void
commit_free(struct server *srv)
{
	struct flusher *f = srv->flusher;
	if (f == NULL)
		return;
	if (f->thread_up) {
		/* A job in flight is run to its end: its descriptors are
		 * closed by the thread. */
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
	}
	/* Segments written and never flushed: their sessions are gone. */
	spool_flush_run(&srv->fl_next);
	if (f->wake_ev != NULL)
		event_free(f->wake_ev);
	for (int i = 0; i < 2; i++)
		if (f->wake[i] >= 0)
			close(f->wake[i]);
	free(f);
	srv->flusher = NULL;
}

void
server_commit_enqueue(struct server *srv, struct session *s)
{
	bool was_empty = TAILQ_EMPTY(&srv->commit_wait);
	TAILQ_INSERT_TAIL(&srv->commit_wait, s, wait_link);
	s->commit_on = &srv->commit_wait;
	if (was_empty)
		event_active(srv->commit_ev, 0, 0);
}

void
commit_run(int fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session_list batch = TAILQ_HEAD_INITIALIZER(batch);
	struct session *s;
	size_t n = 0;
	/* Take the whole list first: a session that gets its 451 may run
	 * its next pipelined DATA and queue itself for the next pass. */
	TAILQ_CONCAT(&batch, &srv->commit_wait, wait_link);
	TAILQ_FOREACH(s, &batch, wait_link)
		n++;
	if (n == 0)
		return;
	struct spool_msg **v = calloc(n, sizeof(struct spool_msg *));
	const char **why_v = calloc(n, sizeof(const char *));
	if (v != NULL && why_v != NULL) {
		size_t i = 0;
		TAILQ_FOREACH(s, &batch, wait_link)
			v[i++] = s->msg;
		(void)spool_write_pass(srv->spool, v, n, why_v, &srv->fl_next);
	}
	/* Written: the session waits for the flush, its message in s->msg
	 * until then.  Not written: its own 451/452 now. */
	for (size_t i = 0; (s = TAILQ_FIRST(&batch)) != NULL; i++) {
		TAILQ_REMOVE(&batch, s, wait_link);
		s->commit_on = NULL;
		const char *why = v == NULL || why_v == NULL ? "out of memory" : why_v[i];
		if (v != NULL)
			s->msg = v[i];	/* NULL when the pass dropped it */
		if (why == NULL) {
			TAILQ_INSERT_TAIL(&srv->flush_next, s, wait_link);
			s->commit_on = &srv->flush_next;
		} else {
			cmd_data_committed(s, false, why);
		}
	}
	free(v);
	free(why_v);
	flush_start(srv);
}
