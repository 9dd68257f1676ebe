/* oauth_token.c - an account's OAuth endpoints and token file, and the
 * refresh that keeps the access token usable (refresh_token grant,
 * RFC 6749 section 6; a new refresh token replaces the old one). */
#include "client/oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "util/str.h"

/* Presets only fill endpoints and scope (DESIGN: the user supplies the
 * client id).  Microsoft's "common" tenant unless the endpoints say
 * otherwise. */
static const struct {
	const char *name, *token, *device, *authorize, *scope;
} presets[] = {
	{ "microsoft", "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
	  "https://outlook.office.com/SMTP.Send offline_access" },
	{ "google", "https://oauth2.googleapis.com/token", "https://oauth2.googleapis.com/device/code",
	  "https://accounts.google.com/o/oauth2/v2/auth", "https://mail.google.com/" },
};

int
oauth_endpoints(const struct client_account *a, struct oauth_endpoints *e, char **err_r)
{
	memset(e, 0, sizeof *e);
	for (size_t i = 0; a->oauth_provider && i < sizeof presets / sizeof *presets; i++) {
		if (strcmp(a->oauth_provider, presets[i].name) == 0) {
			e->token = presets[i].token;
			e->device = presets[i].device;
			e->authorize = presets[i].authorize;
			e->scope = presets[i].scope;
		}
	}
	if (a->oauth_token_endpoint)
		e->token = a->oauth_token_endpoint;
	if (a->oauth_device_endpoint)
		e->device = a->oauth_device_endpoint;
	if (a->oauth_authorize_endpoint)
		e->authorize = a->oauth_authorize_endpoint;
	if (a->oauth_scope)
		e->scope = a->oauth_scope;
	e->device_flow = a->oauth_flow == NULL || strcmp(a->oauth_flow, "device") == 0;
	const char *missing = a->oauth_client_id == NULL ? "oauth_client_id"
			      : e->token == NULL ? "oauth_token_endpoint (or oauth_provider)"
			      : e->device_flow && e->device == NULL ? "oauth_device_endpoint"
			      : !e->device_flow && e->authorize == NULL ? "oauth_authorize_endpoint"
			      : e->scope == NULL ? "oauth_scope" : NULL;
	if (missing != NULL) {
		*err_r = str_printf("%s:%u: account %s: OAuth needs %s", a->file ? a->file : "config",
				    a->line, a->name ? a->name : "default", missing);
		return -1;
	}
	return 0;
}

bool
oauth_account_uses_file(const struct client_account *a)
{
	const struct sasl_mech *m = a->auth_mech ? sasl_mech_find(a->auth_mech, strlen(a->auth_mech))
						 : NULL;
	return m != NULL && sasl_mech_uses_token(m) && a->password == NULL
	       && a->passwordeval == NULL && a->oauth_client_id != NULL;
}

char *
oauth_token_path(const struct client_account *a)
{
	if (a->oauth_token_file)
		return strdup(a->oauth_token_file);
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *name = a->name ? a->name : "default";
	if (state != NULL && state[0] == '/')
		return str_printf("%s/postern/oauth-%s.json", state, name);
	return str_printf("%s/.local/state/postern/oauth-%s.json", home ? home : ".", name);
}

static void
wipe_free(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
oauth_tokens_free(struct oauth_tokens *t)
{
	wipe_free(&t->access_token);
	wipe_free(&t->refresh_token);
	t->expires_at = 0;
}

static char *
json_strdup(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v != NULL && v[0] != '\0' ? strdup(v) : NULL;
}

int
oauth_tokens_load(const char *path, struct oauth_tokens *t, char **err_r)
{
	memset(t, 0, sizeof *t);
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL && access(path, F_OK) != 0 && errno == ENOENT)
		return 1;
	const json_t *exp = json_object_get(j, "expires_at");
	t->access_token = json_strdup(j, "access_token");
	t->refresh_token = json_strdup(j, "refresh_token");
	t->expires_at = json_is_integer(exp) ? (time_t)json_integer_value(exp) : 0;
	json_decref(j);
	if (t->access_token == NULL) {
		*err_r = j == NULL ? str_printf("%s:%d: %s", path, je.line, je.text)
				   : str_printf("%s: no access_token", path);
		oauth_tokens_free(t);
		return -1;
	}
	return 0;
}

