/* sendlog.c - msmtp-format log lines for `postern send` (logfile, syslog). */
#include "client/sendlog.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "client/config.h"
#include "util/buf.h"

/* msmtp's logfile_time_format default. */
#define SENDLOG_TIME_FMT "%b %d %H:%M:%S"
/* A log line holds a summary of one reply and one error sentence plus
 * the recipients; 64 KiB holds any that a message of ours can make
 * (a longer one is cut, never overflowed). */
#define SENDLOG_LINE_MAX 65536

static const char *
exit_name(int code)
{
	static const struct { int code; const char *name; } names[] = {
		{ 0, "EX_OK" }, { EX_USAGE, "EX_USAGE" }, { EX_DATAERR, "EX_DATAERR" },
		{ EX_NOINPUT, "EX_NOINPUT" }, { EX_NOUSER, "EX_NOUSER" }, { EX_NOHOST, "EX_NOHOST" },
		{ EX_UNAVAILABLE, "EX_UNAVAILABLE" }, { EX_SOFTWARE, "EX_SOFTWARE" },
		{ EX_OSERR, "EX_OSERR" }, { EX_OSFILE, "EX_OSFILE" }, { EX_CANTCREAT, "EX_CANTCREAT" },
		{ EX_IOERR, "EX_IOERR" }, { EX_TEMPFAIL, "EX_TEMPFAIL" }, { EX_PROTOCOL, "EX_PROTOCOL" },
		{ EX_NOPERM, "EX_NOPERM" }, { EX_CONFIG, "EX_CONFIG" },
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].code == code)
			return names[i].name;
	return "EX_SOFTWARE";
}

/* 'text' with control bytes and single quotes as '?' (msmtp's rule: the
 * value stays one quoted token on one line). */
static int
add_quoted(struct buf *b, const char *key, const char *text)
{
	int rc = buf_printf(b, " %s='", key);
	for (const unsigned char *p = (const unsigned char *)text; rc == BUF_OK && *p; p++)
		rc = buf_addch(b, *p < 0x20 || *p == 0x7f || *p == '\'' ? '?' : *p);
	return rc == BUF_OK ? buf_addch(b, '\'') : rc;
}

/* The line without the time: "host=... exitcode=...". */
static int
build(struct buf *b, const struct client_account *a, const struct client_send_outcome *o)
{
	bool auth = client_account_auth(a) != CLIENT_AUTH_OFF;
	int rc = buf_printf(b, "host=%s tls=%s auth=%s", a->host ? a->host : "", a->tls ? "on" : "off",
			    auth ? "on" : "off");
	if (rc == BUF_OK && auth && a->user)
		rc = buf_printf(b, " user=%s", a->user);
	if (rc == BUF_OK)
		rc = buf_printf(b, " from=%s recipients=", o->from ? o->from : "");
	for (size_t i = 0; rc == BUF_OK && i < o->nrcpts; i++)
		rc = buf_printf(b, "%s%s", i ? "," : "", o->rcpts[i]);
	if (rc == BUF_OK && o->exitcode == 0)
		rc = buf_printf(b, " mailsize=%zu", o->mailsize);
	if (rc == BUF_OK && o->smtp_code != 0 && o->smtp_msg != NULL) {
		rc = buf_printf(b, " smtpstatus=%d", o->smtp_code);
		if (rc == BUF_OK)
			rc = add_quoted(b, "smtpmsg", o->smtp_msg);
	}
	if (rc == BUF_OK && o->exitcode != 0 && o->errmsg && *o->errmsg)
		rc = add_quoted(b, "errormsg", o->errmsg);
	if (rc == BUF_OK)
		rc = buf_printf(b, " exitcode=%s", exit_name(o->exitcode));
	return rc;
}

static void
to_file(const struct client_account *a, const char *line)
{
	char stamp[128] = "";
	time_t now = time(NULL);
	struct tm tm;
	const char *fmt = a->logfile_time_format ? a->logfile_time_format : SENDLOG_TIME_FMT;
	/* msmtp: the format "none" leaves the time out. */
	size_t sl = 0;
	/* The format is the user's logfile_time_format, by design. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strcmp(fmt, "none") != 0 && localtime_r(&now, &tm) != NULL)
		sl = strftime(stamp, sizeof stamp - 1, fmt, &tm);
#pragma GCC diagnostic pop
	if (sl > 0) {
		stamp[sl] = ' ';	/* sizeof stamp - 1 kept room for it */
		stamp[sl + 1] = '\0';
	}
	struct buf b;
	buf_init(&b, SENDLOG_LINE_MAX + sizeof stamp);
	(void)buf_printf(&b, "%s%s\n", stamp, line);	/* cut when too long */
	if (strcmp(a->logfile, "-") == 0) {
		(void)fwrite(b.p, 1, b.len, stdout);
		(void)fflush(stdout);
		buf_free(&b);
		return;
	}
	/* One write() with O_APPEND: lines of concurrent senders do not mix. */
	int fd = open(a->logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	ssize_t w = fd >= 0 ? write(fd, b.p, b.len) : -1;
	int err = errno;
	if (fd >= 0 && close(fd) != 0 && w >= 0) {
		w = -1;
		err = errno;
	}
	if (w != (ssize_t)b.len)
		(void)fprintf(stderr, "postern send: cannot log to %s: %s\n", a->logfile,
			      w < 0 ? strerror(err) : "short write");
	buf_free(&b);
}

void
client_sendlog(const struct client_account *a, const struct client_send_outcome *o)
{
	if (a->logfile == NULL && a->syslog_facility < 0)
		return;
	struct buf b;
	buf_init(&b, SENDLOG_LINE_MAX);
	(void)build(&b, a, o);	/* BUF_TOOBIG: the line is cut, still worth writing */
	const char *line = buf_cstr(&b);
	if (a->logfile != NULL)
		to_file(a, line);
	if (a->syslog_facility >= 0) {
		openlog("postern", LOG_PID, a->syslog_facility);
		syslog(o->exitcode == 0 ? LOG_INFO : LOG_ERR, "%s", line);
		closelog();
	}
	buf_free(&b);
}
