/* runner_ctl.c - the control socket (issue 14 item 8): `postern queue`
 * talks to the running server's queue runner, which owns delivery state
 * and is the state journal's only writer while the server runs.
 *
 * Protocol: the client sends one line (at most RUNNER_CTL_LINE bytes,
 * LF-terminated): "list", "delete ID" or "flush".  The runner answers
 * with data lines (the text `postern queue` prints; none starts with
 * '.') and one last line: ".ok" or ".error TEXT"; then it closes.
 * The socket is mode 0600 and owned by `user` (the parent made it); a
 * peer must also be root or the runner's own uid (SO_PEERCRED).
 */
#include "server/runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "server/runner_impl.h"
#include "util/log.h"

#define RUNNER_CTL_LINE 256
#define RUNNER_CTL_TIMEOUT 30	/* seconds for a client to send its line */

int
runner_ctl_listen(const char *path, bool chown_it, uid_t uid, gid_t gid, char **err_r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sun.sun_path) {
		(void)!asprintf(err_r, "control_socket %s: path too long (at most %zu bytes)", path,
				sizeof sun.sun_path - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);	/* a dead server's: we hold the spool's lock */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	const char *step = "socket";
	mode_t old = umask(0177);	/* born 0600: no window with a wider mode */
	if (fd >= 0 && (step = "bind", bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0) &&
	    (step = "chmod", chmod(path, 0600) == 0) &&
	    (step = "chown", !chown_it || chown(path, uid, gid) == 0) &&
	    (step = "listen", listen(fd, 16) == 0)) {
		(void)umask(old);
		return fd;
	}
	int e = errno;
	(void)umask(old);
	(void)!asprintf(err_r, "control_socket %s: %s: %s", path, step, strerror(e));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- one client ---- */

static void
ctl_close_when_sent(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what, (void)arg;
	bufferevent_free(bev);
}

/* "list": the lines of `postern queue list`, read fresh from the spool
 * (the journal is the runner's own writing). */
static void
ctl_list(struct runner *r, struct evbuffer *out)
{
	struct spool_entry *v = NULL;
	char *err = NULL, *text = NULL;
	size_t len = 0;
	long n = spool_list(r->sp, &v, &err);
	FILE *f = n < 0 ? NULL : open_memstream(&text, &len);
	if (f == NULL) {
		evbuffer_add_printf(out, ".error %s\n", err ? err : "out of memory");
		free(err);
		spool_entries_free(v, n < 0 ? 0 : (size_t)n);
		return;
	}
	for (long i = 0; i < n; i++)
		queue_fmt_entry(f, &v[i]);
	(void)fprintf(f, "%ld message%s\n", n, n == 1 ? "" : "s");
	bool bad = ferror(f) != 0;
	(void)fclose(f);
	spool_entries_free(v, (size_t)n);
	if (bad || text == NULL)
		evbuffer_add_printf(out, ".error out of memory\n");
	else
		evbuffer_add_printf(out, "%s.ok\n", text);
	free(text);
}

static void
ctl_command(struct runner *r, const char *line, struct evbuffer *out)
{
	char *err = NULL;
	if (strcmp(line, "list") == 0) {
		ctl_list(r, out);
	} else if (strcmp(line, "flush") == 0) {
		size_t n = runner_flush(r);
		evbuffer_add_printf(out, "flushing %zu deferred message%s\n.ok\n", n, n == 1 ? "" : "s");
	} else if (strncmp(line, "delete ", 7) == 0) {
		if (runner_delete(r, line + 7, &err) < 0)
			evbuffer_add_printf(out, ".error %s\n", err ? err : "out of memory");
		else
			evbuffer_add_printf(out, "deleted %s\n.ok\n", line + 7);
		free(err);
	} else {
		evbuffer_add_printf(out, ".error unknown command\n");
	}
}

static void
ctl_read(struct bufferevent *bev, void *arg)
{
	struct runner *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev), *out = bufferevent_get_output(bev);
	size_t n = 0;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL && evbuffer_get_length(in) <= RUNNER_CTL_LINE)
		return;		/* more to come */
	if (line == NULL || n > RUNNER_CTL_LINE || memchr(line, '\0', n) != NULL)
		evbuffer_add_printf(out, ".error line too long\n");
	else
		ctl_command(r, line, out);
	free(line);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, ctl_close_when_sent, ctl_event, r);
}

/* Root, or the runner's own user. */
static bool
ctl_peer_ok(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void
ctl_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)l, (void)sa, (void)salen;
	struct runner *r = arg;
	if (!ctl_peer_ok(fd)) {
		log_warn("runner: control socket: a peer that is neither root nor our user: closed");
		close(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	struct timeval tv = { RUNNER_CTL_TIMEOUT, 0 };
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, ctl_read, NULL, ctl_event, r);
	(void)bufferevent_enable(bev, EV_READ);
}

int
runner_ctl_start(struct runner *r, int fd)
{
	r->ctl = evconnlistener_new(r->base, ctl_accept, r, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (r->ctl == NULL) {
		log_err("runner: control socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void
runner_ctl_stop(struct runner *r)
{
	if (r->ctl != NULL)
		evconnlistener_free(r->ctl);
	r->ctl = NULL;
}
