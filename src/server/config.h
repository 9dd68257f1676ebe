/* config.h - the server's settings, built from a "key = value" file.
 *
 * config_load() reads the file with conf_load() (util/conf.h), checks
 * every key and value, fills in the defaults and resolves relative
 * paths against the config file's folder.  The result is immutable: the
 * server passes `const struct config *` down to every session, and a
 * reload (SIGHUP) builds a new one instead of editing the old.
 */
#ifndef POSTERN_SERVER_CONFIG_H
#define POSTERN_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "auth/throttle.h"
#include "deliver/retry.h"
#include "deliver/route.h"
#include "store/store_oauth.h"
#include "util/log.h"

struct sasl_mech;

enum listen_role {
	ROLE_SUBMISSION,	/* STARTTLS offered, AUTH required before MAIL */
	ROLE_SUBMISSIONS,	/* implicit TLS (RFC 8314), AUTH required */
	ROLE_SMTP,		/* MX: AUTH offered; unauthenticated mail to local_domains */
};

struct listen_spec {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum listen_role role;
	char *text;		/* "ADDR:PORT" as written, for messages */
	unsigned line;
};

/* At most this many mechanisms in auth_mechanisms (there are six). */
#define CONFIG_MECH_MAX 16

/* Certificates (issue 16 item 3): tls_certificate and tls_key are
 * repeatable, the n-th tls_key goes with the n-th tls_certificate (as
 * in nginx and Dovecot), and OpenSSL picks one per handshake by the
 * client's signature algorithms.  One pair per key type: OpenSSL keeps
 * a certificate slot per type (RSA, RSA-PSS, ECDSA, Ed25519, Ed448),
 * and a second of a type would replace the first (tls_certs.c). */
#define CONFIG_TLS_PAIRS_MAX 5

struct config_tls_pair {
	char *certificate;	/* absolute */
	char *key;		/* absolute */
	unsigned certificate_line;	/* their lines, for messages */
	unsigned key_line;
};

struct config {
	char *path;			/* the file it came from */
	char *dir;			/* its folder, for relative store paths */
	char *hostname;
	struct listen_spec *listen;
	size_t nlisten;
	/* TLS certificates (issue 16, config_tls.c): tls[0..ntls) are
	 * whole pairs once the file is loaded. */
	struct config_tls_pair tls[CONFIG_TLS_PAIRS_MAX];
	size_t ntls;			/* pairs; 0: no TLS */
	size_t ntls_certificates;	/* lines of each, while reading */
	size_t ntls_keys;
	char *credentials;		/* store spec as written */
	const struct sasl_mech *mechs[CONFIG_MECH_MAX];	/* in config order */
	size_t nmechs;
	bool plaintext_always;		/* plaintext_auth = always */
	bool submission_tls_optional;	/* submission_tls = optional */
	char *spool;			/* absolute */
	char *local_domains;		/* space/comma separated, "" for none */
	char *sender_login_map;		/* absolute path, NULL: the default rule (sendermap.h) */
	bool check_header_from;		/* the From header obeys the map too */
	size_t max_message_size;
	unsigned max_recipients;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned max_errors;
	unsigned command_timeout;	/* seconds */
	unsigned data_timeout;
	unsigned tls_handshake_timeout;
	bool tls_record_openssl;		/* tls_record_layer = openssl (tls_bev.c) */
	unsigned shutdown_grace;
	bool log_syslog;
	enum log_level log_level;
	unsigned auth_max_failures;	/* auth_max_failures_per_session */
	struct throttle_limits throttle;	/* auth_fail_limit_* and friends */
	/* Processes (doc/architecture.md). */
	char *user;			/* the network process's user; default "postern" */
	unsigned user_line;		/* its line in the file, 0 for the default */
	unsigned auth_workers;		/* password-check threads; 0: one per CPU */
	unsigned auth_client_inflight;	/* expensive checks per client /24 or /64 */
	/* The queue runner (issue 14: src/server/runner.c). */
	struct retry_policy retry;	/* retry_first, retry_max, max_queue_lifetime,
					 * delay_warning_time */
	unsigned max_deliveries;	/* outgoing deliveries at once */
	unsigned max_deliveries_per_destination;
	char *control_socket;		/* absolute; default SPOOL/control.sock */
	/* Routes and transports (issue 14 item 3): relay_*, local_delivery,
	 * dns_resolver; its local_domains and helo_name point at the fields
	 * above. */
	struct route_conf route;
	/* Local recipients at RCPT (issue 14, src/auth/auth_rcpt.c). */
	char *local_recipients;		/* absolute path of the file: map, NULL: none */
	char *local_delivery;		/* as written, NULL: none (lmtp forms read by lmtp_callout.h) */
	/* Old clients (issue 15 item 7). */
	bool legacy_auth_line;		/* also the pre-RFC "AUTH=" EHLO line */
	/* OAUTHBEARER/XOAUTH2 token checks (store/store_oauth.h) */
	struct store_oauth_conf oauth;
	/* EXTERNAL with TLS client certificates (doc/postern.8). */
	char *tls_client_ca;		/* absolute; NULL: no certificate asked for */
	char *tls_client_map;		/* absolute path of file:PATH; NULL: none */
};

/* Reads path into a new config.  Returns NULL with *err_r malloc'd
 * ("FILE:LINE: unknown key 'x'", "FILE: No such file or directory"). */
struct config *config_load(const char *path, char **err_r);

/* What the caller will use: `postern serve` needs a whole server
 * (listeners, spool, TLS files for submission); `postern queue` only the
 * spool.  Every key is checked either way, with the same messages,
 * defaults and relative paths. */
enum config_need { CONFIG_NEED_SERVE, CONFIG_NEED_SPOOL };
struct config *config_load_for(const char *path, enum config_need need, char **err_r);

/* The table of keys (util/conf.h), for tests and documentation. */
struct conf_key;
const struct conf_key *config_keys_table(size_t *n_r);
void config_free(struct config **cp);	/* NULL-safe; sets *cp = NULL */

const char *config_role_name(enum listen_role r);

#endif
