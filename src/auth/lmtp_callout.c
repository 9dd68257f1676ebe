/* lmtp_callout.c - the RCPT-time LMTP probe (lmtp_callout.h). */
#include "auth/lmtp_callout.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "smtp/reply.h"

int
lmtp_target_parse(const char *spec, const char *base_dir, struct lmtp_target *t,
		  const char **why_r)
{
	memset(t, 0, sizeof *t);
	if (spec == NULL || strncmp(spec, "lmtp:", 5) != 0)
		return 0;
	const char *a = spec + 5;
	if (strncmp(a, "unix:", 5) == 0) {
		a += 5;
		bool rel = a[0] != '/' && base_dir != NULL;
		int n = snprintf(t->path, sizeof t->path, "%s%s%s", rel ? base_dir : "", rel ? "/" : "", a);
		t->is_unix = true;
		*why_r = a[0] == '\0' ? "lmtp:unix: needs a socket path"
		       : n < 0 || (size_t)n >= sizeof t->path ? "socket path too long" : NULL;
		return *why_r == NULL ? 1 : -1;
	}
	const char *colon = strrchr(a, ':');
	size_t hlen = colon != NULL ? (size_t)(colon - a) : 0;
	if (hlen >= 2 && a[0] == '[' && a[hlen - 1] == ']') {
		a++;
		hlen -= 2;
	}
	const char *port = colon != NULL ? colon + 1 : "";
	size_t plen = strlen(port);
	*why_r = NULL;
	if (hlen == 0 || hlen >= sizeof t->host)
		*why_r = "want lmtp:HOST:PORT or lmtp:unix:PATH";
	else if (plen == 0 || plen >= sizeof t->port || strspn(port, "0123456789") != plen)
		*why_r = "bad port (want lmtp:HOST:PORT)";
	if (*why_r != NULL)
		return -1;
	memcpy(t->host, a, hlen);
	memcpy(t->port, port, plen + 1);
	return 1;
}

/* One conversation: the socket, the deadline, unread input. */
struct conv {
	struct lmtp_callout *co;
	int fd;
	struct timespec deadline;
	struct smtp_reply_parser rp;
	char in[4096];
	size_t off, have;
};

static int
conv_left_ms(const struct conv *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (c->deadline.tv_sec - now.tv_sec) * 1000L + (c->deadline.tv_nsec - now.tv_nsec) / 1000000L;
	return ms <= 0 ? 0 : (int)ms;
}

/* Waits for events on the socket until the deadline: 0, or -1 (errno
 * ETIMEDOUT when the time is up). */
