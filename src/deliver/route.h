/* route.h - where one recipient's mail goes (issue 14 item 3).
 *
 * The delivery settings of the server config, checked once when the
 * config is read, and the routing decision per recipient:
 *
 *	domain in local_domains	-> local_delivery:
 *	    maildir:TEMPLATE		ROUTE_MAILDIR (maildir.h: %u %d %%)
 *	    lmtp:HOST:PORT		ROUTE_LMTP over TCP ([IPV6]:PORT too)
 *	    lmtp:unix:PATH		ROUTE_LMTP over a UNIX socket
 *	    (unset)			temporary failure 4.3.5: the mail stays
 *					queued until the admin sets it
 *	else, relay_host set	-> ROUTE_RELAY:
 *	    [host]:port, [host]		that host, no MX lookup (as Postfix)
 *	    host:port, host		the MX hosts of host (as Postfix's
 *					relayhost without brackets), each on
 *					port (default 25 either way)
 *	else			-> ROUTE_MX: the recipient domain's MX hosts
 *				   (RFC 5321 section 5.1, dns_mx.h), port 25
 *
 * Addresses are never reinterpreted: the domain is what follows the
 * LAST '@' outside a quoted local part; '%', '!' and a quoted '@' in the
 * local part are not routing (a local part with them that reaches a
 * Maildir is refused by maildir_local_ok(), 5.1.3; to a relay, LMTP or MX
 * the address is passed on unchanged).  Domains compare without case;
 * "user@[192.0.2.1]" (an address literal) is refused 5.1.2 for MX
 * delivery: postern does not deliver to literals.
 *
 * The destination key: recipients (of any message) whose routes have
 * equal keys go to the same place over the same kind of connection, so
 * the runner groups them into one transport_deliver() call per message,
 * counts its per-destination limit on it, and the transport reuses an
 * idle connection of that key (transport.h).  Keys:
 *	"maildir"			every Maildir delivery
 *	"lmtp:HOST:PORT", "lmtp:unix:PATH"
 *	"relay:HOST:PORT"		(HOST as written, brackets kept)
 *	"mx:DOMAIN"			DOMAIN lower case
 *
 * Thread safety: a route_conf is immutable once built; every function
 * here is pure over it and may run on any thread.
 */
#ifndef POSTERN_DELIVER_ROUTE_H
#define POSTERN_DELIVER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

enum route_kind {
	ROUTE_MAILDIR,
	ROUTE_LMTP,
	ROUTE_RELAY,
	ROUTE_MX,
};

/* relay_tls. */
enum route_tls {
	ROUTE_TLS_REQUIRED,	/* default: STARTTLS required, certificate verified */
	ROUTE_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, certificate not required */
	ROUTE_TLS_NONE,		/* clear text (a relay on loopback) */
};

/* local_delivery, parsed. */
enum route_local {
	ROUTE_LOCAL_UNSET,
	ROUTE_LOCAL_MAILDIR,
	ROUTE_LOCAL_LMTP,
};

/* The delivery keys of the server config (src/server/config.c fills it
 * through route_set_*(); struct config holds one).  Owned strings unless
 * said otherwise; free with route_conf_clear(). */
struct route_conf {
	/* Borrowed from the config after loading (config.c points them at
	 * its own fields): local_domains ("" none) and hostname (EHLO/LHLO
	 * name). */
	const char *local_domains;
	const char *helo_name;

	enum route_local local;
	char *maildir;		/* ROUTE_LOCAL_MAILDIR: template, absolute */
	char *lmtp_host;	/* ROUTE_LOCAL_LMTP over TCP: host (no brackets) */
	unsigned lmtp_port;
	char *lmtp_unix;	/* ROUTE_LOCAL_LMTP over a UNIX socket: absolute path */

