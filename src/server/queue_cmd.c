/* queue_cmd.c - `postern queue`: inspect and manage the spool.
 *
 *	postern queue [-c FILE] list | show ID | delete ID | flush
 *
 * The spool is the `spool` key of the server config (relative to the
 * config's folder; default config /etc/postern/postern.conf).  The
 * spool is opened read-only in spirit: nothing is created and tmp/ is
 * left alone, since a running server may be writing there.
 *
 * list	one line per message still queued, oldest first:
 *	ID ARRIVAL SIZE SENDER USER RCPT[,RCPT...] [TORN: why]
 *	ARRIVAL is ISO 8601 UTC, SENDER is "<>" for the null sender, USER
 *	is "-" when the client did not authenticate; under it one line per
 *	recipient, indented by two spaces:
 *	  RCPT STATE attempts=N next=TIME|- reply=TEXT|-
 *	STATE is pending, delivered, deferred or failed; then "N messages".
 * show	the envelope as "key: value" lines, a blank line, the content.
 * delete	removes the message.
 * flush	the running server's queue runner tries every deferred
 *	recipient now; with no server running it says so and exits 69
 *	(EX_UNAVAILABLE), so that scripts do not take it for a success.
 * list, delete and flush talk to the running server through its
 * control socket (runner_ctl.c); with no server (no socket, or ECONNREFUSED)
 * they work on the spool directly.
 * Exit codes: 0 ok, 1 error (message names the file or the id, or says
 * that standard output could not be written), 64 usage, 69 flush.
 *
 * Output to stdout is not checked call by call: stdio keeps an error
 * flag, and cmd_queue() checks it (with the final fflush) once, so a
 * full disk under `postern queue list > file` still fails.  Peer-supplied envelope strings are printed with
 * bytes outside 0x21..0x7e as \xNN, so no terminal escape gets through.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"
#include "server/config.h"
#include "server/runner_impl.h"
#include "server/spool.h"
#include "util/conf.h"

#define QUEUE_CMD_USAGE "usage: postern queue [-c FILE] list | show ID | delete ID | flush\n"
#define EX_USAGE_ 64
#define EX_UNAVAILABLE_ 69

/* Prints s with bytes outside 0x21..0x7e escaped. */
static void
queue_cmd_put(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x21 && *p <= 0x7e && *p != '\\')
			(void)fputc(*p, f);
		else
			(void)fprintf(f, "\\x%02x", *p);
	}
}

static void
queue_cmd_time(char out[32], time_t t)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, 32, "@%lld", (long long)t);	/* <= 21 bytes */
}

static const char *
queue_cmd_state(char state)
{
	switch (state) {
	case SPOOL_DELIVERED: return "delivered";
	case SPOOL_DEFERRED: return "deferred";
	case SPOOL_FAILED: return "failed";
	case SPOOL_BOUNCING: return "failed,bouncing";
	default: return "pending";
	}
}

/* "  RCPT STATE attempts=N next=TIME|- reply=TEXT|-" */
static void
queue_cmd_rcpt_line(FILE *f, const char *rcpt, const struct spool_rcpt_state *st)
{
	char when[32] = "-";
	if (st->next_try > 0)
		queue_cmd_time(when, st->next_try);
	(void)fputs("  ", f);
	queue_cmd_put(f, rcpt);
	(void)fprintf(f, " %s attempts=%u next=%s reply=", queue_cmd_state(st->state), st->attempts, when);
	queue_cmd_put(f, st->last_reply != NULL && st->last_reply[0] ? st->last_reply : "-");
	(void)fputc('\n', f);
}

/* The lines of one message (runner_impl.h: the runner answers `list`
 * over the control socket with them too). */
void
queue_fmt_entry(FILE *f, const struct spool_entry *e)
{
	char when[32];
	queue_cmd_time(when, e->env.arrival);
	(void)fprintf(f, "%s %s %zu ", e->id, when, e->size);
	if (e->env.mail_from == NULL)
		(void)fputs("?", f);
	else if (e->env.mail_from[0] == '\0')
		(void)fputs("<>", f);
	else
		queue_cmd_put(f, e->env.mail_from);
	(void)fputc(' ', f);
	queue_cmd_put(f, e->env.auth_user ? e->env.auth_user : "-");
	(void)fputc(' ', f);
	for (size_t i = 0; i < e->env.nrcpt; i++) {
		if (i > 0)
			(void)fputc(',', f);
		queue_cmd_put(f, e->env.rcpts[i]);
	}
	if (e->env.nrcpt == 0)
		(void)fputs("?", f);
	if (e->torn)
		(void)fprintf(f, " TORN: %s", e->torn_why ? e->torn_why : "?");
	(void)fputc('\n', f);
	for (size_t i = 0; e->rcpt != NULL && !e->torn && i < e->env.nrcpt; i++)
		queue_cmd_rcpt_line(f, e->env.rcpts[i], &e->rcpt[i]);
}