/* Creates the folders above path (0700), as `mkdir -p`. */
static void
make_parents(const char *path)
{
	char *d = strdup(path);
	for (char *p = d ? d + 1 : NULL; p != NULL && (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		(void)mkdir(d, 0700);
		*p = '/';
	}
	free(d);
}

static int
fsync_dir(const char *path)
{
	char *d = strdup(path);
	int fd = d ? open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	free(d);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	(void)close(fd);
	return rc;
}

int
oauth_tokens_save(const char *path, const struct oauth_tokens *t, char **err_r)
{
	json_t *j = json_pack("{s:s, s:s*, s:I, s:s}", "access_token", t->access_token,
			      "refresh_token", t->refresh_token, "expires_at",
			      (json_int_t)t->expires_at, "token_type", "Bearer");
	char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	char *tmp = str_printf("%s.tmp.%ld", path, (long)getpid());
	make_parents(path);
	int fd = tmp && text ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	size_t len = text ? strlen(text) : 0;
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	ok = ok && rename(tmp, path) == 0 && fsync_dir(path) == 0;
	if (!ok) {
		*err_r = str_printf("%s: cannot write the token file: %s", path, strerror(errno));
		if (tmp)
			(void)unlink(tmp);
	}
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	free(tmp);
	return ok ? 0 : -1;
}

int
oauth_tokens_take(struct oauth_tokens *t, const json_t *answer, time_t now, char **err_r)
{
	char *access = json_strdup(answer, "access_token");
	if (access == NULL) {
		*err_r = oauth_http_error(answer, 200);
		return -1;
	}
	wipe_free(&t->access_token);
	t->access_token = access;
	char *refresh = json_strdup(answer, "refresh_token");
	if (refresh != NULL) {	/* rotation: the old one is spent */
		wipe_free(&t->refresh_token);
		t->refresh_token = refresh;
	}
	const json_t *in = json_object_get(answer, "expires_in");
	json_int_t secs = json_is_integer(in) ? json_integer_value(in) : 3600;
	t->expires_at = now + (time_t)(secs > 0 && secs < (json_int_t)86400 * 366 ? secs : 3600);
	return 0;
}

static int
refresh(const struct client_account *a, const char *path, struct oauth_tokens *t, char **err_r)
{
	struct oauth_endpoints e;
	if (oauth_endpoints(a, &e, err_r) < 0)
		return -1;
	const char *name = a->name ? a->name : "default";
	char *form = NULL, *why = NULL;
	json_t *ans = NULL;
	int ok = oauth_form_add(&form, "grant_type", "refresh_token") == 0
		 && oauth_form_add(&form, "refresh_token", t->refresh_token) == 0
		 && oauth_form_add(&form, "client_id", a->oauth_client_id) == 0
		 && (a->oauth_client_secret == NULL
		     || oauth_form_add(&form, "client_secret", a->oauth_client_secret) == 0);
	long status = ok ? oauth_http_post(e.token, form, &ans, &why) : -1;
	if (form)
		OPENSSL_cleanse(form, strlen(form));
	free(form);
	if (status == 200 && oauth_tokens_take(t, ans, time(NULL), &why) == 0
	    && oauth_tokens_save(path, t, &why) == 0) {
		json_decref(ans);
		return 0;
	}
	if (why == NULL)
		why = ans ? oauth_http_error(ans, status) : str_printf("out of memory");
	*err_r = str_printf("account %s: the OAuth token could not be refreshed: %s; "
			    "run postern oauth login -a %s", name, why, name);
	free(why);
	json_decref(ans);
	return -1;
}

int
oauth_access_token(const struct client_account *a, char **token_r, char **err_r)
{
	const char *name = a->name ? a->name : "default";
	char *path = oauth_token_path(a), *why = NULL;
	struct oauth_tokens t;
	int rc = path ? oauth_tokens_load(path, &t, &why) : -1;
	*token_r = NULL;
	if (rc == 1) {
		*err_r = str_printf("account %s: no OAuth token yet (%s); run postern oauth login -a %s",
				    name, path, name);
		rc = -1;
	} else if (rc < 0) {
		*err_r = str_printf("account %s: %s; run postern oauth login -a %s", name,
				    why ? why : "out of memory", name);
	} else if (t.expires_at - OAUTH_REFRESH_MARGIN <= time(NULL)) {
		if (t.refresh_token == NULL) {
			*err_r = str_printf("account %s: the OAuth token expired and there is no "
					    "refresh token; run postern oauth login -a %s", name, name);
			rc = -1;
		} else {
			rc = refresh(a, path, &t, err_r);
		}
	}
	if (rc == 0) {
		*token_r = t.access_token;
		t.access_token = NULL;
	}
	if (path)
		oauth_tokens_free(&t);
	free(why);
	free(path);
	return rc;
}
