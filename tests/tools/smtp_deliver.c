/* smtp_deliver.c - a test driver for the client session as the queue
 * runner will use it: one message from a file, sent byte for byte (no
 * line-end normalisation: relay mode), over SMTP or LMTP, TCP or a UNIX
 * socket, with the MAIL/RCPT parameters a relay passes on; prints the
 * result per recipient and the session's end, one line each:
 *
 *   rcpt <addr> delivered=1 class=ok rcpt=250 data=250 <reply>
 *   message delivered=1 ndelivered=1 class=ok stage=data code=250 added_crlf=0
 *   closed ok | closed class=temporary stage=tls sysexit=69 <message>
 *
 * Exit: 0 when every recipient was delivered, 1 otherwise, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/smtp_client.h"

struct tool {
	struct smtp_msg msg;
	int fd;
	bool all_delivered;
	bool sent;
	const char *notify, *orcpt;
	const char **notify_v, **orcpt_v;
};

static int
fd_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r)
{
	struct tool *t = arg;
	ssize_t n = read(t->fd, buf, cap);
	if (n < 0)
		return -1;
	*n_r = (size_t)n;
	return 0;
}

static void
transcript(void *arg, const struct smtp_line *l)
{
	const char *dir = l->dir == SMTP_DIR_CLIENT ? "C: " : l->dir == SMTP_DIR_SERVER ? "S: " : "N: ";
	(void)fprintf(stderr, "%s%.*s\n", dir, (int)l->len, l->text);
}

static void
on_ready(void *arg, struct smtp_client *c)
{
	struct tool *t = arg;
	if (t->sent || smtp_client_send(c, &t->msg) != 0) {
		if (!t->sent)
			printf("send refused the message (caller error)\n");
		smtp_client_quit(c);
		return;
	}
	t->sent = true;
}

static void
on_sent(void *arg, struct smtp_client *c, const struct smtp_send_result *r)
{
	struct tool *t = arg;
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct smtp_rcpt_result *rr = &r->rcpts[i];
		printf("rcpt %s delivered=%d class=%s rcpt=%d data=%d %s\n", rr->rcpt, rr->delivered,
		       smtp_class_name(rr->cls), rr->code, rr->data_code,
		       rr->data_code ? rr->data_text : rr->text);
	}
	printf("message delivered=%d ndelivered=%zu class=%s stage=%s code=%d added_crlf=%d %s\n",
	       r->delivered, r->ndelivered, smtp_class_name(r->cls), smtp_stage_name(r->stage), r->code,
	       r->added_crlf, r->text);
	t->all_delivered = r->ndelivered == r->nrcpts;
	smtp_client_quit(c);
}

static void
on_closed(void *arg, struct smtp_client *c, const struct smtp_client_error *e)
{
	if (e == NULL)
		printf("closed ok\n");
	else
		printf("closed class=%s stage=%s sysexit=%d %s\n", smtp_class_name(e->cls),
		       smtp_stage_name(e->stage), smtp_client_error_sysexit(e), e->msg);
	(void)fflush(stdout);
}

static enum smtp_tls_mode
tls_mode(const char *s)
{
	if (strcmp(s, "may") == 0)
		return SMTP_TLS_OPPORTUNISTIC;
	if (strcmp(s, "starttls") == 0)
		return SMTP_TLS_STARTTLS;
	if (strcmp(s, "implicit") == 0)
		return SMTP_TLS_IMPLICIT;
	return SMTP_TLS_NONE;
}

static int
run(struct smtp_client_opts *o, struct tool *t)
{
	struct event_base *base = event_base_new();
	struct smtp_client_cbs cbs = {
		.transcript = getenv("SMTP_DELIVER_VERBOSE") ? transcript : NULL,
		.ready = on_ready, .sent = on_sent, .closed = on_closed,
	};
	struct smtp_client *c = base ? smtp_client_new(base, o, &cbs, t) : NULL;
	if (c == NULL)
		return 2;
	smtp_client_start(c);
	event_base_dispatch(base);
	smtp_client_free(&c);
	event_base_free(base);
	return t->all_delivered ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "lmtp", no_argument, NULL, 'L' }, { "unix", required_argument, NULL, 'U' },
		{ "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'P' },
		{ "tls", required_argument, NULL, 'T' }, { "trust", required_argument, NULL, 'C' },
		{ "auth-param", required_argument, NULL, 'A' }, { "size", required_argument, NULL, 'S' },
		{ "8bit", no_argument, NULL, '8' }, { "strict-8bit", no_argument, NULL, 's' },
		{ "ret", required_argument, NULL, 'R' }, { "envid", required_argument, NULL, 'E' },
		{ "notify", required_argument, NULL, 'N' }, { "orcpt", required_argument, NULL, 'O' },
		{ "user", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'f' }, { "file", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct smtp_client_opts o = { .host = "127.0.0.1", .port = 25, .helo_name = "client.test",
				      .timeout_sec = 30 };
	struct tool t = { .fd = -1 };
	const char *file = NULL;
	bool size_set = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'L': o.protocol = SMTP_PROTO_LMTP; break;
		case 'U': o.unix_path = optarg; break;
		case 'H': o.host = optarg; break;
		case 'P': o.port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': o.tls = tls_mode(optarg); break;
		case 'C': o.tls_trust_file = optarg; break;
		case 'A': t.msg.auth = optarg; break;
		case 'S': t.msg.size = strtoull(optarg, NULL, 10); size_set = true; break;
		case '8': t.msg.eightbit = true; break;
		case 's': t.msg.strict_8bit = true; break;
		case 'R': t.msg.dsn_ret = optarg; break;
		case 'E': t.msg.dsn_envid = optarg; break;
		case 'N': t.notify = optarg; break;
		case 'O': t.orcpt = optarg; break;
		case 'u': o.user = optarg; o.auth = SMTP_AUTH_AUTO; break;
		case 'p': o.password = optarg; break;
		case 'f': t.msg.from = optarg; break;
		case 'F': file = optarg; break;
		default: return 2;
		}
	}
	if (t.msg.from == NULL || file == NULL || optind >= argc) {
		(void)fprintf(stderr, "usage: smtp_deliver [options] --from F --file PATH RCPT...\n");
		return 2;
	}
	t.fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (t.fd < 0 || fstat(t.fd, &st) != 0) {
		(void)fprintf(stderr, "smtp_deliver: %s: %s\n", file, strerror(errno));
		return 2;
	}
	if (!size_set)
		t.msg.size = (uint64_t)st.st_size;
	t.msg.rcpts = (const char *const *)(argv + optind);
	t.msg.nrcpts = (size_t)(argc - optind);
	t.notify_v = calloc(t.msg.nrcpts, sizeof *t.notify_v);
	t.orcpt_v = calloc(t.msg.nrcpts, sizeof *t.orcpt_v);
	if (t.notify_v == NULL || t.orcpt_v == NULL)
		return 2;
	for (size_t i = 0; i < t.msg.nrcpts; i++) {
		t.notify_v[i] = t.notify;
		t.orcpt_v[i] = t.orcpt;
	}
	t.msg.rcpt_notify = t.notify ? t.notify_v : NULL;
	t.msg.rcpt_orcpt = t.orcpt ? t.orcpt_v : NULL;
	t.msg.body = (struct smtp_body_src){ .read = fd_read, .arg = &t };
	int rc = run(&o, &t);
	free(t.notify_v);
	free(t.orcpt_v);
	(void)close(t.fd);
	return rc;
}
