/* runner_bounce.c - delivery status notifications for failed
 * recipients (issue 14 item 5; the design and its crash argument are in
 * spool.h, "Bounces").
 *
 * A recipient that fails (5xx, or still deferred at max_queue_lifetime)
 * of a message with a sender is marked B in the journal, in the same
 * batch as its result.  Once no delivery of the message is in flight,
 * one DSN covers every B recipient (so at most one report per message
 * per run of failures): it is built from the original header section
 * and the B records (bounce_build), published as a new message with the
 * null sender in the runner's own segment (one fdatasync), and only then
 * are those recipients marked F.  A crash between the two publishes the
 * DSN again at the next start: a duplicate report, never a lost one.
 * The DSN is then ordinary queued mail: retried, routed, and (having the
 * null sender) never bounced itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "deliver/bounce.h"
#include "server/runner_impl.h"
#include "util/buf.h"
#include "util/log.h"

/* The original's header section, read into memory up to a bound. */
struct hdr_grab {
	struct buf b;
	size_t off;		/* bounce_build's read position */
};

static int
hdr_chunk(void *arg, const void *p, size_t n)
{
	struct hdr_grab *h = arg;
	if (buf_add(&h->b, p, n) != BUF_OK)
		return -1;
	/* the header ends at the first empty line; a little more is harmless */
	if (h->b.len > BOUNCE_HEADERS_MAX || memmem(h->b.p, h->b.len, "\r\n\r\n", 4) != NULL)
		return -1;
	return 0;
}

static ssize_t
hdr_read(void *arg, void *buf, size_t size)
{
	struct hdr_grab *h = arg;
	size_t n = h->b.len - h->off < size ? h->b.len - h->off : size;
	memcpy(buf, h->b.p + h->off, n);
	h->off += n;
	return (ssize_t)n;
}

/* "550 5.1.1 text" -> code, enhanced code and text (pointers into s,
 * enh copied into enh_buf).  The text keeps the enhanced code, as
 * bounce.h's reply_text and smtp_reply's text do: the Diagnostic-Code
 * quotes the remote reply whole ("smtp; 550 5.1.1 text"). */
static void
parse_reply(const char *s, struct bounce_rcpt *br, char enh_buf[16])
{
	br->reply_code = 0;
	br->reply_enh = "";
	br->reply_text = s;
	if (s == NULL || strlen(s) < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (s[3] != ' ' && s[3] != '\0')) {
		br->why = s != NULL ? s : "delivery failed";
		br->reply_text = NULL;
		return;
	}
	br->reply_code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	const char *t = s[3] ? s + 4 : s + 3;
	size_t k = strspn(t, "0123456789.");
	if (k >= 5 && k < 16 && (t[k] == ' ' || t[k] == '\0') && t[0] == s[0] && t[1] == '.') {
		memcpy(enh_buf, t, k);
		enh_buf[k] = '\0';
		br->reply_enh = enh_buf;
	}
	br->reply_text = t;
}

/* Queues the report as a new message from <> to the sender.  Returns 0,
 * or -1 (logged). */
static int
bounce_publish(struct runner *r, const struct rmsg *m, const struct buf *out, char id_r[SPOOL_ID_MAX])
{
	const char *why = NULL, *err = NULL;
	bool eight = false;
	for (size_t i = 0; i < out->len && !eight; i++)
		eight = out->p[i] >= 0x80;
	const char *rcpts[] = { m->e.env.mail_from };
	struct spool_envelope env = { .mail_from = "", .rcpts = rcpts, .nrcpt = 1,
				      .body = eight ? "8BITMIME" : "7BIT",
				      .client_addr = "queue-runner", .helo = r->cfg->hostname,
				      .arrival = time(NULL) };
	struct spool_msg *msg = spool_msg_new(r->sp, id_r, &why);
	if (msg == NULL || spool_msg_write(msg, out->p, out->len) < 0 ||
	    spool_msg_close(msg, &env, &why) < 0) {
		log_err("runner: %s: cannot queue its bounce: %s", m->e.id, why ? why : "write failed");
		spool_msg_abort(&msg);
		return -1;
	}
	const char *res = NULL;
	if (spool_publish(r->sp, &msg, 1, &res, &err) < 0 || res != NULL) {
		log_err("runner: %s: cannot queue its bounce: %s", m->e.id,
			err ? err : res ? res : "publish failed");
		return -1;
	}
	return 0;
}

