/* send_cmd.c - `postern send` (and `sendmail`): the sendmail command
 * line, the account from the msmtprc-style config, the message from
 * stdin, one client session, and sysexits.h exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli/commands.h"
#include "client/aliases.h"
#include "client/config.h"
#include "client/message.h"
#include "client/outbox.h"
#include "client/send_input.h"
#include "client/sendlog.h"
#include "smtp/header.h"
#include "client/smtp_client.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* Largest message the outbox takes (sending directly has no limit of
 * its own: the server's SIZE decides). */
#define SEND_MSG_MAX OUTBOX_MSG_MAX

struct send_args {
	const char *conf, *account, *from, *fullname;
	bool read_rcpts, verbose;
	char **rcpts;		/* malloc'd list */
	size_t nrcpts;
};

static const char *prog = "postern send";

static void
die_note(const struct send_args *a, const char *opt)
{
	/* Emacs treats any output of sendmail as a failure: notes only
	 * under -v. */
	if (a->verbose)
		(void)fprintf(stderr, "%s: ignoring option %s\n", prog, opt);
}

static int
add_rcpt(struct send_args *a, const char *r)
{
	/* sendmail accepts "a@x, Bob <b@y>" in one argument too; a plain
	 * argument is taken as written (and checked later). */
	if (strpbrk(r, ",<") != NULL)
		return smtp_header_addresses(r, strlen(r), 0, &a->rcpts, &a->nrcpts);
	return smtp_list_add(&a->rcpts, &a->nrcpts, r, strlen(r));
}

