/* probe_cmd.c - `postern probe`: connect to a submission server, show
 * the whole conversation with SASL decoded beside it, the capabilities
 * before and after STARTTLS and the TLS certificate, and try to
 * authenticate with one mechanism, the best one, or each in turn.
 *
 * Exit status (DESIGN.md: "exit 0 only if authentication succeeded"):
 *   0   authentication succeeded (--auth all: every mechanism that
 *       could be tried succeeded, and at least one was tried)
 *   2   no --user: the server was reached and shown, nothing proven
 *   64  usage, 66 unreadable password file
 *   77  credentials refused (EX_NOPERM)
 *   otherwise the session's sysexits code (75 unreachable, 69 TLS ...)
 * Mechanisms that would send the password over a clear connection are
 * skipped, never tried: the probe follows the same rule as `send`.
 */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ui.h>

#include "client/probe.h"
#include "client/smtp_client.h"
#include "sasl/sasl.h"
#include "util/buf.h"
#include "util/str.h"

/* A probe waits for one person at a terminal: 30 s per reply instead
 * of RFC 5321's 5 minutes. */
#define PROBE_TIMEOUT_SEC 30
/* Output of one callback (an EHLO reply or a certificate). */
#define PROBE_OUT_MAX ((size_t)64 * 1024)

struct probe_args {
	enum smtp_tls_mode tls;
	const char *user;
	const char *password_file;
	const char *auth;	/* NULL, a mechanism name, or "all" */
	const char *trust_file;
	bool insecure;
	char host[256];
	unsigned port;
};

struct probe_run {
	struct event_base *base;
	struct probe_mask pm;
	bool insecure;		/* --insecure: say that a failed check is ignored */
	bool authed;
	char mech_ok[SMTP_MECH_NAME_MAX + 1];
	char auth_reply[512];
	bool failed;
	struct smtp_client_error err;
	struct smtp_ehlo caps;	/* the latest EHLO */
	bool have_caps;
};

static void
emit(struct buf *b)
{
	/* A failed write shows in ferror(stdout), checked once at the end. */
	(void)fwrite(b->p ? (const char *)b->p : "", 1, b->len, stdout);
	(void)fflush(stdout);
}

static void
on_transcript(void *arg, const struct smtp_line *l)
{
	struct probe_run *r = arg;
	struct buf b;
	buf_init(&b, (size_t)8 * SMTP_REPLY_LINE_MAX);
	if (probe_format_line(&r->pm, l, &b) == BUF_OK)
		emit(&b);
	buf_wipe_free(&b);
	/* A token mechanism's challenge is the server's error status. */
	const struct sasl_mech *m = l->mech ? sasl_mech_find(l->mech, strlen(l->mech)) : NULL;
	if (l->dir == SMTP_DIR_SERVER && (l->flags & SMTP_LINE_SASL) && m != NULL
	    && sasl_mech_uses_token(m) && l->payload_off < l->len) {
		buf_init(&b, PROBE_OUT_MAX);
		if (probe_explain_oauth_status(l->text + l->payload_off, l->len - l->payload_off,
					       &b) == 1)
			emit(&b);
		buf_free(&b);
	}
}

static void
on_caps(void *arg, const struct smtp_ehlo *caps, bool tls)
{
	struct probe_run *r = arg;
	struct buf b;
	buf_init(&b, PROBE_OUT_MAX);
	if (probe_format_caps(caps, tls, &b) == BUF_OK)
		emit(&b);
	buf_free(&b);
	r->caps = *caps;
	r->have_caps = true;
}

static void
on_tls(void *arg, const struct smtp_tls_info *ti)
{
	struct probe_run *r = arg;
	struct buf b;
	buf_init(&b, PROBE_OUT_MAX);
	if (probe_format_tls(ti, &b) == BUF_OK)
		emit(&b);
	buf_free(&b);
	if (!ti->verified && r->insecure)
		printf("TLS: --insecure: going on without a verified certificate\n");
}