/* Builds the report for the B recipients listed in which[0..n). */
static int
bounce_make(struct runner *r, const struct rmsg *m, const size_t *which, size_t n, struct buf *out)
{
	struct bounce_rcpt *br = calloc(n, sizeof *br);
	char (*enh)[16] = calloc(n, sizeof *enh);
	struct hdr_grab h = { .off = 0 };
	buf_init(&h.b, BOUNCE_HEADERS_MAX + 70000);
	char *err = NULL;
	int rc = -1;
	if (br != NULL && enh != NULL) {
		time_t now = time(NULL);
		for (size_t i = 0; i < n; i++) {
			const struct spool_rcpt_state *st = &m->e.rcpt[which[i]];
			br[i].final_rcpt = m->e.env.rcpts[which[i]];
			br[i].remote_mta = m->remote[which[i]];
			br[i].last_attempt = now;
			parse_reply(st->last_reply, &br[i], enh[i]);
		}
		uint8_t rnd[12];
		char unique[2 * sizeof rnd + SPOOL_ID_MAX + 2];
		(void)RAND_bytes(rnd, sizeof rnd);
		int k = snprintf(unique, sizeof unique, "%s.", m->e.id);
		for (size_t i = 0; i < sizeof rnd && k > 0; i++)
			k += snprintf(unique + k, sizeof unique - (size_t)k, "%02x", rnd[i]);
		struct bounce_msg bm = { .kind = BOUNCE_FAILED, .hostname = r->cfg->hostname,
					 .sender = m->e.env.mail_from, .queue_id = m->e.id,
					 .arrival = m->e.env.arrival, .now = now, .unique = unique,
					 .rcpts = br, .nrcpts = n };
		/* the content's reader refuses a damaged message: then the
		 * report goes without the original header section */
		(void)spool_content(r->sp, &m->e, hdr_chunk, &h, &err);
		free(err);
		err = NULL;
		rc = bounce_build(&bm, hdr_read, &h, out, &err);
		if (rc < 0)
			log_err("runner: %s: bounce: %s", m->e.id, err ? err : "?");
		free(err);
	}
	buf_free(&h.b);
	free(br);
	free(enh);
	return rc;
}

int
runner_bounce(struct runner *r, struct rmsg *m)
{
	time_t now = time(NULL);
	size_t n = 0, nr = m->e.env.nrcpt;
	size_t *which = NULL;
	for (size_t i = 0; i < nr; i++)
		if (m->e.rcpt[i].state == SPOOL_BOUNCING && m->e.rcpt[i].next_try <= now && !m->busy[i]) {
			if (which == NULL && (which = calloc(nr, sizeof *which)) == NULL)
				return -1;
			which[n++] = i;
		}
	if (n == 0)
		return 0;
	struct buf out;
	buf_init(&out, SIZE_MAX / 2);
	char id[SPOOL_ID_MAX];
	int rc = bounce_make(r, m, which, n, &out);
	if (rc == 0)
		rc = bounce_publish(r, m, &out, id);
	buf_free(&out);
	struct spool_mark *mk = calloc(n, sizeof *mk);
	char *err = NULL;
	if (mk == NULL)
		rc = -1;
	for (size_t i = 0; mk != NULL && i < n; i++) {
		struct spool_rcpt_state *st = &m->e.rcpt[which[i]];
		mk[i] = (struct spool_mark){ .id = m->e.id, .rcpt = which[i], .state = SPOOL_FAILED,
					     .attempts = st->attempts, .last_reply = st->last_reply };
	}
	if (rc == 0 && mk != NULL && spool_mark(r->sp, mk, n, &err) < 0) {
		/* the report is queued; the next try queues a second one */
		log_err("runner: %s: %s", m->e.id, err ? err : "out of memory");
		free(err);
		rc = -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct spool_rcpt_state *st = &m->e.rcpt[which[i]];
		if (rc == 0)
			st->state = SPOOL_FAILED;
		else
			st->next_try = now + (time_t)r->cfg->retry.first;	/* try again later */
	}
	if (rc == 0) {
		char q[LOG_SAFE_MAX];
		log_info("bounce id=%s for=%s to=%s rcpts=%zu", id, m->e.id,
			 log_quote_str(q, sizeof q, m->e.env.mail_from), n);
		r->gc_wanted = true;
		runner_rescan(r);
	}
	free(mk);
	free(which);
	return rc;
}
