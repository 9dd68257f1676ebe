/* transport_oauth.c - relay_credentials = oauth:FILE (issue 15 item 3,
 * the bridge): the relay gets OAUTHBEARER or XOAUTH2 with the access
 * token of FILE, refreshed when it expires or when the relay refuses it.
 *
 * FILE is the client's token file (src/client/oauth_token.c:
 * access_token, refresh_token, expires_at) plus what a refresh needs,
 * which the client takes from its account instead:
 *	"user"		the mailbox to log in as (XOAUTH2's user=, OAUTHBEARER's a=)
 *	"token_endpoint"	where to refresh (RFC 6749 section 6)
 *	"client_id", "client_secret" (optional)
 * Other keys are kept as they are when the file is rewritten.
 *
 * The refresh is HTTP (libcurl, blocking) and a file write with fsync:
 * it runs on a thread of its own, one at a time; jobs that need a token
 * meanwhile wait in a list and go on when it comes back through a pipe.
 * A refresh failure fails the waiting jobs' recipients temporarily (the
 * mail stays queued while the admin renews the grant) with the
 * provider's words. */
#include "deliver/transport_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "client/oauth.h"
#include "util/str.h"

struct tr_oauth {
	char *path;
	char *user;
	char *access;			/* wiped on free */
	time_t expires_at;		/* 0: unknown (used until refused) */
	/* the refresh in flight */
	bool refreshing;
	pthread_t th;
	bool th_joinable;
	int pipe[2];
	struct event *ev;
	char *new_access, *err;		/* the thread's result */
	time_t new_expires;
	struct tr_job **wait;
	size_t nwait, capwait;
};

static char *
jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? strdup(v) : NULL;
}

/* Reads the file's access token, expiry and user into o. */
static int
load(struct tr_oauth *o, char **err_r)
{
	json_error_t je;
	json_t *j = json_load_file(o->path, 0, &je);
	if (j == NULL) {
		*err_r = str_printf("%s:%d: %s", o->path, je.line, je.text);
		return -1;
	}
	str_wipe_free(&o->access);
	free(o->user);
	o->access = jstr(j, "access_token");
	o->user = jstr(j, "user");
	o->expires_at = (time_t)json_integer_value(json_object_get(j, "expires_at"));
	bool refreshable = json_is_string(json_object_get(j, "refresh_token")) &&
			   json_is_string(json_object_get(j, "token_endpoint")) &&
			   json_is_string(json_object_get(j, "client_id"));
	json_decref(j);
	if (o->user == NULL || (o->access == NULL && !refreshable)) {
		*err_r = str_printf("%s: needs \"user\", and \"access_token\" or \"refresh_token\" with "
				    "\"token_endpoint\" and \"client_id\"", o->path);
		return -1;
	}
	return 0;
}

/* ---- the refresh thread ---- */

/* Writes j to path atomically: PATH.tmp (0600), fsync, rename, fsync
 * the folder. */
static int
save(const char *path, json_t *j, char **err_r)
{
	char *tmp = str_printf("%s.tmp", path);
	char *dirc = strdup(path);
	int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	int rc = -1;
	if (fd >= 0 && json_dumpfd(j, fd, JSON_INDENT(2)) == 0 && fsync(fd) == 0 &&
	    close(fd) == 0) {
		fd = -1;
		if (rename(tmp, path) == 0) {
			int dfd = dirc ? open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
			rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
			if (dfd >= 0)
				close(dfd);
		}
	}
	if (rc < 0)
		*err_r = str_printf("%s: cannot rewrite: %s", path, strerror(errno));
	if (fd >= 0) {
		close(fd);
		(void)unlink(tmp);
	}
	free(tmp);
	free(dirc);
	return rc;
}

/* RFC 6749 section 6 against the file's endpoint; the answer's tokens
 * (a new refresh token replaces the old one: rotation) go into the file.
 * Returns 0 with o->new_access, or -1 with o->err. */
static int
refresh(struct tr_oauth *o)
{
	json_error_t je;
	json_t *f = json_load_file(o->path, 0, &je), *ans = NULL;
	char *form = NULL;
	int rc = -1;
	if (f == NULL) {
		o->err = str_printf("%s:%d: %s", o->path, je.line, je.text);
		return -1;
	}
	const char *url = json_string_value(json_object_get(f, "token_endpoint"));
	const char *rt = json_string_value(json_object_get(f, "refresh_token"));
	const char *secret = json_string_value(json_object_get(f, "client_secret"));
	if (url == NULL || rt == NULL || !json_is_string(json_object_get(f, "client_id"))) {
		o->err = str_printf("%s: no refresh_token, token_endpoint or client_id to refresh "
				    "with", o->path);
	} else if (oauth_form_add(&form, "grant_type", "refresh_token") < 0 ||
		   oauth_form_add(&form, "refresh_token", rt) < 0 ||
		   oauth_form_add(&form, "client_id",
				  json_string_value(json_object_get(f, "client_id"))) < 0 ||
		   (secret != NULL && oauth_form_add(&form, "client_secret", secret) < 0)) {
		o->err = strdup("out of memory");
	} else {
		char *herr = NULL;
		long status = oauth_http_post(url, form, &ans, &herr);
		const char *at = json_string_value(json_object_get(ans, "access_token"));
		if (status != 200 || at == NULL) {
			char *why = herr ? herr : oauth_http_error(ans, status);
			o->err = str_printf("%s: token refresh at %s failed: %s (renew the grant and "
					    "write a new refresh_token there)", o->path, url,
					    why ? why : "?");
			if (why != herr)
				free(why);
		} else {
			json_int_t in = json_integer_value(json_object_get(ans, "expires_in"));
			o->new_expires = in > 0 ? time(NULL) + (time_t)in : 0;
			(void)json_object_set(f, "access_token", json_object_get(ans, "access_token"));
			if (json_is_string(json_object_get(ans, "refresh_token")))
				(void)json_object_set(f, "refresh_token",
						      json_object_get(ans, "refresh_token"));
			(void)json_object_set_new(f, "expires_at", json_integer(o->new_expires));
			if (save(o->path, f, &o->err) == 0) {
				o->new_access = strdup(at);
				rc = o->new_access ? 0 : -1;
			}
		}
		free(herr);
	}
	str_wipe_free(&form);
	json_decref(ans);
	json_decref(f);
	return rc;
}

