/* config.h - the client's msmtprc-compatible configuration.
 *
 * File format (msmtp's): one "command argument" per line, "#" comments,
 * arguments may be "double quoted" (with \" and \\).  Sections:
 *   defaults                      values inherited by every later account
 *   account NAME [: P1[,P2...]]   starts from defaults, then P1, P2... in order
 *   account default : NAME        makes NAME the default account
 * Commands before the first "defaults"/"account" line count as defaults.
 * Keys: every command of msmtp 1.8's manual (and the old spellings msmtp
 * still reads: keepbcc, tls_nocertcheck, tls_nostarttls, ...), plus
 * postern's `queue`.  Those with an effect are the fields below; the
 * others (tls_priorities, ntlmdomain, ...) are accepted and noted in
 * client_config.notes, which `send -v` prints; config_keys.c has the
 * table.  A key msmtp does not know: "FILE:LINE: unknown command 'x'".
 * `eval CMD` lines are replaced by the first line CMD prints.
 * A token may be up to CLIENT_CONF_TOKEN_MAX bytes (OAuth bearer tokens
 * in `password` can be several kilobytes).
 */
#ifndef POSTERN_CLIENT_CONFIG_H
#define POSTERN_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 4954 section 4: AUTH lines up to 12288 octets. */
#define CLIENT_CONF_TOKEN_MAX 12288

enum client_queue_mode {
	CLIENT_QUEUE_NEVER,	/* default: failures are failures */
	CLIENT_QUEUE_ALWAYS,	/* every message goes into the outbox */
	CLIENT_QUEUE_ON_FAILURE,	/* outbox when unreachable or 4xx */
};

enum client_auth_mode {
	CLIENT_AUTH_OFF,
	CLIENT_AUTH_ON,		/* choose the strongest shared mechanism */
	CLIENT_AUTH_MECH,	/* auth_mech names it (upper case) */
};

/* msmtp's set_from_header. */
enum client_from_header {
	CLIENT_FROM_AUTO,	/* add From when the message has none (default) */
	CLIENT_FROM_ON,		/* always: replace any From with the envelope sender */
	CLIENT_FROM_OFF,	/* never */
};

struct client_account {
	char *name;
	char *file;		/* where it was defined, for messages */
	unsigned line;

	char *host;
	unsigned port;		/* 0: 25, or 465 with tls on + tls_starttls off (msmtp) */
	char *source_ip;	/* bind the connection to this address; NULL: any */
	unsigned timeout;	/* seconds per network step; 0 ("off"): postern's default */
	char *domain;		/* EHLO argument; default "localhost" */

	bool tls;		/* default off, as in msmtp */
	bool tls_starttls;	/* default on */
	char *tls_trust_file;	/* NULL: system store */
	bool tls_certcheck;	/* default on */
	/* tls_fingerprint: SHA-256 (32 bytes), or SHA-1 (20) or MD5 (16)
	 * as msmtp still accepts; fingerprint_len 0: none. */
	size_t fingerprint_len;
	uint8_t fingerprint[32];
	char *tls_cert_file;	/* client certificate (PEM), with tls_key_file */
	char *tls_key_file;
	char *tls_host_override;	/* name for SNI and the certificate check */

	enum client_auth_mode auth;	/* not given: on when user is set, else off */
	char *auth_mech;
	char *user;
	char *password;		/* wiped on free */
	char *passwordeval;
	/* OAuth (auth oauthbearer|xoauth2 without password/passwordeval):
	 * postern's own token file, filled by `postern oauth login`. */
	char *oauth_provider;	/* "microsoft" or "google": endpoint presets */
	char *oauth_flow;	/* "device" (default) or "pkce" */
	char *oauth_client_id;
	char *oauth_client_secret;	/* wiped on free */
	char *oauth_scope;	/* NULL: the provider's SMTP scope */
	char *oauth_token_endpoint;
	char *oauth_device_endpoint;
	char *oauth_authorize_endpoint;
	char *oauth_token_file;	/* NULL: ~/.local/state/postern/oauth-ACCOUNT.json */

	char *from;
	bool allow_from_override;	/* default on: -f wins over from */
	bool auto_from;		/* obsolete msmtp: from = $USER@maildomain */
	char *maildomain;
	enum client_from_header set_from_header;
	bool set_date_header;	/* default on ("auto") */
	bool remove_bcc_headers;	/* default on */
	bool undisclosed_recipients;	/* To: undisclosed-recipients:; only */
	char *dsn_notify;	/* NOTIFY= value (upper case) or NULL (off) */
	char *dsn_return;	/* RET= value, HDRS or FULL, or NULL (off) */
	char *aliases;		/* aliases file for local recipients, or NULL */

	char *logfile;		/* append one line per message; "-": stdout */
	char *logfile_time_format;	/* strftime format; NULL: "%b %d %H:%M:%S" */
	int syslog_facility;	/* LOG_USER, LOG_MAIL, LOG_LOCALn; -1: off */

	enum client_queue_mode queue;

	uint64_t set;		/* private: which fields were given (inheritance) */
};