/* Value of "-fX" or "-f X"; advances *i. NULL when missing. */
static const char *
opt_value(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int
parse_long(struct send_args *a, const char *s)
{
	if (strncmp(s, "--file=", 7) == 0) a->conf = s + 7;
	else if (strncmp(s, "--account=", 10) == 0) a->account = s + 10;
	else if (strncmp(s, "--from=", 7) == 0) a->from = s + 7;
	else if (strcmp(s, "--read-recipients") == 0) a->read_rcpts = true;
	else if (strcmp(s, "--read-envelope-from") == 0) die_note(a, s);
	else {
		(void)fprintf(stderr, "%s: unknown option %s\n", prog, s);
		return EX_USAGE;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct send_args *a)
{
	int i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *s = argv[i];
		const char *v = NULL;
		if (strcmp(s, "--") == 0) {
			i++;
			break;
		}
		if (s[1] == '-') {
			if (parse_long(a, s) != 0)
				return EX_USAGE;
			continue;
		}
		switch (s[1]) {
		case 't': a->read_rcpts = true; break;
		case 'i': break;	/* a lone dot never ends our input */
		case 'v': a->verbose = true; break;
		case 'C': case 'a': case 'f': case 'r': case 'F':
		case 'N': case 'R': case 'V': case 'X': case 'L': case 'B': case 'O':
			if ((v = opt_value(argc, argv, &i)) == NULL) {
				(void)fprintf(stderr, "%s: option -%c needs an argument\n", prog, s[1]);
				return EX_USAGE;
			}
			if (s[1] == 'C') a->conf = v;
			else if (s[1] == 'a') a->account = v;
			else if (s[1] == 'f' || s[1] == 'r') a->from = v;
			else if (s[1] == 'F') a->fullname = v;
			else die_note(a, s);
			break;
		case 'o':	/* -oi, -oem, -odb ...: sendmail tuning */
			if (strcmp(s, "-oi") != 0)
				die_note(a, s);
			break;
		case 'U': case 'G': case 'n': case 'm': die_note(a, s); break;
		case 'b': case 'q': case 'I': case 'h': case 'd': case 'p':
			if (strcmp(s, "-bm") == 0)
				break;	/* "deliver mail": what we do */
			(void)fprintf(stderr, "%s: %s is not supported\n", prog, s);
			return EX_USAGE;
		default:
			(void)fprintf(stderr, "%s: unknown option %s\n", prog, s);
			return EX_USAGE;
		}
	}
	for (; i < argc; i++)
		if (add_rcpt(a, argv[i]) != 0)
			return EX_OSERR;
	return 0;
}

static int
load_account(const struct send_args *a, struct client_config *cfg,
	     const struct client_account **acct_r)
{
	char *err = NULL, *tried = NULL;
	char *path = a->conf ? strdup(a->conf) : client_config_default_path(&tried);
	if (path == NULL) {
		(void)fprintf(stderr, "%s: no configuration file (%s); use -C FILE\n", prog,
			tried ? tried : "?");
		free(tried);
		return EX_CONFIG;
	}
	int rc = client_config_load(cfg, path, &err);
	free(path);
	if (rc != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_CONFIG;
	}
	const char *name = a->account;
	/* msmtp: with -f and no -a, the account whose from matches. */
	if (name == NULL && a->from)
		name = client_config_find_by_from(cfg, a->from);
	*acct_r = client_config_account(cfg, name, &err);
	if (*acct_r == NULL) {
		(void)fprintf(stderr, "%s: %s\n", prog, err);
		free(err);
		return EX_CONFIG;
	}
	if ((*acct_r)->host == NULL) {
		(void)fprintf(stderr, "%s: %s:%u: account %s has no host\n", prog,
			(*acct_r)->file ? (*acct_r)->file : cfg->path, (*acct_r)->line,
			(*acct_r)->name ? (*acct_r)->name : "default");
		return EX_CONFIG;
	}
	return 0;
}

/* The message as it will be sent, edited as the account says (msmtp's
 * set_from_header, set_date_header, remove_bcc_headers,
 * undisclosed_recipients; by default: without Bcc, with From and Date
 * added when missing, what msmtp and sendmail do for scripts that write
 * bare bodies).  Also collects the -t recipients. */
static int
build_message(struct send_args *a, const struct client_account *acct, const char *from,
	      const struct buf *in, struct buf *out)
{
	const uint8_t *m = in->p ? in->p : (const uint8_t *)"";
	char **hdr = NULL;
	size_t nhdr = 0;
	if (a->read_rcpts && message_header_rcpts(m, in->len, &hdr, &nhdr, NULL) != 0)
		return EX_OSERR;
	for (size_t i = 0; i < nhdr; i++)
		if (add_rcpt(a, hdr[i]) != 0)
			return EX_OSERR;
	smtp_list_free(&hdr, nhdr);
	struct message_edit e = {
		.from = from, .fullname = a->fullname,
		.add_from = acct->set_from_header == CLIENT_FROM_AUTO,
		.replace_from = acct->set_from_header == CLIENT_FROM_ON,
		.add_date = acct->set_date_header, .drop_bcc = acct->remove_bcc_headers,
		.undisclosed = acct->undisclosed_recipients,
	};
	return message_edit(m, in->len, &e, out) == BUF_OK ? 0 : EX_DATAERR;
}

static bool
addr_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 254)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return strchr(s, '@') != NULL;
}

/* ---- the session ---- */

struct run {
	const struct send_args *args;
	struct smtp_msg msg;
	bool sent, delivered;
	int exit;
	struct smtp_client_error err;
	bool failed;
	int code;		/* the reply that decided a failure, for the log */
	char reply[512];
	bool queued;		/* into the outbox, not sent: nothing to log */
};

static void
verbose_line(void *arg, const struct smtp_line *l)
{
	const char *dir = l->dir == SMTP_DIR_CLIENT ? "--> " : l->dir == SMTP_DIR_SERVER ? "<-- " : "";
	size_t show = l->len;
	bool mask = (l->flags & SMTP_LINE_SECRET) != 0;
	if (mask && l->payload_off < l->len)
		show = l->payload_off;
	size_t cap = show * 4 + 16;
	char *safe = malloc(cap);
	if (safe == NULL)
		return;
	log_safe(safe, cap, l->text, show);
	(void)fprintf(stderr, "%s%s%s%s\n", l->dir == SMTP_DIR_NOTE ? "postern: " : "", dir, safe,
		mask ? "********" : "");
	free(safe);
}

