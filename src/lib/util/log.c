/* log.c - one line per event to stderr or syslog. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* XXX: process-wide by design: the log sink is chosen once in main(). */
static struct {
	const char *prog;
	enum log_level level;
	bool syslog;
} log_cfg = { "postern", LOG_LVL_INFO, false };

void
log_init(const char *prog, enum log_level level, bool use_syslog)
{
	log_cfg.prog = prog;
	log_cfg.level = level;
	log_cfg.syslog = use_syslog;
	if (use_syslog)
		openlog(prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_cfg.level = level;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_cfg.level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	if (!log_enabled(level))
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	/* A longer line is cut: a log line is for people, and every peer
	 * string in it went through log_safe() already. */
	(void)vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (log_cfg.syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	char ts[32] = "";
	struct timespec now;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &now) == 0 && gmtime_r(&now.tv_sec, &tm) != NULL
	    && strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		ts[0] = '\0';	/* contents undefined on 0 */
	/* Nowhere to report a failed write to stderr. */
	(void)fprintf(stderr, "%s %s %s: %s\n", ts, log_cfg.prog, names[level], line);
}

const char *
log_safe(char *dst, size_t dstsz, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (dstsz == 0)
		return dst;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[4];
		size_t k;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[0] = (char)c;
			k = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			k = 4;
		}
		if (o + k + 4 > dstsz) {	/* room for "..." and the NUL */
			if (o + 4 <= dstsz) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, k);
		o += k;
	}
	dst[o] = '\0';
	return dst;
}
