/* loadgen_io.c - non-blocking sockets and OpenSSL for the load generator.
 *
 * Each function works on one session and never blocks: a call that
 * cannot finish registers the events it waits for (lg_io_want) and
 * returns "pending"; the loop calls back into loadgen_sess.c on them.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Registers interest in events (EPOLLIN/EPOLLOUT) for s's socket, with
 * one epoll_ctl only when the set changes. */
void
lg_io_want(struct lg_sess *s, uint32_t events)
{
	if (s->fd < 0 || events == s->events)
		return;
	struct epoll_event ev = { .events = events, .data.ptr = s };
	int op = s->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	if (epoll_ctl(s->loop->ep, op, s->fd, &ev) == 0)
		s->events = events;
}

/* Starts a non-blocking connect from the session's source address (the
 * 127.0.0.x range spreads sessions so that per-address limits of the
 * servers are not what is measured).  IP_BIND_ADDRESS_NO_PORT lets the
 * kernel pick the port at connect time, per destination. */
int
lg_io_connect(struct lg_sess *s)
{
	const struct lg_opts *o = s->loop->o;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		lg_sess_fail(s, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (o->src_first != 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(o->src_first + s->index % o->src_count);
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (const struct sockaddr *)&src, sizeof src) != 0) {
			lg_sess_fail(s, "bind: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	s->fd = fd;
	s->events = 0;
	if (connect(fd, (const struct sockaddr *)&o->dst, sizeof o->dst) != 0 &&
	    errno != EINPROGRESS) {
		lg_sess_fail(s, "connect: %s", strerror(errno));
		return -1;
	}
	lg_io_want(s, EPOLLOUT);
	return 0;
}

/* Maps an SSL_ERROR_WANT_* to the events to wait for; 0 for a real error. */
static uint32_t
ssl_wants(SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return EPOLLIN;
	case SSL_ERROR_WANT_WRITE:
		return EPOLLIN | EPOLLOUT;
	default:
		return 0;
	}
}

static const char *
ssl_why(void)
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	return e ? ERR_reason_error_string(e) : "connection closed";
}

int
lg_io_handshake(struct lg_sess *s)
{
	if (s->ssl == NULL) {
		s->ssl = SSL_new(s->loop->o->ssl_ctx);
		if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
			lg_sess_fail(s, "SSL_new failed");
			return -1;
		}
		SSL_set_tlsext_host_name(s->ssl, "localhost");
	}
	int r = SSL_connect(s->ssl);
	if (r == 1) {
		s->tls_on = true;
		return 1;
	}
	uint32_t w = ssl_wants(s->ssl, r);
	if (w == 0) {
		lg_sess_fail(s, "TLS handshake: %s", ssl_why());
		return -1;
	}
	lg_io_want(s, w);
	return 0;
}

/* Writes the pending output (s->wp, s->wlen).  Partial writes keep the
 * rest for the next EPOLLOUT (SSL_MODE_ENABLE_PARTIAL_WRITE is set). */
int
lg_io_flush(struct lg_sess *s)
{
	while (s->wlen > 0) {
		ssize_t n;
		if (s->tls_on) {
			int r = SSL_write(s->ssl, s->wp, (int)s->wlen);
			if (r <= 0) {
				uint32_t w = ssl_wants(s->ssl, r);
				if (w == 0) {
					lg_sess_fail(s, "TLS write: %s", ssl_why());
					return -1;
				}
				lg_io_want(s, w);
				return 0;
			}
			n = r;
		} else {
			n = send(s->fd, s->wp, s->wlen, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					lg_io_want(s, EPOLLIN | EPOLLOUT);
					return 0;
				}
				lg_sess_fail(s, "write: %s", strerror(errno));
				return -1;
			}
		}
		s->wp += n;
		s->wlen -= (size_t)n;
	}
	lg_io_want(s, EPOLLIN);
	return 1;
}

/* Reads what is there into s->in after s->inlen.  A reply longer than
 * the buffer is an error (no SMTP reply this tool expects is that long). */
int
lg_io_read(struct lg_sess *s)
{
	size_t room = sizeof s->in - 1 - s->inlen;
	if (room == 0) {
		lg_sess_fail(s, "reply longer than %zu bytes", sizeof s->in - 1);
		return -1;
	}
	if (s->tls_on) {
		int r = SSL_read(s->ssl, s->in + s->inlen, (int)room);
		if (r <= 0) {
			uint32_t w = ssl_wants(s->ssl, r);
			if (w == 0)
				return -1;
			lg_io_want(s, w);
			return 0;
		}
		s->inlen += (size_t)r;
		return r;
	}
	ssize_t n = recv(s->fd, s->in + s->inlen, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	s->inlen += (size_t)n;
	return (int)n;
}

/* Closes the connection (no TLS close_notify: the server already said
 * 221, or the session failed). */
void
lg_io_close(struct lg_sess *s)
{
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd);	/* also drops it from the epoll set */
		s->fd = -1;
	}
	s->events = 0;
	s->tls_on = false;
	s->inlen = 0;
	s->wlen = 0;
}