static int
conv_wait(struct conv *c, short events)
{
	for (;;) {
		int ms = conv_left_ms(c);
		struct pollfd p = { c->fd, events, 0 };
		int n = ms > 0 ? poll(&p, 1, ms) : 0;
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static void conv_why(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reason, prefixed with where we talked to; bytes outside printable
 * ASCII become '?' (it goes into a log line and a reply). */
static void
conv_why(struct conv *c, const char *fmt, ...)
{
	const struct lmtp_target *t = &c->co->target;
	char *w = c->co->why;
	size_t size = sizeof c->co->why;
	int n = t->is_unix ? snprintf(w, size, "lmtp unix:%s: ", t->path)
			   : snprintf(w, size, "lmtp %s:%s: ", t->host, t->port);
	if (n >= 0 && (size_t)n < size) {
		va_list ap;
		va_start(ap, fmt);
		(void)vsnprintf(w + n, size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (char *p = w; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

/* Non-blocking connect to one address, finished within the deadline. */
static int
conv_connect_one(struct conv *c, int family, const struct sockaddr *sa, socklen_t len)
{
	c->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, sa, len) == 0)
		return 0;
	int err = errno;
	socklen_t elen = sizeof err;
	if (err == EINPROGRESS && conv_wait(c, POLLOUT) == 0 &&
	    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
		return 0;
	if (err == EINPROGRESS)
		err = errno;
	close(c->fd);
	c->fd = -1;
	errno = err;
	return -1;
}

static int
conv_connect(struct conv *c)
{
	const struct lmtp_target *t = &c->co->target;
	if (t->is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
		return conv_connect_one(c, AF_UNIX, (struct sockaddr *)&sun, sizeof sun);
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(t->host, t->port, &hints, &res);
	if (rc != 0) {
		conv_why(c, "cannot resolve: %s", gai_strerror(rc));
		return -2;
	}
	int err = ECONNREFUSED;
	for (const struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next)
		if (conv_connect_one(c, ai->ai_family, ai->ai_addr, ai->ai_addrlen) < 0)
			err = errno;
	freeaddrinfo(res);
	errno = err;
	return c->fd >= 0 ? 0 : -1;
}

static int
conv_send(struct conv *c, const char *line)
{
	size_t n = strlen(line), off = 0;
	while (off < n) {
		ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		if (errno == EAGAIN && conv_wait(c, POLLOUT) < 0)
			return -1;
	}
	return 0;
}

/* The next whole reply, or NULL (why set). */
static const struct smtp_reply *
conv_reply(struct conv *c, const char *after)
{
	smtp_reply_parser_reset(&c->rp);
	for (;;) {
		size_t used = 0;
		enum smtp_reply_rc rc = smtp_reply_feed(&c->rp, c->in + c->off, c->have - c->off, &used);
		c->off += used;
		if (rc == SMTP_REPLY_DONE)
			return smtp_reply_parser_get(&c->rp);
		if (rc < 0) {
			conv_why(c, "malformed reply after %s", after);
			return NULL;
		}
		c->off = c->have = 0;
		ssize_t r = recv(c->fd, c->in, sizeof c->in, 0);
		if (r > 0) {
			c->have = (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR) ||
		    (errno == EAGAIN && conv_wait(c, POLLIN) < 0)) {
			conv_why(c, "%s after %s", r == 0 ? "connection closed" : strerror(errno), after);
			return NULL;
		}
	}
}

/* Sends line (NULL: none) and reads the reply; NULL unless its class is
 * one of want_mask's bits (1 << class). */
static const struct smtp_reply *
conv_step(struct conv *c, const char *line, const char *what, unsigned want_mask)
{
	if (line != NULL && conv_send(c, line) < 0) {
		conv_why(c, "%s while sending %s", strerror(errno), what);
		return NULL;
	}
	const struct smtp_reply *r = conv_reply(c, what);
	if (r != NULL && (want_mask & (1u << smtp_reply_class(r))) == 0) {
		char sum[AUTH_PROTO_WHY_MAX];
		conv_why(c, "%s after %s", smtp_reply_summary(r, sum, sizeof sum), what);
		return NULL;
	}
	return r;
}

/* The conversation up to the RCPT reply; the verdict. */
static enum auth_rcpt_verdict
conv_run(struct conv *c)
{
	struct lmtp_callout *co = c->co;
	char line[SMTP_PATH_MAX + 300];
	int rc = conv_connect(c);
	if (rc < 0) {
		if (rc == -1)
			conv_why(c, "cannot connect: %s", strerror(errno));
		return AUTH_RCPT_TEMP;
	}
	(void)snprintf(line, sizeof line, "LHLO %s\r\n", co->helo);
	if (conv_step(c, NULL, "the greeting", 1u << 2) == NULL ||
	    conv_step(c, line, "LHLO", 1u << 2) == NULL ||
	    conv_step(c, "MAIL FROM:<>\r\n", "MAIL FROM", 1u << 2) == NULL)
		return AUTH_RCPT_TEMP;
	(void)snprintf(line, sizeof line, "RCPT TO:<%s>\r\n", co->rcpt);
	const struct smtp_reply *r = conv_step(c, line, "RCPT TO", 1u << 2 | 1u << 4 | 1u << 5);
	if (r == NULL)
		return AUTH_RCPT_TEMP;
	char sum[AUTH_PROTO_WHY_MAX];
	conv_why(c, "%s", smtp_reply_summary(r, sum, sizeof sum));
	enum auth_rcpt_verdict v = smtp_reply_class(r) == 2   ? AUTH_RCPT_KNOWN
				   : smtp_reply_class(r) == 5 ? AUTH_RCPT_UNKNOWN
							      : AUTH_RCPT_TEMP;
	/* Politeness only: the answer is in, and its text stays the reason. */
	char keep[sizeof co->why];
	memcpy(keep, co->why, sizeof keep);
	if (conv_step(c, "RSET\r\n", "RSET", 1u << 2) != NULL)
		(void)conv_step(c, "QUIT\r\n", "QUIT", 1u << 2);
	memcpy(co->why, keep, sizeof keep);
	return v;
}

void
lmtp_callout_run(struct lmtp_callout *co)
{
	struct conv c = { .co = co, .fd = -1 };
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	unsigned ms = co->timeout_ms ? co->timeout_ms : LMTP_CALLOUT_TIMEOUT_MS;
	c.deadline.tv_sec += ms / 1000;
	c.deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (c.deadline.tv_nsec >= 1000000000L) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000L;
	}
	co->why[0] = '\0';
	/* The recipient goes into a command line: no CR, LF or other
	 * control byte (the network process parsed it; we check anyway). */
	for (const char *p = co->rcpt; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			co->verdict = AUTH_RCPT_UNKNOWN;
			conv_why(&c, "control byte in the recipient");
			return;
		}
	}
	smtp_reply_parser_init(&c.rp);
	co->verdict = conv_run(&c);
	smtp_reply_parser_free(&c.rp);
	if (c.fd >= 0)
		close(c.fd);
}
