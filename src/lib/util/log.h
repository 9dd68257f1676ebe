/* log.h - one line per event, key=value style, to stderr or syslog.
 *
 * The log destination and level are the one process-wide setting in
 * postern (set once by main); library mechanisms never log, they return
 * a reason string that the caller logs.  Peer-supplied strings go
 * through log_safe() first, and secrets are never passed here.
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

#endif