static int
queue_cmd_list(struct spool *sp)
{
	struct spool_entry *v = NULL;
	char *err = NULL;
	long n = spool_list(sp, &v, &err);
	if (n < 0) {
		(void)fprintf(stderr, "postern queue: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	for (long i = 0; i < n; i++)
		queue_fmt_entry(stdout, &v[i]);
	(void)printf("%ld message%s\n", n, n == 1 ? "" : "s");
	spool_entries_free(v, (size_t)n);
	return 0;
}

static void
queue_cmd_field(const char *key, const char *value)
{
	if (value == NULL)
		return;
	(void)printf("%s: ", key);
	queue_cmd_put(stdout, value);
	(void)fputc('\n', stdout);
}

static void
queue_cmd_envelope(const struct spool_entry *e)
{
	const struct spool_envelope *v = &e->env;
	char when[32];
	queue_cmd_time(when, v->arrival);
	(void)printf("id: %s\narrival: %s\nsize: %zu\n", e->id, when, e->size);
	if (v->mail_from != NULL)
		queue_cmd_field("mail_from", v->mail_from[0] ? v->mail_from : "<>");
	queue_cmd_field("auth_param", v->auth_param);
	for (size_t i = 0; i < v->nrcpt; i++)
		queue_cmd_field("rcpt", v->rcpts[i]);
	queue_cmd_field("body", v->body);
	queue_cmd_field("auth_user", v->auth_user);
	queue_cmd_field("auth_mech", v->auth_mech);
	queue_cmd_field("client", v->client_addr);
	queue_cmd_field("helo", v->helo);
	queue_cmd_field("tls_version", v->tls_version);
	queue_cmd_field("tls_cipher", v->tls_cipher);
	if (e->torn)
		queue_cmd_field("torn", e->torn_why ? e->torn_why : "?");
}

static int
queue_cmd_show(struct spool *sp, const char *id)
{
	struct spool_entry *e = NULL;
	char *err = NULL;
	int rc = spool_entry_get(sp, id, &e, &err);
	if (rc <= 0) {
		if (rc == 0)
			(void)fprintf(stderr, "postern queue: no message %s in %s\n", id, spool_dir(sp));
		else
			(void)fprintf(stderr, "postern queue: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	queue_cmd_envelope(e);
	(void)fputc('\n', stdout);
	bool torn = e->torn;
	char where[sizeof e->where];
	memcpy(where, e->where, sizeof where);
	spool_entries_free(e, 1);
	if (torn) {
		(void)fprintf(stderr, "postern queue: %s/%s is torn; its content is not shown\n",
			spool_dir(sp), where);
		return 1;
	}
	/* The envelope must be out before the content goes to the fd. */
	if (fflush(stdout) != 0)
		return 1;	/* cmd_queue() reports the write error */
	if (spool_read_content(sp, id, STDOUT_FILENO, &err) < 0) {
		(void)fprintf(stderr, "postern queue: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	return 0;
}

static int
queue_cmd_delete(struct spool *sp, const char *id)
{
	char *err = NULL;
	if (spool_delete(sp, id, &err) < 0) {
		(void)fprintf(stderr, "postern queue: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	(void)printf("deleted %s\n", id);
	return 0;
}

static int
queue_cmd_flush(struct spool *sp)
{
	struct spool_entry *v = NULL;
	char *err = NULL;
	long n = spool_list(sp, &v, &err);
	if (n < 0) {
		(void)fprintf(stderr, "postern queue: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	spool_entries_free(v, (size_t)n);
	(void)fprintf(stderr, "postern queue flush: no server is running; %ld message%s stay%s queued\n",
		n, n == 1 ? "" : "s", n == 1 ? "s" : "");
	return EX_UNAVAILABLE_;
}

/* Opens the spool of cfg (read by the server's own reader: the same
 * defaults, relative paths and messages as `serve`). */
static struct spool *
queue_cmd_open(const struct config *cfg)
{
	char *err = NULL;
	struct spool *sp = spool_open_existing(cfg->spool, &err);
	if (sp == NULL) {
		(void)fprintf(stderr, "postern queue: spool %s\n", err ? err : cfg->spool);
		free(err);
	}
	return sp;
}

/* Asks the running server's queue runner (runner_ctl.c has the
 * protocol): its data lines go to stdout, an ".error" to stderr.
 * Returns the exit code, or -1 when no server listens there (no socket,
 * or nobody behind it): then the spool is worked on directly. */
#define QUEUE_CTL_TIMEOUT 30

static int
queue_cmd_remote(const char *path, const char *line)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return -1;
		(void)fprintf(stderr, "postern queue: control socket %s: %s\n", path, strerror(e));
		return 1;
	}
	/* A runner that does not answer (stopped, stuck) must not hang the
	 * administrator's command: each read waits at most this long. */
	struct timeval tv = { .tv_sec = QUEUE_CTL_TIMEOUT, .tv_usec = 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	FILE *f = fdopen(fd, "r+");
	if (f == NULL) {
		close(fd);
		return 1;
	}
	(void)fprintf(f, "%s\n", line);
	(void)fflush(f);
	int rc = 1;
	char buf[4096];
	while (fgets(buf, sizeof buf, f) != NULL) {
		if (buf[0] != '.') {
			(void)fputs(buf, stdout);
			continue;
		}
		if (strcmp(buf, ".ok\n") == 0)
			rc = 0;
		else
			(void)fprintf(stderr, "postern queue: %s", strncmp(buf, ".error ", 7) == 0 ? buf + 7 : buf);
		break;
	}
	if (rc != 0 && feof(f))
		(void)fprintf(stderr, "postern queue: control socket %s: the server closed it\n", path);
	else if (rc != 0 && ferror(f) && (errno == EAGAIN || errno == EWOULDBLOCK))
		(void)fprintf(stderr,
			      "postern queue: control socket %s: no answer from the queue runner"
			      " within %d s\n", path, QUEUE_CTL_TIMEOUT);
	(void)fclose(f);
	return rc;
}

int
cmd_queue(int argc, char **argv)
{
	const char *conf_file = CONF_DEFAULT_PATH;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		conf_file = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		(void)fputs(QUEUE_CMD_USAGE, stderr);
		return EX_USAGE_;
	}
	const char *sub = argv[i];
	int want = strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0 ? 1 : 0;
	bool known = want == 1 || strcmp(sub, "list") == 0 || strcmp(sub, "flush") == 0;
	if (!known || argc - i - 1 != want) {
		if (!known)
			(void)fprintf(stderr, "postern queue: unknown command '%s'\n", sub);
		(void)fputs(QUEUE_CMD_USAGE, stderr);
		return EX_USAGE_;
	}
	char *err = NULL;
	struct config *cfg = config_load_for(conf_file, CONFIG_NEED_SPOOL, &err);
	if (cfg == NULL) {
		(void)fprintf(stderr, "postern queue: %s\n", err ? err : conf_file);
		free(err);
		return 1;
	}
	/* A running server's runner owns delivery state and writes the
	 * journal: list, delete and flush go through it.  show reads the
	 * spool (readers take no lock, spool.h). */
	int rc = -1;
	char line[SPOOL_ID_MAX + 16];
	if (strcmp(sub, "show") != 0 &&
	    snprintf(line, sizeof line, "%s%s%s", sub, want ? " " : "", want ? argv[i + 1] : "") <
		    (int)sizeof line &&
	    strchr(want ? argv[i + 1] : "", '\n') == NULL)
		rc = queue_cmd_remote(cfg->control_socket, line);
	struct spool *sp = rc >= 0 ? NULL : queue_cmd_open(cfg);
	config_free(&cfg);
	if (rc < 0 && sp == NULL)
		return 1;
	if (sp != NULL) {
		if (strcmp(sub, "list") == 0)
			rc = queue_cmd_list(sp);
		else if (strcmp(sub, "show") == 0)
			rc = queue_cmd_show(sp, argv[i + 1]);
		else if (strcmp(sub, "delete") == 0)
			rc = queue_cmd_delete(sp, argv[i + 1]);
		else
			rc = queue_cmd_flush(sp);
	}
	spool_free(&sp);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		(void)fprintf(stderr, "postern queue: cannot write the output\n");
		return 1;
	}
	return rc;
}
