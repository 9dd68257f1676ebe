/* cmd_data_from.c - check_header_from: at the end of DATA, every address
 * of every From field must belong to the authenticated user, by the same
 * rule as MAIL FROM (policy_sender_owned(), sender_login_map).
 *
 * The header section is captured while the content streams to the spool
 * (up to DATA_FROM_HEADER_MAX) and read once the message is complete.
 * Decisions:
 * - no From field at all: accepted.  RFC 5322 3.6 requires one, but a
 *   message without it claims no identity to spoof, and the envelope
 *   sender was checked at MAIL; judging RFC 5322 completeness is not
 *   this check's job (a later hop may add From from that sender).
 * - each From field counts (RFC 5322 allows one, readers differ on
 *   which of several they show); each of its addresses must be granted.
 * - what a reader could see differently than we do is refused: an
 *   address we cannot parse strictly (smtp/header.h SMTP_HEADER_STRICT,
 *   then the RFC 5321 mailbox syntax), a From field with no address (a
 *   bare group), a NUL byte, or a header section too long to read whole.
 * - display names, comments and encoded words are not addresses and are
 *   not judged (no server can tell an honest name from a lying one).
 */
#include "server/session.h"

#include <inttypes.h>
#include <string.h>

#include "smtp/addr.h"
#include "smtp/header.h"
#include "util/log.h"

/* Postfix's header_size_limit (102400): header sections that real mail
 * programs submit are a few kilobytes; the bound holds per session only
 * while its DATA runs with the check on. */
#define DATA_FROM_HEADER_MAX 102400

void
data_from_begin(struct session *s)
{
	s->hdr_on = policy_checks_header_from(s);
	s->hdr_done = false;
	if (s->hdr_on)
		buf_init(&s->hdr, DATA_FROM_HEADER_MAX);
}

void
data_from_capture(struct session *s, const uint8_t *p, size_t n)
{
	if (!s->hdr_on || s->hdr_done || n == 0)
		return;
	size_t old = s->hdr.len, room = s->hdr.max - s->hdr.len;
	if (buf_add(&s->hdr, p, n < room ? n : room) != BUF_OK) {
		s->hdr.max = s->hdr.len;	/* out of memory: refused as too long */
		return;
	}
	/* The empty line that ends the header section (content lines end
	 * in CRLF only: the DATA reader refuses bare CR and LF). */
	if (s->hdr.len >= 2 && memcmp(s->hdr.p, "\r\n", 2) == 0) {
		s->hdr_done = true;
		return;
	}
	size_t from = old >= 3 ? old - 3 : 0;
	const void *end = memmem(s->hdr.p + from, s->hdr.len - from, "\r\n\r\n", 4);
	s->hdr_done = end != NULL;
}

/* 0 when the address may appear in From; else replies and returns -1. */
static int
from_address_check(struct session *s, const char *a)
{
	char path[SMTP_PATH_MAX + 8], mailbox[SMTP_PATH_MAX + 1], safe[LOG_SAFE_MAX];
	char user[LOG_SAFE_MAX];
	const char *why = NULL;
	struct span params;
	int len = snprintf(path, sizeof path, "<%s>", a);
	log_safe(safe, sizeof safe, a, strlen(a));
	log_safe(user, sizeof user, s->auth_user, strlen(s->auth_user));
	if (len < 0 || (size_t)len >= sizeof path ||
	    smtp_path_parse((struct span){ path, (size_t)len }, false, mailbox, &params, &why) != 0 ||
	    params.n != 0 || smtp_addr_domain(mailbox)[0] == '\0') {
		log_info("session=%016" PRIx64 " header from refused client=%s user=%s from=<%s>"
			 " why=bad-address", s->id, s->addr, user, safe);
		sess_fail(s, 550, "5.7.1", "From header address <%s> cannot be checked (%s)", safe,
			  why ? why : "not an address");
		return -1;
	}
	if (!policy_sender_owned(s, mailbox)) {
		log_info("session=%016" PRIx64 " header from refused client=%s user=%s from=<%s>"
			 " why=not-owned", s->id, s->addr, user, safe);
		sess_fail(s, 550, "5.7.1", "From header address <%s> not owned by user %s", safe, user);
		return -1;
	}
	return 0;
}

/* The addresses of every From field into *list; replies and returns -1
 * when the header cannot be read exactly. */
static int
from_collect(struct session *s, const uint8_t *m, size_t n, char ***list, size_t *nl)
{
	size_t hlen = smtp_header_len(m, n), pos = 0;
	struct smtp_header_field f;
	while (smtp_header_next(m, hlen, &pos, &f)) {
		if (!smtp_header_is(m, &f, "From"))
			continue;
		size_t before = *nl;
		const char *v = (const char *)m + f.value;
		int rc = memchr(v, '\0', f.end - f.value) != NULL
				 ? -2 : smtp_header_addresses(v, f.end - f.value, SMTP_HEADER_STRICT, list, nl);
		if (rc == -1) {
			sess_reply(s, 451, "4.3.0", "Out of memory");
			return -1;
		}
		if (rc < 0 || *nl == before) {
			sess_fail(s, 550, "5.7.1", "From header cannot be checked (%s)",
				  rc < 0 ? "bad syntax" : "no address");
			return -1;
		}
	}
	return 0;
}

bool
data_from_refuse(struct session *s)
{
	if (!s->hdr_on)
		return false;
	if (!s->hdr_done && s->hdr.len >= s->hdr.max) {
		sess_fail(s, 550, "5.7.1", "Header section longer than %d octets: From cannot be checked",
			  DATA_FROM_HEADER_MAX);
		return true;
	}
	char **list = NULL;
	size_t n = 0;
	const uint8_t *m = s->hdr.p != NULL ? s->hdr.p : (const uint8_t *)"";
	int rc = from_collect(s, m, s->hdr.len, &list, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = from_address_check(s, list[i]);
	smtp_list_free(&list, n);
	return rc < 0;
}
