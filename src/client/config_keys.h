/* config_keys.h - internals of the client configuration shared by
 * config.c (the file, sections, accounts) and config_keys.c (one table
 * row per msmtp command: how its value is checked and where it goes). */
#ifndef POSTERN_CLIENT_CONFIG_KEYS_H
#define POSTERN_CLIENT_CONFIG_KEYS_H

#include "client/config.h"

/* The fields of struct client_account that a key sets; bit (1 << F_x)
 * of client_account.set says the account (or defaults) gave it, so that
 * inheritance copies only those. */
enum client_field {
	F_HOST, F_PORT, F_SOURCE_IP, F_TIMEOUT, F_DOMAIN,
	F_TLS, F_STARTTLS, F_TRUST, F_CERTCHECK, F_FPR, F_FPR_LEN, F_CERT, F_KEY, F_HOST_OVERRIDE,
	F_AUTH, F_AUTH_MECH, F_USER, F_PASSWORD, F_PWEVAL,
	F_OAUTH_PROVIDER, F_OAUTH_FLOW, F_OAUTH_CLIENT_ID, F_OAUTH_CLIENT_SECRET, F_OAUTH_SCOPE,
	F_OAUTH_TOKEN_EP, F_OAUTH_DEVICE_EP, F_OAUTH_AUTHORIZE_EP, F_OAUTH_TOKEN_FILE,
	F_FROM, F_FROM_OVERRIDE, F_AUTO_FROM, F_MAILDOMAIN, F_FROM_HEADER, F_DATE_HEADER,
	F_REMOVE_BCC, F_UNDISCLOSED, F_DSN_NOTIFY, F_DSN_RETURN, F_ALIASES,
	F_LOGFILE, F_LOGFILE_TIME, F_SYSLOG, F_QUEUE,
	F__COUNT
};
_Static_assert(F__COUNT <= 64, "client_account.set is 64 bits");
#define CLIENT_FIELD_BIT(f) ((uint64_t)1 << (f))

/* A fresh account with msmtp's defaults. */
void client_account_init(struct client_account *a);
/* Frees every string (wiping the password) and zeroes a. */
void client_account_clear(struct client_account *a);
/* Copies every field that src gave into dst (inheritance). */
void client_account_inherit(struct client_account *dst, const struct client_account *src);

/* Sets key = v in a.  Returns 0 when it took effect, 1 when it is an
 * msmtp key that is accepted without effect (*note_r, malloc'd, says
 * why, for `send -v`), or -1 with *why_r (malloc'd): an unknown key or
 * a value msmtp would refuse too. */
int client_key_set(struct client_account *a, const char *key, const char *v, char **why_r,
		   char **note_r);

#endif