static void
on_auth(void *arg, const char *mech, bool ok, const struct smtp_reply *rep)
{
	struct probe_run *r = arg;
	smtp_reply_summary(rep, r->auth_reply, sizeof r->auth_reply);
	printf("-- AUTH %s: %s\n", mech, ok ? "accepted" : "not accepted");
	const char *why = ok ? NULL : probe_explain_reply(r->auth_reply);
	if (why != NULL)
		printf("-- what this reply means: %s\n", why);
}

static void
on_ready(void *arg, struct smtp_client *c)
{
	struct probe_run *r = arg;
	const char *m = smtp_client_auth_mech(c);
	if (m != NULL) {
		r->authed = true;
		(void)snprintf(r->mech_ok, sizeof r->mech_ok, "%s", m);	/* a registry name: fits */
	}
	smtp_client_quit(c);
}

static void
on_closed(void *arg, struct smtp_client *c, const struct smtp_client_error *err)
{
	struct probe_run *r = arg;
	if (err != NULL) {
		r->failed = true;
		r->err = *err;
		printf("-- %s\n", err->msg);
	}
	event_base_loopexit(r->base, NULL);
}

/* One connection; mode/mech say how to authenticate. */
static int
probe_once(const struct probe_args *a, const char *password, enum smtp_auth_mode mode,
	   const char *mech, struct probe_run *r)
{
	memset(r, 0, sizeof *r);
	r->insecure = a->insecure;
	struct smtp_client_opts o = {
		.host = a->host, .port = a->port, .tls = a->tls, .tls_trust_file = a->trust_file,
		.tls_nocertcheck = a->insecure, .auth = mode, .auth_mech = mech, .user = a->user,
		.password = password, .timeout_sec = PROBE_TIMEOUT_SEC,
	};
	static const struct smtp_client_cbs cbs = {
		.transcript = on_transcript, .capabilities = on_caps, .tls_up = on_tls,
		.auth_result = on_auth, .ready = on_ready, .closed = on_closed,
	};
	r->base = event_base_new();
	struct smtp_client *c = r->base ? smtp_client_new(r->base, &o, &cbs, r) : NULL;
	if (c == NULL) {
		(void)fprintf(stderr, "postern probe: out of memory\n");
		if (r->base)
			event_base_free(r->base);
		return -1;
	}
	smtp_client_start(c);
	event_base_dispatch(r->base);
	smtp_client_free(&c);
	event_base_free(r->base);
	r->base = NULL;
	return 0;
}

static void
usage(FILE *f)
{
	(void)fprintf(f, "usage: postern probe [--tls | --starttls] [--user U] [--password-file F]\n"
		   "                     [--auth MECH|all] [--tls-trust-file F | --insecure] HOST[:PORT]\n");
}

