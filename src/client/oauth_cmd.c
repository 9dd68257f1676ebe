/* oauth_cmd.c - `postern oauth [-C FILE] login|status [-a ACCOUNT]`:
 * getting an account's first token into its token file, and showing
 * every OAuth account's token state. */
#include "client/oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli/commands.h"
#include "sasl/sasl.h"
#include "util/str.h"

static const char prog[] = "postern oauth";

static void
usage(FILE *f)
{
	(void)fprintf(f, "usage: postern oauth [-C FILE] login|status [-a ACCOUNT]\n");
}

static int
do_login(const struct client_account *a)
{
	const char *name = a->name ? a->name : "default";
	struct oauth_endpoints e;
	struct oauth_tokens t = { 0 };
	char *err = NULL, *path = oauth_token_path(a);
	int rc = EX_OK;
	if (oauth_endpoints(a, &e, &err) < 0) {
		rc = EX_CONFIG;
	} else if (oauth_login(a, &e, &t, &err) < 0) {
		rc = EX_NOPERM;
	} else if (path == NULL || oauth_tokens_save(path, &t, &err) < 0) {
		rc = EX_CANTCREAT;
	} else {
		printf("account %s: signed in; token saved in %s%s\n", name, path,
		       t.refresh_token ? "" : " (no refresh token: sign in again when it expires)");
	}
	if (rc != EX_OK)
		(void)fprintf(stderr, "%s: account %s: %s\n", prog, name, err ? err : "out of memory");
	oauth_tokens_free(&t);
	free(err);
	free(path);
	return rc;
}

static bool
uses_token(const struct client_account *a)
{
	const struct sasl_mech *m = a->auth_mech ? sasl_mech_find(a->auth_mech, strlen(a->auth_mech))
						 : NULL;
	return m != NULL && sasl_mech_uses_token(m);
}

static void
show_status(const struct client_account *a)
{
	const char *name = a->name ? a->name : "default";
	if (!oauth_account_uses_file(a)) {
		printf("%s: token from %s\n", name, a->passwordeval ? "passwordeval" : "password");
		return;
	}
	char *path = oauth_token_path(a), *err = NULL;
	struct oauth_tokens t;
	int rc = path ? oauth_tokens_load(path, &t, &err) : -1;
	time_t now = time(NULL);
	if (rc == 1) {
		printf("%s: no token (run postern oauth login -a %s)\n", name, name);
	} else if (rc < 0) {
		printf("%s: unreadable token file: %s\n", name, err ? err : "out of memory");
	} else {
		char when[64];
		struct tm tm;
		(void)strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z",
			       localtime_r(&t.expires_at, &tm));
		long left = (long)(t.expires_at - now);
		printf("%s: access token %s %s (%s%ld min); refresh token %s; %s\n", name,
		       left > 0 ? "valid until" : "expired at", when, left > 0 ? "in " : "",
		       (left > 0 ? left : -left) / 60, t.refresh_token ? "present" : "absent", path);
		oauth_tokens_free(&t);
	}
	free(err);
	free(path);
}

static int
do_status(const struct client_config *cfg, const char *only)
{
	size_t shown = 0;
	for (size_t i = 0; i < cfg->naccounts; i++) {
		const struct client_account *a = &cfg->accounts[i];
		if ((only && (a->name == NULL || strcmp(a->name, only) != 0)) || !uses_token(a))
			continue;
		show_status(a);
		shown++;
	}
	if (shown == 0)
		printf("no account uses auth oauthbearer or xoauth2%s%s\n", only ? " named " : "",
		       only ? only : "");
	return EX_OK;
}

int
cmd_oauth(int argc, char **argv)
{
	const char *conf = NULL, *verb = NULL, *acct = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc)
			acct = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EX_OK;
		} else if (verb == NULL)
			verb = argv[i];
		else
			verb = "";
	}
	if (verb == NULL || (strcmp(verb, "login") != 0 && strcmp(verb, "status") != 0)) {
		usage(stderr);
		return EX_USAGE;
	}
	char *tried = NULL, *err = NULL;
	char *path = conf ? strdup(conf) : client_config_default_path(&tried);
	struct client_config cfg;
	if (path == NULL || client_config_load(&cfg, path, &err) != 0) {
		(void)fprintf(stderr, "%s: %s\n", prog, err ? err : tried ? tried : "no configuration");
		free(err);
		free(tried);
		free(path);
		return EX_CONFIG;
	}
	free(path);
	int rc;
	if (strcmp(verb, "status") == 0) {
		rc = do_status(&cfg, acct);
	} else {
		const struct client_account *a = client_config_account(&cfg, acct, &err);
		if (a == NULL) {
			(void)fprintf(stderr, "%s: %s\n", prog, err ? err : "no such account");
			rc = EX_CONFIG;
		} else {
			rc = do_login(a);
		}
	}
	free(err);
	client_config_free(&cfg);
	return rc;
}
