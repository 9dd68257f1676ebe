/* listener.c - listening sockets, accepting, and the connection limits
 * (max_connections, max_connections_per_ip). */
#include "server/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>

#include "util/log.h"

/* ---- accepting ---- */

static void
listener_refuse(struct listener *l, int fd, const char *ip, const char *why)
{
	struct server *srv = l->srv;
	srv->count.refused++;
	log_warn("refused client=%s listener=%s why=\"%s\"", ip, l->text, why);
	/* RFC 5321 3.8: 421 tells the client to come back later.  On the
	 * implicit-TLS port a clear-text line would be noise: just close. */
	if (l->role != ROLE_SUBMISSIONS) {
		char line[300];
		int n = snprintf(line, sizeof line, "421 4.7.0 %s Too many connections\r\n",
				 srv->gen->cfg->hostname);
		if (n > 0 && (size_t)n < sizeof line)
			(void)!send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	close(fd);
}

static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen,
		void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	const struct config *cfg = srv->gen->cfg;
	char ip[48] = "";
	if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
	if (srv->nsessions >= cfg->max_connections) {
		listener_refuse(l, fd, ip, "max_connections");
		return;
	}
	if (!iptab_acquire(srv->ips, ip, cfg->max_connections_per_ip)) {
		listener_refuse(l, fd, ip, "max_connections_per_ip");
		return;
	}
	srv->count.accepted++;
	if (!session_accept(srv, fd, sa, (socklen_t)salen, l->role))
		iptab_release(srv->ips, ip);
}

static void
listener_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	/* EMFILE and friends: log; libevent keeps the listener going. */
	log_err("accept on %s: %s", l->text, strerror(errno));
}

/* Binds one address; returns the fd or -1 with *err_r set. */
static int
listener_bind(const struct listen_spec *ls, char **err_r)
{
	int fd = socket(ls->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ls->addr.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (fd < 0 || bind(fd, (const struct sockaddr *)&ls->addr, ls->addrlen) < 0) {
		(void)!asprintf(err_r, "listen %s: %s", ls->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Wraps the listening fd in a listener that does not accept yet and
 * adds it to srv->lst (which has room); the fd is the listener's from
 * here on, also on failure. */
static int
listener_start(struct server *srv, const struct listen_spec *ls, int fd, char **err_r)
{
	struct listener *l = &srv->lst[srv->nlst];
	l->srv = srv;
	l->role = ls->role;
	l->evl = evconnlistener_new(srv->base, listener_accept, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, 0, fd);
	if (l->evl == NULL) {
		close(fd);
		(void)!asprintf(err_r, "listen %s: cannot set up", ls->text);
		return -1;
	}
	evconnlistener_set_error_cb(l->evl, listener_error);
	/* config.c takes at most 64 bytes of ADDR:PORT: it fits. */
	(void)snprintf(l->text, sizeof l->text, "%s", ls->text);
	srv->nlst++;	/* listener_close_all() frees it from here on */
	return 0;
}

int *
listener_bind_all(const struct config *cfg, char **err_r)
{
	int *fds = calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof *fds);
	if (fds == NULL) {
		*err_r = strdup("out of memory");
		return NULL;
	}
	size_t i, nbound = 0;
	int rc = 0;
	/* Bind everything first: when one port is taken, nothing listens. */
	for (i = 0; i < cfg->nlisten && rc == 0; i++) {
		fds[i] = listener_bind(&cfg->listen[i], err_r);
		rc = fds[i] < 0 ? -1 : 0;
		nbound += rc == 0;
	}
	for (i = 0; i < nbound && rc == 0; i++) {
		rc = listen(fds[i], 511);
		if (rc < 0)
			(void)!asprintf(err_r, "listen %s: %s", cfg->listen[i].text, strerror(errno));
	}
	if (rc == 0)
		return fds;
	for (i = 0; i < nbound; i++)
		close(fds[i]);
	free(fds);
	return NULL;
}

int
listener_adopt_all(struct server *srv, const struct config *cfg, const int *fds, char **err_r)
{
	srv->lst = calloc(cfg->nlisten, sizeof *srv->lst);
	if (srv->lst == NULL) {
		for (size_t i = 0; i < cfg->nlisten; i++)
			close(fds[i]);
		*err_r = strdup("out of memory");
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (rc == 0)
			rc = listener_start(srv, &cfg->listen[i], fds[i], err_r);
		else
			close(fds[i]);
	}
	if (rc < 0)
		listener_close_all(srv);
	return rc;
}

void
listener_enable_all(struct server *srv)
{
	for (size_t i = 0; i < srv->nlst; i++) {
		if (evconnlistener_enable(srv->lst[i].evl) < 0)
			log_err("listen %s: cannot accept", srv->lst[i].text);
		else
			log_info("listening on %s (%s)", srv->lst[i].text,
				 config_role_name(srv->lst[i].role));
	}
}

void
listener_close_all(struct server *srv)
{
	for (size_t i = 0; srv->lst != NULL && i < srv->nlst; i++) {
		if (srv->lst[i].evl)
			evconnlistener_free(srv->lst[i].evl);
	}
	free(srv->lst);
	srv->lst = NULL;
	srv->nlst = 0;
}