static void *
refresh_thread(void *arg)
{
	struct tr_oauth *o = arg;
	char byte = 1;
	(void)refresh(o);
	while (write(o->pipe[1], &byte, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* On the loop: the refresh came back; the waiting jobs go on. */
static void
refreshed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transport *t = arg;
	struct tr_oauth *o = t->oauth;
	char byte;
	(void)what;
	if (read(fd, &byte, 1) != 1)
		return;
	(void)pthread_join(o->th, NULL);
	o->th_joinable = false;
	o->refreshing = false;
	if (o->new_access != NULL) {
		str_wipe_free(&o->access);
		o->access = o->new_access;
		o->new_access = NULL;
		o->expires_at = o->new_expires;
	}
	size_t n = o->nwait;
	o->nwait = 0;
	for (size_t i = 0; i < n; i++) {
		if (o->err != NULL)
			tr_job_fail_all(o->wait[i], SMTP_CLASS_TEMP, SMTP_STAGE_AUTH, 0, o->err, "");
		else
			tr_smtp_next(o->wait[i]);
	}
	free(o->err);
	o->err = NULL;
}

/* ---- for transport_smtp.c ---- */

bool
tr_oauth_wait(struct tr_job *j)
{
	struct transport *t = j->t;
	struct tr_oauth *o = t->oauth;
	if (o == NULL || j->route.kind != ROUTE_RELAY)
		return false;
	time_t now = time(NULL);
	if (!o->refreshing && o->access != NULL &&
	    (o->expires_at == 0 || o->expires_at - now > OAUTH_REFRESH_MARGIN))
		return false;
	if (o->nwait == o->capwait) {
		size_t cap = o->capwait ? o->capwait * 2 : 8;
		struct tr_job **w = realloc(o->wait, cap * sizeof(struct tr_job *));
		if (w == NULL) {
			tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0, "out of memory", "");
			return true;
		}
		o->wait = w;
		o->capwait = cap;
	}
	o->wait[o->nwait++] = j;
	if (!o->refreshing) {
		o->refreshing = true;
		if (pthread_create(&o->th, NULL, refresh_thread, o) != 0) {
			o->refreshing = false;
			o->nwait--;
			tr_job_fail_all(j, SMTP_CLASS_TEMP, SMTP_STAGE_LOCAL, 0,
					"cannot start the token refresh thread", "");
			return true;
		}
		o->th_joinable = true;
	}
	return true;
}

void
tr_oauth_refused(struct transport *t)
{
	if (t->oauth != NULL)
		t->oauth->expires_at = 1;	/* refused: refresh before the next try */
}

void
tr_oauth_opts(const struct transport *t, struct smtp_client_opts *o)
{
	if (t->oauth == NULL)
		return;
	o->auth = SMTP_AUTH_AUTO;
	o->token = true;
	o->user = t->oauth->user;
	o->password = t->oauth->access;
}

int
tr_oauth_new(struct transport *t, const char *path, char **err_r)
{
	struct tr_oauth *o = calloc(1, sizeof *o);
	if (o == NULL) {
		*err_r = strdup("out of memory");
		return -1;
	}
	t->oauth = o;
	o->pipe[0] = o->pipe[1] = -1;
	o->path = strdup(path);
	if (o->path == NULL || pipe2(o->pipe, O_CLOEXEC) < 0) {
		*err_r = str_printf("%s: %s", path, o->path ? strerror(errno) : "out of memory");
		return -1;
	}
	o->ev = event_new(t->base, o->pipe[0], EV_READ | EV_PERSIST, refreshed_cb, t);
	if (o->ev == NULL || event_add(o->ev, NULL) < 0) {
		*err_r = strdup("out of memory");
		return -1;
	}
	return load(o, err_r);
}

void
tr_oauth_free(struct transport *t)
{
	struct tr_oauth *o = t->oauth;
	if (o == NULL)
		return;
	if (o->th_joinable)
		(void)pthread_join(o->th, NULL);	/* a refresh is bounded by curl's timeouts */
	if (o->ev)
		event_free(o->ev);
	for (int i = 0; i < 2; i++)
		if (o->pipe[i] >= 0)
			close(o->pipe[i]);
	str_wipe_free(&o->access);
	str_wipe_free(&o->new_access);
	free(o->err);
	free(o->user);
	free(o->path);
	free(o->wait);
	free(o);
	t->oauth = NULL;
}
