/* config_keys.c - the commands of an msmtprc, one table row each: how
 * the value is checked (msmtp's rules, msmtp's manual for 1.8) and which
 * field of the account it sets.  Rows with a note are msmtp commands
 * that postern accepts without effect; anything not in the table is an
 * error, as it is for msmtp. */
#include "client/config_keys.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "sasl/sasl.h"
#include "util/str.h"

/* ---- fields: where a key's value lives, for inheritance ---- */

struct field_desc {
	size_t off, size;
	bool str;		/* a malloc'd char *: copied, not shared */
};

#define FIELD_STR(m) { offsetof(struct client_account, m), sizeof(char *), true }
#define FIELD_VAL(m) { offsetof(struct client_account, m), sizeof(((struct client_account *)0)->m), false }

static const struct field_desc fields[F__COUNT] = {
	[F_HOST] = FIELD_STR(host), [F_PORT] = FIELD_VAL(port),
	[F_SOURCE_IP] = FIELD_STR(source_ip), [F_TIMEOUT] = FIELD_VAL(timeout),
	[F_DOMAIN] = FIELD_STR(domain), [F_TLS] = FIELD_VAL(tls),
	[F_STARTTLS] = FIELD_VAL(tls_starttls), [F_TRUST] = FIELD_STR(tls_trust_file),
	[F_CERTCHECK] = FIELD_VAL(tls_certcheck), [F_FPR] = FIELD_VAL(fingerprint),
	[F_FPR_LEN] = FIELD_VAL(fingerprint_len), [F_CERT] = FIELD_STR(tls_cert_file),
	[F_KEY] = FIELD_STR(tls_key_file), [F_HOST_OVERRIDE] = FIELD_STR(tls_host_override),
	[F_AUTH] = FIELD_VAL(auth), [F_AUTH_MECH] = FIELD_STR(auth_mech),
	[F_USER] = FIELD_STR(user), [F_PASSWORD] = FIELD_STR(password),
	[F_PWEVAL] = FIELD_STR(passwordeval), [F_FROM] = FIELD_STR(from),
	[F_OAUTH_PROVIDER] = FIELD_STR(oauth_provider), [F_OAUTH_FLOW] = FIELD_STR(oauth_flow),
	[F_OAUTH_CLIENT_ID] = FIELD_STR(oauth_client_id),
	[F_OAUTH_CLIENT_SECRET] = FIELD_STR(oauth_client_secret),
	[F_OAUTH_SCOPE] = FIELD_STR(oauth_scope), [F_OAUTH_TOKEN_EP] = FIELD_STR(oauth_token_endpoint),
	[F_OAUTH_DEVICE_EP] = FIELD_STR(oauth_device_endpoint),
	[F_OAUTH_AUTHORIZE_EP] = FIELD_STR(oauth_authorize_endpoint),
	[F_OAUTH_TOKEN_FILE] = FIELD_STR(oauth_token_file),
	[F_FROM_OVERRIDE] = FIELD_VAL(allow_from_override), [F_AUTO_FROM] = FIELD_VAL(auto_from),
	[F_MAILDOMAIN] = FIELD_STR(maildomain), [F_FROM_HEADER] = FIELD_VAL(set_from_header),
	[F_DATE_HEADER] = FIELD_VAL(set_date_header), [F_REMOVE_BCC] = FIELD_VAL(remove_bcc_headers),
	[F_UNDISCLOSED] = FIELD_VAL(undisclosed_recipients), [F_DSN_NOTIFY] = FIELD_STR(dsn_notify),
	[F_DSN_RETURN] = FIELD_STR(dsn_return), [F_ALIASES] = FIELD_STR(aliases),
	[F_LOGFILE] = FIELD_STR(logfile), [F_LOGFILE_TIME] = FIELD_STR(logfile_time_format),
	[F_SYSLOG] = FIELD_VAL(syslog_facility), [F_QUEUE] = FIELD_VAL(queue),
};

static void *
field_ptr(struct client_account *a, enum client_field f)
{
	return (char *)a + fields[f].off;
}