struct client_config {
	char *path;
	struct client_account defaults;
	struct client_account *accounts;
	size_t naccounts;
	char *default_name;	/* from "account default : NAME", or NULL */
	/* "FILE:LINE: ..." for each accepted key that has no effect here
	 * (malloc'd; `send -v` shows them, nothing else does). */
	char **notes;
	size_t nnotes;
};

/* Reads path into c. Returns 0, or -1 with *err_r = malloc'd
 * "FILE:LINE: what" (or "FILE: strerror").  Warnings (ignored keys, a
 * password in a file others can read) go to log_warn(). */
int client_config_load(struct client_config *c, const char *path, char **err_r);
void client_config_free(struct client_config *c);

/* The account named name, or the default one when name is NULL
 * ("default", else the only account).  Its `from` and `domain` have had
 * their %U/%H/%C/%M patterns replaced (as msmtp does for the account it
 * uses).  NULL with *err_r (malloc'd) set when there is none, or
 * "FILE:LINE: from: %M: /etc/mailname: ..." when a pattern fails. */
const struct client_account *client_config_account(const struct client_config *c,
						   const char *name, char **err_r);

/* The name of the first account whose `from` matches the envelope sender
 * from (-f without -a), msmtp's way: equal ignoring case, a glob(7)
 * pattern ("*@example.test"), or equal but for a "+detail".  NULL: none. */
const char *client_config_find_by_from(const struct client_config *c, const char *from);
/* True when from is such a pattern (then it is not an address). */
bool client_from_is_pattern(const char *from);

/* msmtp's substitution patterns (patterns.c): in s, %U becomes the user
 * name ($USER, $LOGNAME, the login; only when expand_user: `from` has it,
 * `domain` not), %H the host name ($HOSTNAME, gethostname), %C its
 * canonical name, %M the first line of /etc/mailname.  Returns a malloc'd
 * string, or NULL with *err_r (malloc'd) saying which pattern failed. */
char *client_expand_patterns(const char *s, bool expand_user, char **err_r);

/* The config file to read when -C is not given:
 * $XDG_CONFIG_HOME/postern/config (or ~/.config/postern/config) when it
 * exists, else ~/.msmtprc.  Returns a malloc'd path, or NULL when
 * neither exists (*tried_r, malloc'd, names both for the message). */
char *client_config_default_path(char **tried_r);

/* The password for a: `password`, else ~/.netrc then ~/.authinfo
 * (machine/login/port matched), else the first line of `passwordeval`'s
 * output.  Returns 0 with *pw_r (malloc'd; wipe and free) or *pw_r =
 * NULL when there is none; -1 with *err_r (malloc'd) on failure. */
int client_account_password(const struct client_account *a, char **pw_r, char **err_r);

/* The effective auth mode: `auth` as given, else on when a user is set
 * (an msmtprc with user and password but no auth line means "log in"). */
enum client_auth_mode client_account_auth(const struct client_account *a);

/* The port a connects to (port, or the msmtp default). */
unsigned client_account_port(const struct client_account *a);

/* The *err_r strings of this header are made with str_printf() (NULL
 * when out of memory). */
#include "util/str.h"

struct smtp_client_opts;

/* Fills *o for a session with account a (account.c).  With
 * authentication on, the password is looked up (client_account_password)
 * and must exist: *pw_r holds it, and o->password borrows it, so keep
 * *pw_r until the session is freed, then str_wipe_free(pw_r).
 * o borrows a's strings too.  Returns 0, or -1 with *err_r malloc'd
 * ("FILE:LINE: no password for USER at HOST ...", or the lookup's error;
 * NULL when out of memory), or -2 when the account's OAuth token file
 * has no usable token (the provider's error and the fix in *err_r:
 * exit with EX_NOPERM). */
int client_account_opts(const struct client_account *a, struct smtp_client_opts *o, char **pw_r,
			char **err_r);

/* netrc / authinfo lookup in one file: entries "machine H login U
 * password P [port N]" ("default" matches any machine).  user NULL
 * matches any login; port 0 or an entry without port matches any port.
 * Returns 1 with *pw_r (and *user_r when user was NULL) malloc'd,
 * 0 when not found (or no file), -1 with *err_r on a read error. */
int client_netrc_lookup(const char *path, const char *host, unsigned port, const char *user,
			char **user_r, char **pw_r, char **err_r);

/* Parses "AB:CD:..." or "ABCD..." (hex digits, colons anywhere) into
 * out: 64 digits (SHA-256), 40 (SHA-1) or 32 (MD5), as msmtp accepts.
 * Returns the length in bytes (32, 20 or 16), or -1. */
int client_parse_fingerprint(const char *s, uint8_t out[32]);

/* Runs cmd with sh -c (as msmtp does for passwordeval and eval) and puts
 * the first line of its output, without the line end, into out (which
 * has its cap).  Returns 0, or -1 with *why_r (malloc'd) when the
 * command cannot run, fails, prints nothing or too much. */
struct buf;
int client_eval_first_line(const char *cmd, struct buf *out, char **why_r);

#endif
