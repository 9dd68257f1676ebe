/* oauth.h - postern's own OAuth 2.0 client for `auth oauthbearer` and
 * `auth xoauth2`: endpoints (provider presets), the token file of an
 * account, refreshing it, and the two ways to get the first token
 * (`postern oauth login`): the device flow (RFC 8628) and the
 * authorization code flow with PKCE (RFC 7636) and a loopback redirect
 * (RFC 8252).  HTTP is libcurl's, JSON jansson's. */
#ifndef POSTERN_CLIENT_OAUTH_H
#define POSTERN_CLIENT_OAUTH_H

#include <stdbool.h>
#include <time.h>

#include "client/config.h"

struct json_t;

/* Refresh when less than this is left (a send can take a while). */
#define OAUTH_REFRESH_MARGIN 300

/* What an account's keys and its provider preset say. */
struct oauth_endpoints {
	const char *token, *device, *authorize;
	const char *scope;
	bool device_flow;	/* oauth_flow device (default) or pkce */
};

/* Fills e from a's oauth_* keys, the preset filling the gaps.  0, or -1
 * with *err_r (malloc'd) naming the missing key. */
int oauth_endpoints(const struct client_account *a, struct oauth_endpoints *e, char **err_r);
/* True when a gets its token from postern's token file: a token
 * mechanism, no password/passwordeval, and an OAuth client id. */
bool oauth_account_uses_file(const struct client_account *a);
/* The token file of a (malloc'd): oauth_token_file, else
 * $XDG_STATE_HOME/postern/oauth-NAME.json (~/.local/state/...). */
char *oauth_token_path(const struct client_account *a);

/* A token file's content. */
struct oauth_tokens {
	char *access_token;	/* wiped on free */
	char *refresh_token;	/* wiped on free; NULL when none */
	time_t expires_at;	/* 0: unknown */
};
void oauth_tokens_free(struct oauth_tokens *t);
/* 0, 1 when the file does not exist, -1 with *err_r. */
int oauth_tokens_load(const char *path, struct oauth_tokens *t, char **err_r);
/* Writes atomically, mode 0600 (temp file, fsync, rename, fsync dir). */
int oauth_tokens_save(const char *path, const struct oauth_tokens *t, char **err_r);
/* Takes a token endpoint's JSON answer into t (keeps the old refresh
 * token unless a new one came: rotation).  0, or -1 with *err_r saying
 * the provider's error (error, error_description). */
int oauth_tokens_take(struct oauth_tokens *t, const struct json_t *answer, time_t now,
		      char **err_r);

/* The access token for a (malloc'd, wipe it), refreshed first when it
 * expires within OAUTH_REFRESH_MARGIN.  0, or -1 with *err_r naming the
 * provider's error and the fix ("run postern oauth login -a NAME"). */
int oauth_access_token(const struct client_account *a, char **token_r, char **err_r);

/* oauth_http.c: POSTs form (already url-encoded) to url; the answer
 * must be JSON.  Returns the HTTP status (and a new object in *json_r)
 * or -1 with *err_r. */
long oauth_http_post(const char *url, const char *form, struct json_t **json_r, char **err_r);
/* Appends "&name=value" (value url-encoded) to *form (malloc'd). */
int oauth_form_add(char **form, const char *name, const char *value);
/* "error: description" of an error answer (malloc'd). */
char *oauth_http_error(const struct json_t *answer, long status);

/* oauth_flow.c: the first token, by the account's flow; 0 or -1 with *err_r. */
int oauth_login(const struct client_account *a, const struct oauth_endpoints *e,
		struct oauth_tokens *t, char **err_r);

#endif
