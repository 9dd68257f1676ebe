/* bounce.c - RFC 3464 delivery status notifications (contract in bounce.h). */
#include "deliver/bounce.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/str.h"

/* Peer text kept per field: RFC 5321 allows 512-octet reply lines; a
 * DSN field stays readable and far below the 998-octet line limit
 * (RFC 5322 2.1.1) once folded. */
#define PEER_TEXT_MAX 900
/* Chunk pulled from the original while looking for the end of its header. */
#define READ_CHUNK 8192

bool
bounce_wanted(const char *sender, enum bounce_kind kind, const char *notify)
{
	/* RFC 5321 4.5.5 / RFC 3464 2: never a report about a report */
	if (sender == NULL || sender[0] == '\0')
		return false;
	if (notify == NULL)
		return true;	/* RFC 3461 4.1: default is FAILURE and DELAY (ours) */
	const char *want = kind == BOUNCE_FAILED ? "FAILURE" : "DELAY";
	for (const char *p = notify; *p;) {
		size_t n = strcspn(p, ",");
		if (n == strlen(want) && strncasecmp(p, want, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;		/* NEVER, or only the other kind */
}

static bool
is_code(const char *s, size_t n)
{
	/* "x.y.z", class 2/4/5, 1-3 digits per part (RFC 3463 2) */
	size_t i = 0, parts = 0;
	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	while (i < n) {
		size_t d = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && d < 4)
			i++, d++;
		if (d == 0 || d > 3 || (parts == 0 && d != 1))
			return false;
		parts++;
		if (i < n && (s[i] != '.' || parts == 3))
			return false;
		i += i < n;
	}
	return parts == 3;
}

const char *
bounce_status(const struct bounce_rcpt *r, enum bounce_kind kind, char *buf, size_t size)
{
	const char *enh = r->reply_enh;
	if (r->status != NULL && is_code(r->status, strlen(r->status)))
		enh = r->status;
	else if (enh != NULL && is_code(enh, strlen(enh)) && r->reply_code >= 200 &&
		 r->reply_code <= 599 && enh[0] == (char)('0' + r->reply_code / 100))
		;	/* the reply's own code, class consistent with it */
	else if (r->reply_code >= 400 && r->reply_code <= 599)
		enh = r->reply_code >= 500 ? "5.0.0" : "4.0.0";
	else
		enh = kind == BOUNCE_FAILED ? "5.0.0" : "4.0.0";
	size_t n = strlen(enh);
	if (n >= size)
		n = size - 1;
	memcpy(buf, enh, n);
	buf[n] = '\0';
	return buf;
}

/* ---- text helpers ---- */

/* RFC 5322 3.3 date, always in UTC and in English whatever the locale. */
static void
add_date(struct buf *b, time_t t)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	buf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		   months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Peer text as printable ASCII on one line: line breaks become spaces,
 * other bytes outside 0x20..0x7e become '?', cut at PEER_TEXT_MAX. */
static void
add_peer(struct buf *b, const char *s)
{
	for (size_t i = 0; s != NULL && s[i] && i < PEER_TEXT_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_addch(b, c == '\n' || c == '\r' || c == '\t' ? ' '
			     : (c < 0x20 || c > 0x7e) ? '?' : c);
	}
}

/* "Name: value\r\n", folded before 78 columns at spaces (RFC 5322
 * 2.2.3); value is already one printable line. */
static void
add_field(struct buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	bool fresh = true;	/* nothing on this line yet but the name or the fold */
	buf_printf(b, "%s:", name);
	const char *p = value;
	while (*p == ' ')
		p++;
	while (*p) {
		size_t w = strcspn(p, " ");
		if (col + 1 + w > 78 && !fresh) {
			buf_addstr(b, "\r\n");	/* fold: the space below starts the next line */
			col = 0;
		}
		fresh = false;
		buf_addch(b, ' ');
		buf_add(b, p, w);
		col += 1 + w;
		p += w;
		while (*p == ' ')
			p++;
	}
	buf_addstr(b, "\r\n");
}

/* prefix then peer text made safe, in scratch buffer v: a field value. */
static const char *
peer_value(struct buf *v, const char *prefix, const char *peer)
{
	buf_reset(v);
	buf_addstr(v, prefix);
	add_peer(v, peer);
	return buf_cstr(v);
}

static void
add_date_field(struct buf *b, const char *name, time_t t)
{
	buf_printf(b, "%s: ", name);
	add_date(b, t);
	buf_addstr(b, "\r\n");
}

/* ---- the original header section ---- */

/* Pulls the original until its header section is complete (the empty
 * line), BOUNCE_HEADERS_MAX is passed, or it ends; leaves in hdr the
 * header lines, each ending in CRLF, without the empty line. */
static int
read_headers(bounce_read_fn *rd, void *arg, struct buf *hdr, char **err_r)
{
	uint8_t *p;
	for (;;) {
		size_t old = hdr->len;
		if (hdr->len > BOUNCE_HEADERS_MAX || buf_extend(hdr, READ_CHUNK, &p) != BUF_OK)
			break;
		ssize_t n = rd(arg, p, READ_CHUNK);
		if (n < 0 || n > READ_CHUNK) {
			*err_r = str_printf("cannot read the original message");
			return -1;
		}
		buf_truncate(hdr, old + (size_t)n);
		if (hdr->len >= 2 && memcmp(hdr->p, "\r\n", 2) == 0) {
			buf_truncate(hdr, 0);	/* no header at all */
			return 0;
		}
		/* the empty line may straddle two chunks: look 3 bytes back */
		size_t from = old > 3 ? old - 3 : 0;
		uint8_t *end = hdr->len >= 4 ? memmem(hdr->p + from, hdr->len - from, "\r\n\r\n", 4)
					     : NULL;
		if (end != NULL) {
			buf_truncate(hdr, (size_t)(end - hdr->p) + 2);
			return 0;
		}
		if (n == 0)
			break;
	}
	/* cut to whole lines within the cap */
	size_t keep = hdr->len < BOUNCE_HEADERS_MAX ? hdr->len : BOUNCE_HEADERS_MAX;
	while (keep >= 2 && memcmp(hdr->p + keep - 2, "\r\n", 2) != 0)
		keep--;
	buf_truncate(hdr, keep >= 2 ? keep : 0);
	return 0;
}

/* ---- the three parts ---- */

static void
add_human(struct buf *b, const struct bounce_msg *m)
{
	buf_printf(b, "This is the mail system at host %s.\r\n\r\n", m->hostname);
	if (m->kind == BOUNCE_DELAYED) {
		buf_addstr(b, "THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE.\r\n\r\n");
		buf_printf(b, "Your message could not be delivered for %lld hour(s).\r\n",
			   (long long)((m->now - m->arrival) / 3600));
		buf_addstr(b, "It will be retried until ");
		add_date(b, m->retry_until);
		buf_addstr(b, ".\r\n\r\n");
	} else {
		buf_addstr(b, "Your message could not be delivered to one or more recipients.\r\n"
			      "Its header is attached below.\r\n\r\n");
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct bounce_rcpt *r = &m->rcpts[i];
		buf_addch(b, '<');
		add_peer(b, r->final_rcpt);
		buf_addstr(b, ">: ");
		if (r->reply_code != 0) {
			buf_addstr(b, "host ");
			add_peer(b, r->remote_mta ? r->remote_mta : "?");
			buf_printf(b, " said: %d ", r->reply_code);
			add_peer(b, r->reply_text);
		} else {
			add_peer(b, r->why ? r->why : "delivery failed");
		}
		buf_addstr(b, "\r\n");
	}
}

static void
add_rcpt_status(struct buf *b, const struct bounce_msg *m, const struct bounce_rcpt *r,
		struct buf *v)
{
	char st[16];
	buf_addstr(b, "\r\n");
	add_field(b, "Final-Recipient", peer_value(v, "rfc822; ", r->final_rcpt));
	if (r->orig_rcpt != NULL)
		add_field(b, "Original-Recipient", peer_value(v, "rfc822; ", r->orig_rcpt));
	buf_printf(b, "Action: %s\r\n", m->kind == BOUNCE_FAILED ? "failed" : "delayed");
	buf_printf(b, "Status: %s\r\n", bounce_status(r, m->kind, st, sizeof st));
	if (r->remote_mta != NULL)
		add_field(b, "Remote-MTA", peer_value(v, "dns; ", r->remote_mta));
	if (r->reply_code != 0) {
		peer_value(v, "smtp; ", NULL);
		buf_printf(v, "%d ", r->reply_code);
		add_peer(v, r->reply_text);
		add_field(b, "Diagnostic-Code", buf_cstr(v));
	} else if (r->why != NULL) {
		/* no SMTP reply to quote: our own words (RFC 3464 2.3.6 allows
		 * other diagnostic types; "X-" marks ours, as Postfix does) */
		add_field(b, "Diagnostic-Code", peer_value(v, "X-Postern; ", r->why));
	}
	if (r->last_attempt != 0)
		add_date_field(b, "Last-Attempt-Date", r->last_attempt);
	if (m->kind == BOUNCE_DELAYED)
		add_date_field(b, "Will-Retry-Until", m->retry_until);
}

static void
add_status(struct buf *b, const struct bounce_msg *m)
{
	struct buf v;	/* scratch for one field value */
	buf_init(&v, PEER_TEXT_MAX + 256);
	add_field(b, "Reporting-MTA", peer_value(&v, "dns; ", m->hostname));
	if (m->queue_id != NULL)
		add_field(b, "X-Postern-Queue-ID", peer_value(&v, "", m->queue_id));
	if (m->envid != NULL)
		add_field(b, "Original-Envelope-Id", peer_value(&v, "", m->envid));
	add_date_field(b, "Arrival-Date", m->arrival);
	for (size_t i = 0; i < m->nrcpts; i++)
		add_rcpt_status(b, m, &m->rcpts[i], &v);
	buf_free(&v);
}

static void
add_top(struct buf *b, const struct bounce_msg *m)
{
	buf_printf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", m->hostname);
	buf_addstr(b, "To: <");
	add_peer(b, m->sender);
	buf_addstr(b, ">\r\n");
	buf_printf(b, "Subject: %s\r\n", m->kind == BOUNCE_FAILED
		   ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
	add_date_field(b, "Date", m->now);
	buf_printf(b, "Message-ID: <%s@%s>\r\n", m->unique, m->hostname);
	/* RFC 3834 5: keeps auto-responders from answering the report */
	buf_addstr(b, "Auto-Submitted: auto-replied\r\n");
	buf_addstr(b, "MIME-Version: 1.0\r\n");
	buf_printf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		      "\tboundary=\"=_postern_%s\"\r\n\r\n", m->unique);
	buf_addstr(b, "This is a MIME-encapsulated message.\r\n\r\n");
}

static bool
token_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == n;
}

static bool
host_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 253 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_[]:") == n;
}