static void
on_ready(void *arg, struct smtp_client *c)
{
	struct run *r = arg;
	if (r->sent || smtp_client_send(c, &r->msg) != 0) {
		smtp_client_quit(c);
		return;
	}
	r->sent = true;
}

static int
report_rcpts(struct run *r, struct smtp_client *c, const struct smtp_send_result *res)
{
	int worst = 0;
	for (size_t i = 0; i < res->nrcpts; i++) {
		const struct smtp_rcpt_result *rr = &res->rcpts[i];
		if (rr->code / 100 == 2)
			continue;
		(void)fprintf(stderr, "%s: %s: recipient <%s> refused: %s\n", prog, smtp_client_peer(c),
			rr->rcpt, rr->code ? rr->text : "not sent");
		int ex = rr->code / 100 == 4 ? EX_TEMPFAIL : EX_UNAVAILABLE;
		if (worst == 0 || ex == EX_UNAVAILABLE)
			worst = ex;
		if (worst == ex && rr->code != 0) {	/* the log names the worst refusal */
			r->code = rr->code;
			(void)snprintf(r->reply, sizeof r->reply, "%s", rr->text);
		}
	}
	return worst;
}

static void
on_sent(void *arg, struct smtp_client *c, const struct smtp_send_result *res)
{
	struct run *r = arg;
	int rc = report_rcpts(r, c, res);
	r->delivered = res->delivered;
	if (!res->delivered) {
		(void)fprintf(stderr, "%s: %s: message not sent: %s\n", prog, smtp_client_peer(c),
			res->text[0] ? res->text : "no recipient accepted");
		rc = res->code / 100 == 4 ? EX_TEMPFAIL : rc ? rc : EX_UNAVAILABLE;
		if (res->code != 0) {
			r->code = res->code;
			(void)snprintf(r->reply, sizeof r->reply, "%s", res->text);
		}
	}
	r->exit = rc;
	smtp_client_quit(c);
}

static void
on_closed(void *arg, struct smtp_client *c, const struct smtp_client_error *err)
{
	struct run *r = arg;
	if (err != NULL && !r->delivered) {
		r->err = *err;
		r->failed = true;
	}
}

static int
run_session(const struct smtp_client_opts *o, struct run *r)
{
	struct event_base *base = event_base_new();
	if (base == NULL)
		return EX_OSERR;
	struct smtp_client_cbs cbs = {
		.transcript = r->args->verbose ? verbose_line : NULL,
		.ready = on_ready, .sent = on_sent, .closed = on_closed,
	};
	struct smtp_client *c = smtp_client_new(base, o, &cbs, r);
	if (c == NULL) {
		event_base_free(base);
		return EX_OSERR;
	}
	smtp_client_start(c);
	event_base_dispatch(base);
	smtp_client_free(&c);
	event_base_free(base);
	return 0;
}

/* Into the outbox: the prepared message, loaded whole (the outbox's
 * record format holds it in one piece; capped by SEND_MSG_MAX). */
static int
queue_it(const struct client_account *acct, const struct client_config *cfg, const struct smtp_msg *m,
	 struct send_input *inp, const char *why)
{
	struct outbox *ob = NULL;
	char *err = NULL, id[OUTBOX_ID_MAX + 1];
	struct buf data;
	buf_init(&data, SEND_MSG_MAX);
	int rc = send_input_load(inp, &data);
	if (rc != BUF_OK) {
		(void)fprintf(stderr, "%s: cannot queue the message: %s\n", prog,
			      rc == BUF_TOOBIG ? "larger than the outbox takes" : "cannot read it back");
		buf_free(&data);
		return rc == BUF_TOOBIG ? EX_DATAERR : EX_IOERR;
	}
	char *cfgpath = realpath(cfg->path, NULL);
	rc = outbox_open(&ob, NULL, &err);
	if (rc == 0)
		rc = outbox_add(ob, acct->name ? acct->name : "default", cfgpath, m->from, m->rcpts,
				m->nrcpts, data.p ? data.p : (const uint8_t *)"", data.len, id, &err);
	free(cfgpath);
	outbox_close(&ob);
	buf_free(&data);
	if (rc != 0) {
		(void)fprintf(stderr, "%s: cannot queue the message: %s\n", prog, err);
		free(err);
		return EX_CANTCREAT;
	}
	(void)fprintf(stderr, "%s: %s; queued as %s (postern outbox flush sends it)\n", prog, why, id);
	return 0;
}