/* Replaces a string field with a copy of v (NULL allowed); the old value
 * is wiped first (it may be a password).
 * XXX: gcc 12's analyzer does not follow a pointer stored at an offset it
 * cannot compute (the table's) and reports the copy as leaked; it is
 * freed by client_account_clear() through the same table.  Only this
 * function has the warning off. */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
set_str(struct client_account *a, enum client_field f, const char *v)
{
	char **dst = field_ptr(a, f);
	char *n = NULL;
	if (v != NULL && (n = strdup(v)) == NULL)
		return -1;
	str_wipe_free(dst);
	*dst = n;
	a->set |= CLIENT_FIELD_BIT(f);
	return 0;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static void
set_val(struct client_account *a, enum client_field f, const void *v)
{
	memcpy(field_ptr(a, f), v, fields[f].size);
	a->set |= CLIENT_FIELD_BIT(f);
}

static void
set_bool(struct client_account *a, enum client_field f, bool b)
{
	assert(fields[f].size == sizeof b);
	set_val(a, f, &b);
}

static void
set_int(struct client_account *a, enum client_field f, int v)
{
	/* the enums and syslog_facility are int-sized */
	assert(fields[f].size == sizeof v);
	set_val(a, f, &v);
}

void
client_account_init(struct client_account *a)
{
	memset(a, 0, sizeof *a);
	a->tls_starttls = true;
	a->tls_certcheck = true;
	a->allow_from_override = true;
	a->set_date_header = true;
	a->remove_bcc_headers = true;
	a->syslog_facility = -1;
}

void
client_account_clear(struct client_account *a)
{
	free(a->name);
	free(a->file);
	for (size_t f = 0; f < F__COUNT; f++) {
		if (!fields[f].str)
			continue;
		str_wipe_free(field_ptr(a, (enum client_field)f));
	}
	memset(a, 0, sizeof *a);
}

void
client_account_inherit(struct client_account *dst, const struct client_account *src)
{
	struct client_account *s = (struct client_account *)src;	/* read only */
	for (size_t i = 0; i < F__COUNT; i++) {
		enum client_field f = (enum client_field)i;
		if (!(src->set & CLIENT_FIELD_BIT(f)))
			continue;
		assert(fields[f].size != 0);	/* every field has a row above */
		if (fields[f].str)
			(void)set_str(dst, f, *(char **)field_ptr(s, f));	/* XXX: ENOMEM leaves it unset */
		else
			set_val(dst, f, field_ptr(s, f));
	}
}

/* ---- values ---- */

struct key;
typedef int key_parse_fn(struct client_account *a, const struct key *k, const char *v,
			 char **why_r);

struct key {
	const char *name;
	key_parse_fn *parse;
	enum client_field f;	/* the field it sets (F__COUNT: none) */
	/* Not NULL: accepted without effect; why, for `send -v`. */
	const char *note;
};

static int
bad_arg(const struct key *k, const char *v, const char *want, char **why_r)
{
	*why_r = str_printf("invalid argument '%s' for %s (%s)", v, k->name, want);
	return -1;
}

/* msmtp: "on" or an empty argument is on, "off" is off. */
static int
parse_onoff(const char *v, bool *out)
{
	if (*v == '\0' || strcmp(v, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "off") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static int
k_str(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	(void)why_r;
	return set_str(a, k->f, *v ? v : NULL);
}

/* msmtp: "If a file name starts with the tilde (~), this tilde will be
 * replaced by $HOME." */
static int
k_path(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	const char *home = getenv("HOME");
	if (v[0] != '~' || home == NULL)
		return k_str(a, k, v, why_r);
	char *p = str_printf("%s%s", home, v + 1);
	int rc = p ? set_str(a, k->f, p) : -1;
	free(p);
	return rc;
}

static int
k_trust(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	/* "system" (or empty) means the system store. */
	if (*v == '\0' || strcmp(v, "system") == 0)
		return set_str(a, k->f, NULL);
	return k_path(a, k, v, why_r);
}

static int
k_bool(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool b;
	if (parse_onoff(v, &b) != 0)
		return bad_arg(k, v, "on or off", why_r);
	set_bool(a, k->f, b);
	return 0;
}

/* keepbcc (msmtp 1.4): the opposite of remove_bcc_headers. */
static int
k_bool_not(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool b;
	if (parse_onoff(v, &b) != 0)
		return bad_arg(k, v, "on or off", why_r);
	set_bool(a, k->f, !b);
	return 0;
}

/* tls_nocertcheck, tls_nostarttls (msmtp 1.2): no argument, turn off. */
static int
k_flag_off(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	if (*v != '\0') {
		*why_r = str_printf("command %s does not take an argument", k->name);
		return -1;
	}
	set_bool(a, k->f, false);
	return 0;
}

/* A decimal number in [min, max]; 0 or -1. */
static int
parse_num(const char *v, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 || n < min || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int
k_port(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	unsigned p;
	if (parse_num(v, 1, 65535, &p) != 0) {
		*why_r = str_printf("invalid port '%s'", v);
		return -1;
	}
	set_val(a, k->f, &p);
	return 0;
}

static int
k_timeout(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	unsigned t = 0;
	/* A day is more than any server takes; the cap keeps timeval sane. */
	if (strcmp(v, "off") != 0 && parse_num(v, 1, 86400, &t) != 0)
		return bad_arg(k, v, "off or seconds", why_r);
	set_val(a, k->f, &t);
	return 0;
}

static int
k_auth(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	const char *mech = NULL;
	enum client_auth_mode m = CLIENT_AUTH_ON;
	if (strcmp(v, "off") == 0) {
		m = CLIENT_AUTH_OFF;
	} else if (*v != '\0' && strcmp(v, "on") != 0) {
		const struct sasl_mech *sm = sasl_mech_find(v, strlen(v));
		if (sm == NULL) {
			*why_r = str_printf("unsupported authentication mechanism '%s'", v);
			return -1;
		}
		m = CLIENT_AUTH_MECH;
		mech = sasl_mech_name(sm);
	}
	set_int(a, k->f, (int)m);
	return set_str(a, F_AUTH_MECH, mech);
}

/* oauth_provider microsoft|google, oauth_flow device|pkce. */
static int
k_oauth_word(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool provider = k->f == F_OAUTH_PROVIDER;
	const char *a1 = provider ? "microsoft" : "device", *a2 = provider ? "google" : "pkce";
	if (strcmp(v, a1) != 0 && strcmp(v, a2) != 0)
		return bad_arg(k, v, provider ? "microsoft or google" : "device or pkce", why_r);
	return set_str(a, k->f, v);
}

/* An endpoint: https://, or http:// to a loopback address only (a
 * test server; a secret never crosses a network unencrypted). */
static int
k_url(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool ok = strncmp(v, "https://", 8) == 0 || strncmp(v, "http://127.0.0.1:", 17) == 0
		  || strncmp(v, "http://[::1]:", 13) == 0 || strncmp(v, "http://localhost:", 17) == 0;
	if (!ok || strpbrk(v, " \t\r\n") != NULL)
		return bad_arg(k, v, "an https:// URL (http:// only to 127.0.0.1)", why_r);
	return set_str(a, k->f, v);
}

int
client_parse_fingerprint(const char *s, uint8_t out[32])
{
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == ':')
			continue;
		int v;
		if (*p >= '0' && *p <= '9') v = *p - '0';
		else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
		else return -1;
		if (n >= 64)
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	/* SHA-256, SHA-1, MD5: the three msmtp takes. */
	return n == 64 || n == 40 || n == 32 ? (int)(n / 2) : -1;
}

static int
k_fingerprint(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	uint8_t md[32] = { 0 };
	size_t len = 0;
	if (*v != '\0') {
		int n = client_parse_fingerprint(v, md);
		if (n < 0) {
			*why_r = str_printf("invalid tls_fingerprint '%s' (want the SHA-256 of the "
					    "certificate: 64 hex digits, colons allowed; or SHA-1 or MD5)", v);
			return -1;
		}
		len = (size_t)n;
	}
	set_val(a, k->f, md);
	set_val(a, F_FPR_LEN, &len);
	return 0;
}

static int
k_queue(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	enum client_queue_mode q;
	if (strcmp(v, "never") == 0) q = CLIENT_QUEUE_NEVER;
	else if (strcmp(v, "always") == 0) q = CLIENT_QUEUE_ALWAYS;
	else if (strcmp(v, "on-failure") == 0) q = CLIENT_QUEUE_ON_FAILURE;
	else return bad_arg(k, v, "never, always or on-failure", why_r);
	set_int(a, k->f, (int)q);
	return 0;
}

static int
k_syslog(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	static const struct { const char *name; int fac; } facs[] = {
		{ "on", LOG_USER }, { "", LOG_USER }, { "off", -1 }, { "LOG_USER", LOG_USER },
		{ "LOG_MAIL", LOG_MAIL }, { "LOG_LOCAL0", LOG_LOCAL0 }, { "LOG_LOCAL1", LOG_LOCAL1 },
		{ "LOG_LOCAL2", LOG_LOCAL2 }, { "LOG_LOCAL3", LOG_LOCAL3 }, { "LOG_LOCAL4", LOG_LOCAL4 },
		{ "LOG_LOCAL5", LOG_LOCAL5 }, { "LOG_LOCAL6", LOG_LOCAL6 }, { "LOG_LOCAL7", LOG_LOCAL7 },
	};
	for (size_t i = 0; i < sizeof facs / sizeof *facs; i++) {
		if (strcmp(v, facs[i].name) == 0) {
			set_int(a, k->f, facs[i].fac);
			return 0;
		}
	}
	return bad_arg(k, v, "on, off, LOG_USER, LOG_MAIL or LOG_LOCAL0..7", why_r);
}

static int
k_from_header(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	enum client_from_header h;
	if (strcmp(v, "auto") == 0) h = CLIENT_FROM_AUTO;
	else if (*v == '\0' || strcmp(v, "on") == 0) h = CLIENT_FROM_ON;
	else if (strcmp(v, "off") == 0) h = CLIENT_FROM_OFF;
	else return bad_arg(k, v, "auto, on or off", why_r);
	set_int(a, k->f, (int)h);
	return 0;
}

/* add_missing_from_header on|off: set_from_header auto|off (msmtp < 1.8.8). */
static int
k_add_missing_from(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool b;
	if (parse_onoff(v, &b) != 0)
		return bad_arg(k, v, "on or off", why_r);
	set_int(a, k->f, (int)(b ? CLIENT_FROM_AUTO : CLIENT_FROM_OFF));
	return 0;
}

/* set_date_header auto|off (add_missing_date_header on|off is k_bool). */
static int
k_auto_bool(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	if (*v == '\0' || strcmp(v, "auto") == 0)
		set_bool(a, k->f, true);
	else if (strcmp(v, "off") == 0)
		set_bool(a, k->f, false);
	else
		return bad_arg(k, v, "auto or off", why_r);
	return 0;
}

static int
k_dsn_notify(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	if (strcmp(v, "off") == 0)
		return set_str(a, k->f, NULL);
	/* RFC 3461 4.1: NEVER, or a comma list of SUCCESS, FAILURE, DELAY. */
	static const char *const conds[] = { "success", "failure", "delay" };
	bool seen[3] = { false, false, false };
	bool ok = *v != '\0';
	if (strcmp(v, "never") != 0) {
		for (const char *p = v; ok && *p;) {
			size_t n = strcspn(p, ",");
			bool known = false;
			for (size_t i = 0; i < 3; i++) {
				if (strlen(conds[i]) == n && strncmp(p, conds[i], n) == 0 && !seen[i])
					known = seen[i] = true;
			}
			ok = known && (p[n] == '\0' || p[n + 1] != '\0');
			p += p[n] ? n + 1 : n;
		}
	}
	if (!ok)
		return bad_arg(k, v, "off, never, or a list of success, failure, delay", why_r);
	char up[32];	/* "success,failure,delay" is the longest */
	size_t i = 0;
	for (; v[i] && i < sizeof up - 1; i++)
		up[i] = (char)toupper((unsigned char)v[i]);
	up[i] = '\0';
	return set_str(a, k->f, up);
}

static int
k_dsn_return(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	if (strcmp(v, "off") == 0)
		return set_str(a, k->f, NULL);
	if (strcmp(v, "headers") == 0)
		return set_str(a, k->f, "HDRS");
	if (strcmp(v, "full") == 0)
		return set_str(a, k->f, "FULL");
	return bad_arg(k, v, "off, headers or full", why_r);
}

/* protocol: smtp is what postern speaks; lmtp would need LHLO. */
static int
k_protocol(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	(void)a;
	if (strcmp(v, "smtp") == 0)
		return 0;
	if (strcmp(v, "lmtp") == 0) {
		*why_r = str_printf("protocol lmtp is not supported by postern send");
		return -1;
	}
	return bad_arg(k, v, "smtp or lmtp", why_r);
}

/* Keys whose silent omission would change where the mail goes (a SOCKS
 * proxy for Tor, a unix socket): empty (msmtp's "disable") is fine, a
 * value is an error rather than a connection the user did not ask for. */
static int
k_unsupported(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	(void)a;
	if (*v == '\0')
		return 0;
	*why_r = str_printf("%s is not supported by postern send (the mail would not go the way "
			    "this file says)", k->name);
	return -1;
}

/* Accepted without effect: any argument. */
static int
k_any(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	(void)a;
	(void)k;
	(void)v;
	(void)why_r;
	return 0;
}

static int
k_any_bool(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	bool b;
	(void)a;
	return parse_onoff(v, &b) == 0 ? 0 : bad_arg(k, v, "on or off", why_r);
}

static int
k_any_number(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	unsigned n;
	(void)a;
	return *v == '\0' || parse_num(v, 1, 1u << 20, &n) == 0 ? 0 : bad_arg(k, v, "a number", why_r);
}

static int
k_auto_off(struct client_account *a, const struct key *k, const char *v, char **why_r)
{
	(void)a;
	return strcmp(v, "auto") == 0 || strcmp(v, "off") == 0 ? 0 : bad_arg(k, v, "auto or off", why_r);
}

/* Every command of msmtp 1.8's manual and the older spellings its
 * conf.c still reads, plus postern's own `queue`. */
static const struct key keys[] = {
	{ "host", k_str, F_HOST, NULL },
	{ "port", k_port, F_PORT, NULL },
	{ "source_ip", k_str, F_SOURCE_IP, NULL },
	{ "timeout", k_timeout, F_TIMEOUT, NULL },
	{ "connect_timeout", k_timeout, F_TIMEOUT, NULL },	/* msmtp <= 1.4.1 */
	{ "domain", k_str, F_DOMAIN, NULL },
	{ "tls", k_bool, F_TLS, NULL },
	{ "tls_starttls", k_bool, F_STARTTLS, NULL },
	{ "tls_nostarttls", k_flag_off, F_STARTTLS, NULL },	/* msmtp 1.2 */
	{ "tls_trust_file", k_trust, F_TRUST, NULL },
	{ "tls_certcheck", k_bool, F_CERTCHECK, NULL },
	{ "tls_nocertcheck", k_flag_off, F_CERTCHECK, NULL },	/* msmtp 1.2 */
	{ "tls_fingerprint", k_fingerprint, F_FPR, NULL },
	{ "tls_cert_file", k_path, F_CERT, NULL },
	{ "tls_key_file", k_path, F_KEY, NULL },
	{ "tls_host_override", k_str, F_HOST_OVERRIDE, NULL },
	{ "auth", k_auth, F_AUTH, NULL },
	{ "user", k_str, F_USER, NULL },
	{ "password", k_str, F_PASSWORD, NULL },
	{ "passwordeval", k_str, F_PWEVAL, NULL },
	{ "oauth_provider", k_oauth_word, F_OAUTH_PROVIDER, NULL },
	{ "oauth_flow", k_oauth_word, F_OAUTH_FLOW, NULL },
	{ "oauth_client_id", k_str, F_OAUTH_CLIENT_ID, NULL },
	{ "oauth_client_secret", k_str, F_OAUTH_CLIENT_SECRET, NULL },
	{ "oauth_scope", k_str, F_OAUTH_SCOPE, NULL },
	{ "oauth_token_endpoint", k_url, F_OAUTH_TOKEN_EP, NULL },
	{ "oauth_device_endpoint", k_url, F_OAUTH_DEVICE_EP, NULL },
	{ "oauth_authorize_endpoint", k_url, F_OAUTH_AUTHORIZE_EP, NULL },
	{ "oauth_token_file", k_path, F_OAUTH_TOKEN_FILE, NULL },
	{ "from", k_str, F_FROM, NULL },
	{ "allow_from_override", k_bool, F_FROM_OVERRIDE, NULL },
	{ "auto_from", k_bool, F_AUTO_FROM, NULL },
	{ "maildomain", k_str, F_MAILDOMAIN, NULL },
	{ "set_from_header", k_from_header, F_FROM_HEADER, NULL },
	{ "add_missing_from_header", k_add_missing_from, F_FROM_HEADER, NULL },
	{ "set_date_header", k_auto_bool, F_DATE_HEADER, NULL },
	{ "add_missing_date_header", k_bool, F_DATE_HEADER, NULL },
	{ "remove_bcc_headers", k_bool, F_REMOVE_BCC, NULL },
	{ "keepbcc", k_bool_not, F_REMOVE_BCC, NULL },	/* msmtp 1.4 */
	{ "undisclosed_recipients", k_bool, F_UNDISCLOSED, NULL },
	{ "dsn_notify", k_dsn_notify, F_DSN_NOTIFY, NULL },
	{ "dsn_return", k_dsn_return, F_DSN_RETURN, NULL },
	{ "aliases", k_path, F_ALIASES, NULL },
	{ "logfile", k_path, F_LOGFILE, NULL },
	{ "logfile_time_format", k_str, F_LOGFILE_TIME, NULL },
	{ "syslog", k_syslog, F_SYSLOG, NULL },
	{ "queue", k_queue, F_QUEUE, NULL },
	{ "protocol", k_protocol, F__COUNT, NULL },
	{ "proxy_host", k_unsupported, F__COUNT, NULL },
	{ "socket", k_unsupported, F__COUNT, NULL },
	{ "proxy_port", k_any_number, F__COUNT, "no effect without proxy_host" },
	{ "ntlmdomain", k_any, F__COUNT, "NTLM is not offered by postern" },
	{ "tls_crl_file", k_any, F__COUNT, "CRL files are not read (deprecated in msmtp)" },
	{ "tls_priorities", k_any, F__COUNT, "GnuTLS priority strings do not apply to "
					     "OpenSSL; its defaults are used (TLS 1.2 or later)" },
	{ "tls_min_dh_prime_bits", k_any_number, F__COUNT, "finite-field DH is not negotiated "
							   "below OpenSSL's defaults anyway" },
	{ "tls_force_sslv3", k_any_bool, F__COUNT, "SSLv3 is never used (msmtp ignores it too)" },
	{ "set_msgid_header", k_auto_off, F__COUNT, "postern leaves Message-ID to the mail user "
						    "agent or the server" },
};

int
client_key_set(struct client_account *a, const char *key, const char *v, char **why_r,
	       char **note_r)
{
	*note_r = NULL;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const struct key *k = &keys[i];
		if (strcmp(k->name, key) != 0)
			continue;
		*why_r = NULL;
		if (k->parse(a, k, v, why_r) != 0) {
			if (*why_r == NULL)
				*why_r = str_printf("out of memory");
			return -1;
		}
		if (k->note == NULL)
			return 0;
		*note_r = str_printf("'%s' has no effect in postern: %s", key, k->note);
		return 1;
	}
	*why_r = str_printf("unknown command '%s'", key);
	return -1;
}
