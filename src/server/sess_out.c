/* sess_out.c - replies of clear-text sessions written by the session
 * itself, once per loop pass, instead of by libevent's write event.
 *
 * A bufferevent with writing enabled adds its write event whenever its
 * output gets data (epoll_ctl), writes in the next loop pass and
 * removes the event once empty (epoll_ctl again): two system calls and
 * a pass per reply, a third of the network process's system calls in
 * the lockstep SMTP of bench S3 (bench/RESULTS.md).  Here writing stays
 * off while the socket takes everything: a reply added to the output
 * puts the session on srv->write_list, and server_write_run (an event
 * made active, so it runs at the end of the same pass, after every
 * callback that may add more replies: a pipelined group's replies go
 * out together) writes the output straight to the socket.  Only what
 * the socket does not take switches libevent's writing on, with its
 * write timeout, until it is out (sess_out_drained).
 *
 * TLS sessions keep libevent's writing: their bytes go through the TLS
 * bufferevent.
 */
#include "server/session.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/log.h"

static void
sess_out_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct session *s = arg;
	if (info->n_added == 0 || s->on_write_list)
		return;
	struct server *srv = s->srv;
	if (TAILQ_EMPTY(&srv->write_list))
		event_active(srv->write_ev, 0, 0);
	TAILQ_INSERT_TAIL(&srv->write_list, s, write_link);
	s->on_write_list = true;
}

void
sess_out_direct(struct session *s)
{
	s->out_cb = evbuffer_add_cb(bufferevent_get_output(s->bev), sess_out_added, s);
	if (s->out_cb == NULL)
		return;	/* libevent writes, as for TLS */
	bufferevent_disable(s->bev, EV_WRITE);
	s->direct_out = true;
}

void
sess_out_detach(struct session *s)
{
	if (s->on_write_list)
		TAILQ_REMOVE(&s->srv->write_list, s, write_link);
	s->on_write_list = false;
	if (s->out_cb != NULL && s->bev != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->bev), s->out_cb);
	s->out_cb = NULL;
	s->direct_out = false;
}

/* Writes what the socket takes of s's output; the rest is left to
 * libevent's write event.  Then, with the output empty, what the write
 * callback would do. */
static void
sess_out_write(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* A bufferevent keeps its output's start frozen: only its own
	 * write may drain it, which thaws it for the time of the write, as
	 * this does. */
	evbuffer_unfreeze(out, 1);
	errno = 0;
	int n = evbuffer_write(out, bufferevent_getfd(s->bev));
	int e = errno;
	evbuffer_freeze(out, 1);
	if (n < 0 && e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
		log_debug("session=%016" PRIx64 " write: %s state=%d", s->id, strerror(e),
			  (int)s->state);
		server_bury(s->srv, s);
		return;
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(s->bev, EV_WRITE);
	else
		sess_out_flushed(s);
}

void
sess_out_drained(struct session *s)
{
	if (s->direct_out)
		bufferevent_disable(s->bev, EV_WRITE);
}

void
server_write_run(int fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s;
	while ((s = TAILQ_FIRST(&srv->write_list)) != NULL) {
		TAILQ_REMOVE(&srv->write_list, s, write_link);
		s->on_write_list = false;
		if (!s->dead && s->bev != NULL)
			sess_out_write(s);
	}
}