/* Sends m (or queues it); returns the exit code and fills the log's
 * view of what happened. */
static int
deliver(const struct send_args *a, const struct client_config *cfg,
	const struct client_account *acct, const struct smtp_msg *m, struct send_input *inp,
	struct client_send_outcome *out, struct run *r)
{
	r->queued = true;
	if (acct->queue == CLIENT_QUEUE_ALWAYS)
		return queue_it(acct, cfg, m, inp, "queue always");
	r->queued = false;
	char *pw = NULL, *err = NULL;
	struct smtp_client_opts o;
	int orc = client_account_opts(acct, &o, &pw, &err);
	if (orc == -2 && err != NULL && acct->queue == CLIENT_QUEUE_ON_FAILURE) {
		/* The token can be renewed (oauth login) and the mail sent later. */
		r->queued = true;
		int qrc = queue_it(acct, cfg, m, inp, err);
		free(err);
		return qrc;
	}
	if (orc != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err ? err : "cannot get the password");
		free(err);
		return orc == -2 ? EX_NOPERM : EX_CONFIG;
	}
	*r = (struct run){ .args = a, .msg = *m };
	int rc = run_session(&o, r);
	str_wipe_free(&pw);
	if (rc != 0)
		return rc;
	if (r->failed) {
		out->smtp_code = r->err.code;
		out->smtp_msg = r->err.reply[0] ? r->err.reply : NULL;
		out->errmsg = r->err.msg;
		/* queue on-failure keeps what a retry may fix: the exit code
		 * says so (a TLS failure is temporary for the queue runner,
		 * but a sendmail user fixes the setup first). */
		if (acct->queue == CLIENT_QUEUE_ON_FAILURE && smtp_client_error_sysexit(&r->err) == EX_TEMPFAIL) {
			r->queued = true;
			return queue_it(acct, cfg, m, inp, r->err.msg);
		}
		(void)fprintf(stderr, "%s: %s\n", prog, r->err.msg);
		return smtp_client_error_sysexit(&r->err);
	}
	out->smtp_code = r->code;
	out->smtp_msg = r->code ? r->reply : NULL;
	if (r->exit == EX_TEMPFAIL && !r->delivered && acct->queue == CLIENT_QUEUE_ON_FAILURE) {
		r->queued = true;
		return queue_it(acct, cfg, m, inp, "the server answered 4xx");
	}
	if (r->exit != 0)
		out->errmsg = r->reply[0] ? r->reply : "message not sent";
	return r->exit;
}

/* The envelope sender, msmtp's order: -f (unless allow_from_override
 * is off), else auto_from's $USER@maildomain, else `from`, else the
 * message's From header.  Returns a malloc'd address or NULL. */
static char *
envelope_from(const struct send_args *a, const struct client_account *acct, const struct buf *in)
{
	if (a->from && acct->allow_from_override)
		return strdup(a->from);
	if (acct->auto_from) {
		const char *u = getenv("USER");
		if (u == NULL || *u == '\0')
			u = getenv("LOGNAME");
		if (u != NULL && *u != '\0')
			return acct->maildomain && *acct->maildomain
				? str_printf("%s@%s", u, acct->maildomain) : strdup(u);
	}
	/* a pattern ("*@example.test") picks the account; it is no address */
	if (acct->from && !client_from_is_pattern(acct->from))
		return strdup(acct->from);
	return message_header_address(in->p ? in->p : (const uint8_t *)"", in->len, "From");
}

static void
print_notes(const struct send_args *a, const struct client_config *cfg)
{
	/* Only under -v: Emacs, mutt and git take any output as failure. */
	for (size_t i = 0; a->verbose && i < cfg->nnotes; i++)
		(void)fprintf(stderr, "%s: %s\n", prog, cfg->notes[i]);
}