	char *relay_text;	/* relay_host as written; NULL: no relay (MX) */
	char *relay_host;	/* host name or IP, brackets removed */
	unsigned relay_port;	/* default 25 */
	bool relay_mx;		/* written without brackets: MX of relay_host */
	enum route_tls relay_tls;
	/* relay_credentials: a file with one line "USER PASSWORD" (absolute
	 * path), or "oauth:PATH" (relay_oauth set, relay_credentials the
	 * token file's absolute path).  NULL: no AUTH to the relay. */
	char *relay_credentials;
	bool relay_oauth;
	char *relay_tls_trust_file;	/* CA file for the relay; NULL: system store */
	/* dns_resolver as dns_resolver_parse() returned it (c-ares's CSV);
	 * NULL: the system's resolvers. */
	char *dns_servers;
};

/* Config setters: each checks a value and stores it in rc.  dir is the
 * config file's folder (relative paths).  Return 0, or -1 with *err_r
 * malloc'd saying what is wrong with the value (the config reader adds
 * FILE:LINE: KEY:). */
int route_set_local_delivery(struct route_conf *rc, const char *value, const char *dir,
			     char **err_r);
int route_set_relay_host(struct route_conf *rc, const char *value, char **err_r);
int route_set_relay_tls(struct route_conf *rc, const char *value, char **err_r);
/* Also reads the file now ("USER PASSWORD", or a token file for oauth:)
 * so that `serve --check` reports a missing or malformed file. */
int route_set_relay_credentials(struct route_conf *rc, const char *value, const char *dir,
				char **err_r);
int route_set_relay_tls_trust_file(struct route_conf *rc, const char *value, const char *dir,
				   char **err_r);
int route_set_dns_resolver(struct route_conf *rc, const char *value, char **err_r);
/* Reads a relay_credentials file: its first line is "USER PASSWORD"
 * (the password is the rest of the line after the blanks that follow
 * USER, so it may hold blanks).  Returns 0 with *user_r and *pass_r
 * malloc'd (wipe them: str_wipe_free), or -1 with *err_r naming the file
 * (never the password). */
int route_read_credentials(const char *path, char **user_r, char **pass_r, char **err_r);
/* Frees the owned strings; leaves rc zeroed (defaults: no relay, relay_tls
 * required, port 25). */
void route_conf_clear(struct route_conf *rc);
/* The defaults (what a missing key means). */
void route_conf_init(struct route_conf *rc);

#define ROUTE_KEY_MAX 320
#define ROUTE_DOMAIN_MAX 256

/* One recipient's route. */
struct route {
	enum route_kind kind;
	char key[ROUTE_KEY_MAX];	/* destination key, see above */
	/* ROUTE_MX: the domain whose MX hosts to try (the recipient's, or
	 * relay_host's for a relay written without brackets: then kind is
	 * ROUTE_RELAY and mx is true).  Lower case, no trailing dot. */
	char domain[ROUTE_DOMAIN_MAX];
	bool mx;			/* look up MX of domain (ROUTE_MX, or relay_mx) */
	bool local;			/* the recipient's domain is in local_domains */
};

/* Why a recipient has no route. */
struct route_error {
	bool temporary;		/* true: keep it queued (no local_delivery yet) */
	char enhanced[8];	/* RFC 3463: "5.1.3", "5.1.2", "4.3.5" */
	char why[300];		/* for logs, last_reply and the DSN */
};

/* The route of rcpt (a forward-path without <>) under rc.  Returns 0
 * with *r filled, or -1 with *e filled (malformed address: permanent;
 * local domain without local_delivery: temporary). */
int route_of(const struct route_conf *rc, const char *rcpt, struct route *r,
	     struct route_error *e);

/* True when domain (any case, optional trailing dot) is one of
 * rc->local_domains. */
bool route_is_local_domain(const struct route_conf *rc, const char *domain, size_t len);

/* Splits rcpt at its domain '@' (the last one outside a quoted local
 * part).  Returns the offset of that '@', or -1 when there is none
 * (or the local part or domain is empty). */
long route_split(const char *rcpt);

/* "maildir", "lmtp", "relay", "mx": for log lines. */
const char *route_kind_name(enum route_kind k);

#endif
