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

/* Writes the escaped form of byte c to tmp; returns its length (1..4).
 * kv: for a quoted key=value value, where space and '=' are escaped too,
 * so that no quoted value holds a blank or a "key=" a pattern could
 * take for a field of its own. */
static size_t
log_esc_byte(unsigned char c, bool kv, char tmp[4])
{
	static const char hex[] = "0123456789abcdef";
	if (c == '"' || c == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)c;
		return 2;
	}
	if (c > 0x20 && c < 0x7f && !(kv && c == '=')) {
		tmp[0] = (char)c;
		return 1;
	}
	if (c == ' ' && !kv) {
		tmp[0] = ' ';
		return 1;
	}
	tmp[0] = '\\';
	tmp[1] = 'x';
	tmp[2] = hex[c >> 4];
	tmp[3] = hex[c & 15];
	return 4;
}

/* Appends the escaped s[0..n) to dst at *o, keeping `keep` bytes free
 * for what follows; false when it had to stop early. */
static bool
log_esc(char *dst, size_t dstsz, size_t *o, const char *s, size_t n, bool kv, size_t keep)
{
	for (size_t i = 0; i < n; i++) {
		char tmp[4];
		size_t k = log_esc_byte((unsigned char)s[i], kv, tmp);
		if (*o + k + keep > dstsz)
			return false;
		memcpy(dst + *o, tmp, k);
		*o += k;
	}
	return true;
}

const char *
log_safe(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t o = 0;
	if (dstsz == 0)
		return dst;
	/* Room for "..." and the NUL. */
	if (!log_esc(dst, dstsz, &o, s, n, false, 4) && o + 4 <= dstsz) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* A byte that may stand bare in a key=value value: no blank, no '=',
 * no quote, nothing a log reader could mistake for a separator. */
static bool
log_bare_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	       || (c != '\0' && strchr("._@+-:/[]", c) != NULL);
}

const char *
log_quote(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (dstsz < LOG_QUOTE_MIN) {
		if (dstsz > 0)
			dst[0] = '\0';
		return dst;
	}
	/* "-" alone stays the mark of an absent value (log_quote_str). */
	bool bare = n < dstsz && !(n == 1 && s[0] == '-');
	for (size_t i = 0; bare && i < n; i++)
		bare = log_bare_byte((unsigned char)s[i]);
	if (bare) {
		memcpy(dst, s, n);
		dst[n] = '\0';
		return dst;
	}
	size_t o = 0;
	dst[o++] = '"';
	/* Keep room for the closing quote, "..." and the NUL. */
	bool whole = log_esc(dst, dstsz, &o, s, n, true, 5);
	dst[o++] = '"';
	if (!whole) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

const char *
log_quote_str(char *dst, size_t dstsz, const char *s)
{
	if (s != NULL)
		return log_quote(dst, dstsz, s, strlen(s));
	if (dstsz >= 2)
		memcpy(dst, "-", 2);
	else if (dstsz == 1)
		dst[0] = '\0';
	return dst;
}