/* The message and its recipients, ready for deliver(). */
static int
prepare(struct send_args *a, const struct client_account *acct, const char *from,
	const struct buf *in, struct buf *msg)
{
	if (from == NULL) {
		(void)fprintf(stderr, "%s: no envelope sender: use -f, 'from' in the account, "
			"or a From: header\n", prog);
		return EX_DATAERR;
	}
	int rc = build_message(a, acct, from, in, msg);
	char *err = NULL;
	if (rc == 0 && acct->aliases &&
	    client_aliases_expand(acct->aliases, &a->rcpts, &a->nrcpts, &err) != 0) {
		(void)fprintf(stderr, "%s: aliases: %s\n", prog, err ? err : "out of memory");
		free(err);
		return EX_CONFIG;
	}
	if (rc == 0 && a->nrcpts == 0) {
		(void)fprintf(stderr, "%s: no recipients (give them as arguments or use -t)\n", prog);
		return EX_DATAERR;
	}
	for (size_t i = 0; rc == 0 && i < a->nrcpts + 1; i++) {
		const char *ad = i < a->nrcpts ? a->rcpts[i] : from;
		if (!addr_ok(ad) && !(i == a->nrcpts && *ad == '\0')) {
			(void)fprintf(stderr, "%s: bad address '%s'\n", prog, ad);
			rc = EX_DATAERR;
		}
	}
	return rc;
}

/* Reads stdin, edits and normalises it into inp's temporary file:
 * the message and its recipients, ready for deliver(). */
static int
read_message(struct send_args *a, const struct client_account *acct, struct send_input *inp,
	     char **from_r)
{
	if (send_input_read_head(inp, stdin) != 0) {
		(void)fprintf(stderr, "%s: cannot read the message from stdin: %s\n", prog,
			      strerror(errno));
		return EX_NOINPUT;
	}
	*from_r = envelope_from(a, acct, &inp->head);
	struct buf edited;
	buf_init(&edited, SEND_HEADER_MAX + 4096);
	int rc = prepare(a, acct, *from_r, &inp->head, &edited);
	char *err = NULL;
	bool read_err = false;
	if (rc == 0 && send_input_spool(inp, stdin, &edited, &err, &read_err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err ? err : "out of memory");
		rc = read_err ? EX_NOINPUT : EX_IOERR;
	}
	free(err);
	buf_free(&edited);
	return rc;
}

static int
send_main(struct send_args *a)
{
	struct client_config cfg;
	const struct client_account *acct = NULL;
	struct send_input inp;
	int rc = load_account(a, &cfg, &acct);
	if (rc != 0)
		return rc;
	print_notes(a, &cfg);
	send_input_init(&inp);
	char *from = NULL;
	rc = read_message(a, acct, &inp, &from);
	struct client_send_outcome out = { .from = from, .rcpts = (const char *const *)a->rcpts,
					   .nrcpts = a->nrcpts };
	struct run r = { .queued = false };
	if (rc == 0) {
		/* postern send's content is the user's: 8-bit goes out as it
		 * is to a server without 8BITMIME (strict_8bit off). */
		struct smtp_msg m = { .from = from, .rcpts = (const char *const *)a->rcpts,
				      .nrcpts = a->nrcpts, .body = send_input_source(&inp),
				      .size = inp.size, .eightbit = inp.eightbit };
		rc = deliver(a, &cfg, acct, &m, &inp, &out, &r);
	}
	if (!r.queued) {
		out.exitcode = rc;
		/* msmtp's mailsize counts a line end as one byte */
		out.mailsize = (size_t)(inp.size - inp.lines);
		client_sendlog(acct, &out);
	}
	free(from);
	send_input_free(&inp);
	client_config_free(&cfg);
	return rc;
}

int
cmd_send(int argc, char **argv)
{
	struct send_args a = { 0 };
	const char *self = strrchr(argv[0], '/');
	if (strcmp(self ? self + 1 : argv[0], "sendmail") == 0)
		prog = "sendmail";
	int rc = parse_args(argc, argv, &a);
	if (rc == 0)
		rc = send_main(&a);
	smtp_list_free(&a.rcpts, a.nrcpts);
	return rc;
}
