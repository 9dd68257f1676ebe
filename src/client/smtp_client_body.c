/* smtp_client_body.c - the content after 354: pulled from the caller's
 * source in chunks, dot-stuffed on the fly, written with backpressure,
 * so that no message is ever held whole (a 50 MB message costs one
 * chunk and a bounded output queue). */
#include "client/smtp_client_impl.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* One read from the source.  64 KiB: a few reads per TCP window, few
 * calls into a pipe; stuffed it takes at most twice that. */
#define BODY_CHUNK ((size_t)64 * 1024)
/* Pull no more while this much is unsent; resume below BODY_LOW.  The
 * queue bounds memory per session; 256 KiB keeps a fast link busy
 * between two write callbacks. */
#define BODY_HIGH ((size_t)256 * 1024)
#define BODY_LOW ((size_t)64 * 1024)

static int
mem_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r)
{
	struct smtp_body_mem *m = arg;
	size_t n = m->len - m->off < cap ? m->len - m->off : cap;
	if (n > 0)
		memcpy(buf, m->p + m->off, n);
	m->off += n;
	*n_r = n;
	return 0;
}

struct smtp_body_src
smtp_body_src_mem(struct smtp_body_mem *m, const uint8_t *p, size_t len)
{
	*m = (struct smtp_body_mem){ .p = p, .len = p ? len : 0 };
	return (struct smtp_body_src){ .read = mem_read, .arg = m };
}

void
smtp_client_body_start(struct smtp_client *c)
{
	if (c->chunk == NULL)
		c->chunk = malloc(BODY_CHUNK);
	if (c->chunk == NULL) {
		smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "out of memory");
		return;
	}
	smtp_dotstuff_init(&c->stuff);
	smtp_client_note(c, "(message: %llu bytes%s)", (unsigned long long)c->msg->size,
			 c->msg->eightbit ? ", 8-bit" : "");
	smtp_client_set_state(c, ST_DATA_OUT);
	/* write_cb runs when the queue falls to BODY_LOW */
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_LOW, 0);
	/* Nothing is read while the content goes out: only a stalled write
	 * counts (RFC 5321 4.5.3.2.5, per data block), however long a large
	 * message takes as a whole. */
	struct timeval tv = { .tv_sec = c->o.timeout_sec };
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	smtp_client_body_pump(c);
}

static void
body_end(struct smtp_client *c, struct evbuffer *out)
{
	uint8_t end[SMTP_DOTSTUFF_END_MAX];
	bool added = false;
	size_t n = smtp_dotstuff_end(&c->stuff, end, &added);
	evbuffer_add(out, end, n);
	c->res.added_crlf = added;
	if (added)
		smtp_client_note(c, "the message did not end with CRLF; one was added");
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	struct timeval tv = { .tv_sec = c->o.timeout_sec };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	c->lmtp_i = 0;
	smtp_client_set_state(c, ST_BODY);
}

void
smtp_client_body_pump(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct smtp_body_src *src = &c->msg->body;
	while (c->state == ST_DATA_OUT && evbuffer_get_length(out) < BODY_HIGH) {
		size_t n = 0;
		if (src->read(src->arg, c->chunk, BODY_CHUNK, &n) != 0 || n > BODY_CHUNK) {
			smtp_client_fail(c, SMTP_FAIL_SOURCE, NULL, NULL, "cannot read the message "
					 "content; connection dropped so that no partial message "
					 "is delivered");
			return;
		}
		if (n == 0) {
			body_end(c, out);
			return;
		}
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(out, (ev_ssize_t)SMTP_DOTSTUFF_OUT_MAX(n), &v, 1) < 1) {
			smtp_client_fail(c, SMTP_FAIL_INTERNAL, NULL, NULL, "out of memory");
			return;
		}
		v.iov_len = smtp_dotstuff_feed(&c->stuff, c->chunk, n, v.iov_base);
		evbuffer_commit_space(out, &v, 1);
	}
}
