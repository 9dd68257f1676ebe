/* log.h - one line per event, key=value style, to stderr or syslog.
 *
 * The log destination and level are the one process-wide setting in
 * postern (set once by main); library mechanisms never log, they return
 * a reason string that the caller logs.  Peer-supplied values in
 * key=value lines go through log_quote() first, peer text elsewhere
 * through log_safe(), and secrets are never passed here.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* prog names the program in each line; use_syslog sends lines to the
 * mail facility instead of stderr. */
void log_init(const char *prog, enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Renders n bytes of peer input printable into dst (size dstsz): bytes
 * outside 0x21..0x7e except space become \xNN, '"' and '\\' are escaped,
 * and the result is cut with "..." when it does not fit.  Returns dst. */
const char *log_safe(char *dst, size_t dstsz, const char *s, size_t n);
/* Size of a log_safe buffer big enough for typical names and addresses. */
#define LOG_SAFE_MAX 256

/* The one way a peer-supplied value (user name, HELO name, address,
 * anything derived from input) enters a key=value log line, so that no
 * value can add a field of its own (a user "x client=203.0.113.77"
 * must not give fail2ban a second client=).  Renders n bytes of s into
 * dst (size dstsz, at least LOG_QUOTE_MIN; LOG_SAFE_MAX suits names and
 * addresses) and returns dst:
 *   - a plain token, every byte in [A-Za-z0-9._@+-:/[]], stays bare:
 *     user=alice@example.test, helo=[192.0.2.1];
 *   - an empty value stays empty (from=<>);
 *   - anything else, and "-" alone (the mark of "no value"), is written
 *     between double quotes with '"' and '\\' as \" and \\, and space,
 *     '=' and every byte outside 0x21..0x7e (CR, LF, UTF-8 ...) as \xHH:
 *     user="x\x20client\x3d203.0.113.77";
 *   - a value too long for dst is cut, its quote closed, and "..."
 *     follows the closing quote (user="aaaaaaaa"...), which no whole
 *     value can end with.
 * So a quoted value holds no blank and no '=', and a line splits into
 * fields at its blanks.  Thread-safe: no state. */
const char *log_quote(char *dst, size_t dstsz, const char *s, size_t n);
/* log_quote() of a NUL-terminated string; NULL gives "-". */
const char *log_quote_str(char *dst, size_t dstsz, const char *s);
/* The smallest dst log_quote() fills: a quote, one escape, a quote,
 * "..." and the NUL. */
#define LOG_QUOTE_MIN 10

#endif