int
bounce_build(const struct bounce_msg *m, bounce_read_fn *rd, void *rdarg, struct buf *out,
	     char **err_r)
{
	struct buf hdr;
	*err_r = NULL;
	if (!token_ok(m->unique) || !host_ok(m->hostname)) {
		*err_r = str_printf("bounce: bad unique token or hostname");
		return -1;
	}
	buf_init(&hdr, BOUNCE_HEADERS_MAX + READ_CHUNK);
	if (read_headers(rd, rdarg, &hdr, err_r) < 0) {
		buf_free(&hdr);
		return -1;
	}
	size_t start = out->len;
	add_top(out, m);
	buf_printf(out, "--=_postern_%s\r\n", m->unique);
	buf_addstr(out, "Content-Description: Notification\r\n"
			"Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	add_human(out, m);
	buf_printf(out, "\r\n--=_postern_%s\r\n", m->unique);
	buf_addstr(out, "Content-Description: Delivery report\r\n"
			"Content-Type: message/delivery-status\r\n\r\n");
	add_status(out, m);
	buf_printf(out, "\r\n--=_postern_%s\r\n", m->unique);
	buf_printf(out, "Content-Description: %s\r\n"
			"Content-Type: text/rfc822-headers\r\n\r\n",
		   m->kind == BOUNCE_FAILED ? "Undelivered Message Headers"
					    : "Delayed Message Headers");
	buf_add(out, hdr.p ? hdr.p : (const uint8_t *)"", hdr.len);
	int rc = buf_printf(out, "\r\n--=_postern_%s--\r\n", m->unique);
	buf_free(&hdr);
	if (rc != BUF_OK) {
		buf_truncate(out, start);
		*err_r = str_printf("bounce: report too big or out of memory");
		return -1;
	}
	return 0;
}