/* HOST, HOST:PORT, [V6], [V6]:PORT, or a bare IPv6 address. */
static int
parse_target(const char *s, struct probe_args *a)
{
	const char *host = s, *port = NULL;
	size_t hn;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -1;
		host = s + 1;
		hn = (size_t)(close - host);
		port = close[1] == ':' ? close + 2 : NULL;
	} else {
		const char *colon = strchr(s, ':');
		bool v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
		hn = colon && !v6 ? (size_t)(colon - s) : strlen(s);
		port = colon && !v6 ? colon + 1 : NULL;
	}
	if (hn == 0 || hn >= sizeof a->host)
		return -1;
	memcpy(a->host, host, hn);
	a->host[hn] = '\0';
	/* RFC 8314 3.3 (465 submissions), RFC 6409 3.1 (587), else 25. */
	a->port = a->tls == SMTP_TLS_IMPLICIT ? 465 : a->tls == SMTP_TLS_STARTTLS ? 587 : 25;
	if (port != NULL) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (*port == '\0' || *end != '\0' || p == 0 || p > 65535)
			return -1;
		a->port = (unsigned)p;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct probe_args *a)
{
	enum { O_TLS = 1, O_STARTTLS, O_USER, O_PWFILE, O_AUTH, O_TRUST, O_INSECURE, O_HELP };
	static const struct option longopts[] = {
		{ "tls", no_argument, NULL, O_TLS }, { "starttls", no_argument, NULL, O_STARTTLS },
		{ "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ "auth", required_argument, NULL, O_AUTH },
		{ "tls-trust-file", required_argument, NULL, O_TRUST },
		{ "insecure", no_argument, NULL, O_INSECURE }, { "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_TLS: a->tls = SMTP_TLS_IMPLICIT; break;
		case O_STARTTLS: a->tls = SMTP_TLS_STARTTLS; break;
		case O_USER: a->user = optarg; break;
		case O_PWFILE: a->password_file = optarg; break;
		case O_AUTH: a->auth = optarg; break;
		case O_TRUST: a->trust_file = optarg; break;
		case O_INSECURE: a->insecure = true; break;
		case 'h': case O_HELP: usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc - 1) {
		(void)fprintf(stderr, "postern probe: give exactly one HOST[:PORT]\n");
		return -1;
	}
	if (a->insecure && a->trust_file != NULL) {
		(void)fprintf(stderr, "postern probe: --insecure and --tls-trust-file exclude each other\n");
		return -1;
	}
	if (a->auth != NULL && a->user == NULL) {
		(void)fprintf(stderr, "postern probe: --auth %s needs --user\n", a->auth);
		return -1;
	}
	if (parse_target(argv[optind], a) != 0) {
		(void)fprintf(stderr, "postern probe: '%s' is not HOST[:PORT]\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* The first line of f (file name or stdin), without its line end. */
static char *
read_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* --password-file F, else a prompt at a terminal, else stdin's first line. */
static int
get_password(const struct probe_args *a, char **pw_r)
{
	*pw_r = NULL;
	if (a->password_file != NULL) {
		FILE *f = fopen(a->password_file, "r");
		if (f == NULL || (*pw_r = read_line(f)) == NULL) {
			(void)fprintf(stderr, "postern probe: %s: cannot read the password\n", a->password_file);
			if (f)
				(void)fclose(f);	/* read only: nothing to lose */
			return EX_NOINPUT;
		}
		(void)fclose(f);
		return 0;
	}
	if (isatty(STDIN_FILENO)) {
		char buf[SASL_PASS_MAX + 1];
		char prompt[320];
		/* A long user name only shortens the prompt. */
		(void)snprintf(prompt, sizeof prompt, "Password for %s at %s: ", a->user, a->host);
		if (EVP_read_pw_string(buf, sizeof buf, prompt, 0) != 0) {
			OPENSSL_cleanse(buf, sizeof buf);
			return EX_NOINPUT;
		}
		*pw_r = strdup(buf);
		OPENSSL_cleanse(buf, sizeof buf);
		return *pw_r ? 0 : EX_OSERR;
	}
	if ((*pw_r = read_line(stdin)) == NULL) {
		(void)fprintf(stderr, "postern probe: no password on standard input\n");
		return EX_NOINPUT;
	}
	return 0;
}

struct probe_row {
	char mech[SMTP_MECH_NAME_MAX + 1];
	const char *result;	/* "ok", "refused", "skipped", "error" */
	char reply[1100];	/* an auth reply summary or an error message */
	int exit;
};

/* Known mechanisms strongest first, then the ones postern cannot speak. */
static size_t
order_mechs(const struct smtp_ehlo *caps, const char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const char *name = sasl_mech_name(sasl_mech_at(i));
		if (smtp_ehlo_offers_mech(caps, name))
			out[n++] = name;
	}
	for (size_t i = 0; i < caps->nmechs; i++)
		if (sasl_mech_find(caps->mechs[i], strlen(caps->mechs[i])) == NULL)
			out[n++] = caps->mechs[i];
	return n;
}

static void
try_mech(const struct probe_args *a, const char *pw, const char *mech, struct probe_row *row)
{
	struct probe_run r;
	/* The table is for reading: a long reply may be cut. */
	(void)snprintf(row->mech, sizeof row->mech, "%s", mech);
	if (sasl_mech_find(mech, strlen(mech)) == NULL) {
		row->result = "skipped";
		(void)snprintf(row->reply, sizeof row->reply, "not implemented by postern");
		return;
	}
	printf("\n=== AUTH %s ===\n", mech);
	probe_once(a, pw, SMTP_AUTH_MECH, mech, &r);
	if (r.authed) {
		row->result = "ok";
		(void)snprintf(row->reply, sizeof row->reply, "%s", r.auth_reply);
		return;
	}
	bool insecure = r.failed && r.err.kind == SMTP_FAIL_INSECURE;
	row->result = insecure ? "skipped" : r.failed && r.err.kind == SMTP_FAIL_AUTH ? "refused" : "error";
	row->exit = insecure ? 0 : r.failed ? smtp_client_error_sysexit(&r.err) : EX_SOFTWARE;
	(void)snprintf(row->reply, sizeof row->reply, "%s", r.auth_reply[0] && !insecure ? r.auth_reply
						     : r.failed ? r.err.msg : "?");
}

static int
probe_all(const struct probe_args *a, const char *pw)
{
	struct probe_run r;
	printf("=== capabilities ===\n");
	probe_once(a, NULL, SMTP_AUTH_OFF, NULL, &r);
	if (r.failed)
		return smtp_client_error_sysexit(&r.err);
	const char *mechs[SMTP_EHLO_MECHS_MAX];
	size_t n = order_mechs(&r.caps, mechs);
	struct probe_row rows[SMTP_EHLO_MECHS_MAX];
	memset(rows, 0, sizeof rows);
	for (size_t i = 0; i < n; i++)
		try_mech(a, pw, mechs[i], &rows[i]);
	printf("\n%-22s %-8s %s\n", "MECHANISM", "RESULT", "REPLY");
	size_t tried = 0, good = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		printf("%-22s %-8s %s\n", rows[i].mech, rows[i].result, rows[i].reply);
		if (strcmp(rows[i].result, "skipped") == 0)
			continue;
		tried++;
		good += strcmp(rows[i].result, "ok") == 0;
		if (rows[i].exit != 0 && (rc == 0 || rows[i].exit == EX_NOPERM))
			rc = rows[i].exit;
	}
	printf("%zu of %zu mechanisms tried, %zu succeeded\n", tried, n, good);
	if (tried == 0) {
		(void)fprintf(stderr, "postern probe: %s:%u: no mechanism could be tried\n", a->host, a->port);
		return EX_UNAVAILABLE;
	}
	return good == tried ? 0 : rc;
}

static int
probe_single(const struct probe_args *a, const char *pw)
{
	struct probe_run r;
	enum smtp_auth_mode mode = a->user == NULL ? SMTP_AUTH_OFF
				   : a->auth != NULL ? SMTP_AUTH_MECH : SMTP_AUTH_AUTO;
	probe_once(a, pw, mode, a->auth, &r);
	if (r.failed) {
		/* The transcript went to stdout; the verdict also goes where
		 * scripts look for errors. */
		(void)fprintf(stderr, "postern probe: %s\n", r.err.msg);
		return smtp_client_error_sysexit(&r.err);
	}
	if (a->user == NULL) {
		printf("-- no --user given: authentication not tried (exit 2)\n");
		return 2;
	}
	if (!r.authed)
		return EX_SOFTWARE;
	printf("-- authenticated as %s with %s\n", a->user, r.mech_ok);
	return 0;
}

int
cmd_probe(int argc, char **argv)
{
	struct probe_args a = { .tls = SMTP_TLS_NONE };
	if (parse_args(argc, argv, &a) != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	char *pw = NULL;
	if (a.user != NULL) {
		int rc = get_password(&a, &pw);
		if (rc != 0)
			return rc;
	}
	printf("probe %s:%u (%s)\n", a.host, a.port,
	       a.tls == SMTP_TLS_IMPLICIT ? "implicit TLS" : a.tls == SMTP_TLS_STARTTLS ? "STARTTLS" : "no TLS");
	bool all = a.auth != NULL && strcasecmp(a.auth, "all") == 0;
	int rc = all ? probe_all(&a, pw) : probe_single(&a, pw);
	str_wipe_free(&pw);
	/* The transcript is the product: a full disk or closed pipe is an error. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		(void)fprintf(stderr, "postern probe: cannot write the transcript: %s\n", strerror(errno));
		return rc != 0 ? rc : EX_IOERR;
	}
	return rc;
}
