/* commit.c - group commit: one pass per loop iteration renames every
 * closed message into the queue and fsyncs the folder once, then the
 * sessions send their 250s (STYLE.md 20), or a 451 to the one whose
 * message could not be published. */
#include "server/session.h"

#include <stdlib.h>

#include <event2/event.h>

void
server_commit_enqueue(struct server *srv, struct session *s)
{
	bool was_empty = TAILQ_EMPTY(&srv->commit_wait);
	TAILQ_INSERT_TAIL(&srv->commit_wait, s, wait_link);
	s->in_commit = true;
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
	/* Take the whole list first: a session that gets its 250 may run
	 * its next pipelined DATA and queue itself for the next pass. */
	TAILQ_CONCAT(&batch, &srv->commit_wait, wait_link);
	TAILQ_FOREACH(s, &batch, wait_link)
		n++;
	if (n == 0)
		return;
	struct spool_msg **v = calloc(n, sizeof(struct spool_msg *));
	const char **why_v = calloc(n, sizeof(const char *));
	const char *why = "out of memory";
	int rc = -1;
	if (v != NULL && why_v != NULL) {
		size_t i = 0;
		TAILQ_FOREACH(s, &batch, wait_link) {
			v[i++] = s->msg;
			s->msg = NULL;	/* spool_publish() takes it */
		}
		rc = spool_publish(srv->spool, v, n, why_v, &why);
	}
	free(v);
	/* Each session gets its own message's result, unless the folder
	 * fsync failed, which leaves every rename of the group undurable. */
	for (size_t i = 0; (s = TAILQ_FIRST(&batch)) != NULL; i++) {
		TAILQ_REMOVE(&batch, s, wait_link);
		s->in_commit = false;
		const char *own = rc < 0 ? why : why_v[i];
		cmd_data_committed(s, own == NULL, own);
	}
	free(why_v);
}
