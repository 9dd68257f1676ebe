/* store.c - picks the credential backends by the spec's prefixes and
 * forwards the store.h calls to them.
 *
 * A spec is one backend ("file:users", "pam:smtp", a bare path) or a
 * list of them separated by spaces ("file:users pam:smtp"), tried in
 * order: the first backend that holds the user decides (store_route()),
 * so a site keeps SCRAM users in the file store and its Unix accounts
 * in PAM.  A list is only a list when every word of it starts with a
 * backend's "scheme:" -- "file:/srv/my users" stays one file name.
 */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_file.h"
#include "store/store_impl.h"

struct store_backend {
	const struct store_ops *ops;
	void *impl;
};

struct store {
	struct store_backend b[STORE_LIST_MAX];
	size_t n;
};

static const struct store_ops *const store_backends[] = {
	&store_file_ops,
	&store_pam_ops,
};

/* One word of a spec, split: its backend and its argument (malloc'd). */
struct store_entry {
	const struct store_ops *ops;
	char *arg;
};

/* The backend whose scheme is the n bytes at word, or NULL. */
static const struct store_ops *
store_scheme(const char *word, size_t n)
{
	for (size_t i = 0; i < sizeof store_backends / sizeof store_backends[0]; i++) {
		const struct store_ops *ops = store_backends[i];
		if (strlen(ops->scheme) == n && memcmp(ops->scheme, word, n) == 0)
			return ops;
	}
	return NULL;
}

/* Splits "scheme:arg".  A spec whose text before the first ':' is not a
 * plain lower-case word ("/etc/users", "./a:b") is a bare file path. */
static const struct store_ops *
store_pick(const char *spec, const char **arg_r, char **err_r)
{
	size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyz");
	if (n == 0 || spec[n] != ':') {
		*arg_r = spec;
		return &store_file_ops;
	}
	const struct store_ops *ops = store_scheme(spec, n);
	if (ops != NULL) {
		*arg_r = spec + n + 1;
		return ops;
	}
	*err_r = str_printf("credentials '%s': unknown backend '%.*s' (this postern has: file, pam)",
			    spec, (int)n, spec);
	return NULL;
}

static void
store_entries_free(struct store_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].arg);
}

/* True when spec is a list: two words or more, each "scheme:..." of a
 * backend we have.  Anything else is one spec, spaces and all. */
static bool
store_is_list(const char *spec)
{
	size_t words = 0;
	for (const char *p = spec; *p != '\0';) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz");
		if (n == 0 || p[n] != ':' || store_scheme(p, n) == NULL)
			return false;
		words++;
		p += strcspn(p, " \t");
	}
	return words > 1;
}

/* Adds the list word (len bytes at word) to e[*n]; NULL, or the error
 * (malloc'd).  The rules of a list: at most STORE_LIST_MAX entries, none
 * twice, and a backend that cannot tell whether it holds a user (no
 * has_user: PAM) only last. */
static char *
store_list_add(const char *spec, struct store_entry *e, size_t *n, const char *word, size_t len)
{
	size_t k = strcspn(word, ":");
	const struct store_ops *ops = k < len ? store_scheme(word, k) : NULL;
	if (ops == NULL)
		return str_printf("credentials '%s': '%.*s' is not BACKEND:ARG", spec, (int)len, word);
	if (*n == STORE_LIST_MAX)
		return str_printf("credentials '%s': more than %d backends", spec, STORE_LIST_MAX);
	if (*n > 0 && e[*n - 1].ops->has_user == NULL)
		return str_printf("credentials '%s': %s: must come last (PAM cannot tell an unknown "
				  "user from a wrong password, so no backend after it would be asked)",
				  spec, e[*n - 1].ops->scheme);
	for (size_t i = 0; i < *n; i++)
		if (e[i].ops == ops && strlen(e[i].arg) == len - k - 1 &&
		    memcmp(e[i].arg, word + k + 1, len - k - 1) == 0)
			return str_printf("credentials '%s': %.*s is listed twice", spec, (int)len, word);
	char *arg = strndup(word + k + 1, len - k - 1);
	if (arg == NULL)
		return str_printf("credentials '%s': out of memory", spec);
	e[*n] = (struct store_entry){ ops, arg };
	(*n)++;
	return NULL;
}

/* Splits spec into its backends (one, or a list: store_list_add).
 * Returns the number of entries, or 0 with *err_r malloc'd. */
static size_t
store_split(const char *spec, struct store_entry e[STORE_LIST_MAX], char **err_r)
{
	*err_r = NULL;
	if (!store_is_list(spec)) {
		const char *arg;
		if ((e[0].ops = store_pick(spec, &arg, err_r)) == NULL)
			return 0;
		e[0].arg = strdup(arg);
		if (e[0].arg == NULL)
			*err_r = str_printf("credentials '%s': out of memory", spec);
		return e[0].arg != NULL ? 1 : 0;
	}
	size_t n = 0;
	for (const char *p = spec + strspn(spec, " \t"); *p != '\0' && *err_r == NULL;) {
		size_t len = strcspn(p, " \t");
		*err_r = store_list_add(spec, e, &n, p, len);
		p += len;
		p += strspn(p, " \t");
	}
	if (*err_r != NULL) {
		store_entries_free(e, n);
		return 0;
	}
	return n;
}

int
store_spec_find_file(const char *spec, const char *base_dir, char **path_r, char **err_r)
{
	struct store_entry e[STORE_LIST_MAX];
	*path_r = NULL;
	size_t n = store_split(spec, e, err_r);
	if (n == 0)
		return -1;
	size_t i = 0;
	while (i < n && e[i].ops != &store_file_ops)
		i++;
	if (i < n && e[i].arg[0] == '\0')
		*err_r = str_printf("credentials '%s': no file name", spec);
	else if (i < n && (*path_r = store_file_resolve(e[i].arg, base_dir)) == NULL)
		*err_r = str_printf("credentials '%s': out of memory", spec);
	else if (i == n && e[0].ops->managed_by != NULL)
		*err_r = str_printf("credentials '%s': %s", spec, e[0].ops->managed_by);
	else if (i == n)
		*err_r = str_printf("credentials '%s': not a file store", spec);
	store_entries_free(e, n);
	return *path_r != NULL || i == n ? 0 : -1;
}

char *
store_spec_file(const char *spec, const char *base_dir, char **err_r)
{
	char *path;
	(void)store_spec_find_file(spec, base_dir, &path, err_r);
	return path;
}

struct store *
store_wrap(const struct store_ops *ops, void *impl)
{
	struct store *st = calloc(1, sizeof *st);
	if (st != NULL) {
		st->b[0] = (struct store_backend){ ops, impl };
		st->n = 1;
	}
	return st;
}

void
store_free(struct store **sp)
{
	if (*sp == NULL)
		return;
	for (size_t i = 0; i < (*sp)->n; i++)
		(*sp)->b[i].ops->free((*sp)->b[i].impl);
	free(*sp);
	*sp = NULL;
}

struct store *
store_open(const char *spec, const char *base_dir, char **err_r)
{
	struct store_entry e[STORE_LIST_MAX];
	size_t n = store_split(spec, e, err_r);
	if (n == 0)
		return NULL;
	struct store *st = calloc(1, sizeof *st);
	if (st == NULL)
		*err_r = str_printf("credentials '%s': out of memory", spec);
	for (size_t i = 0; st != NULL && i < n; i++) {
		void *impl = e[i].ops->open(e[i].arg, base_dir, err_r);
		if (impl == NULL) {
			store_free(&st);
			break;
		}
		st->b[st->n++] = (struct store_backend){ e[i].ops, impl };
	}
	store_entries_free(e, n);
	return st;
}

bool
store_supports(const struct store *st, enum sasl_cred_kind kind)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->b[i].ops->supports(st->b[i].impl, kind))
			return true;
	return false;
}

const char *
store_why_not(const struct store *st, enum sasl_cred_kind kind)
{
	if (store_supports(st, kind))
		return NULL;
	for (size_t i = 0; i < st->n; i++) {
		const struct store_backend *b = &st->b[i];
		const char *why = b->ops->why_not ? b->ops->why_not(b->impl, kind) : NULL;
		if (why != NULL)
			return why;
	}
	return "the credential store cannot complete it";
}

/* The backend that decides for this user: the first of a list that
 * holds the user, else the last (which then answers "no such user" in
 * its own way: the file store after a dummy hash, SCRAM with a made-up
 * salt).  Backends before the last are asked has_user only, so a PAM
 * user costs no dummy yescrypt in the file store before PAM. */
static struct store_backend *
store_route(struct store *st, const char *authcid)
{
	for (size_t i = 0; i + 1 < st->n; i++)
		if (authcid != NULL && st->b[i].ops->has_user(st->b[i].impl, authcid))
			return &st->b[i];
	return &st->b[st->n - 1];
}

void
store_answer(struct store *st, const struct sasl_cred_request *req,
	     struct sasl_cred_answer *answer_r)
{
	struct store_job *j = store_answer_begin(st, req, answer_r);
	if (j != NULL) {
		store_job_run(j);
		store_job_end(st, &j, answer_r);
	}
}

struct store_job *
store_answer_begin(struct store *st, const struct sasl_cred_request *req,
		   struct sasl_cred_answer *answer_r)
{
	memset(answer_r, 0, sizeof *answer_r);
	struct store_backend *b = store_route(st, req->authcid);
	if (b->ops->begin == NULL) {
		b->ops->answer(b->impl, req, answer_r);
		return NULL;
	}
	struct store_job *j = b->ops->begin(b->impl, req, answer_r);
	if (j != NULL)
		j->impl = b->impl;
	return j;
}

void
store_job_run(struct store_job *j)
{
	j->ops->run(j);
}

void
store_job_end(struct store *st, struct store_job **jp, struct sasl_cred_answer *answer_r)
{
	memset(answer_r, 0, sizeof *answer_r);
	(*jp)->ops->end((*jp)->impl, *jp, answer_r);
	*jp = NULL;
}

void
store_job_free(struct store_job **jp)
{
	if (*jp != NULL)
		(*jp)->ops->job_free(*jp);
	*jp = NULL;
}

enum store_user
store_has_user(struct store *st, const char *name)
{
	/* Any backend holding the name makes it a user; a backend that
	 * cannot tell (PAM) makes a "no" from the others unsure. */
	bool unsure = false;
	for (size_t i = 0; i < st->n; i++) {
		const struct store_ops *o = st->b[i].ops;
		if (o->has_user != NULL ? o->has_user(st->b[i].impl, name)
		    : o->is_recipient != NULL && o->is_recipient(st->b[i].impl, name))
			return STORE_USER_YES;
		if (o->has_user == NULL && o->is_recipient == NULL)
			unsure = true;
	}
	return unsure ? STORE_USER_UNKNOWN : STORE_USER_NO;
}

int
store_reload(struct store *st, char **err_r)
{
	*err_r = NULL;
	int rc = 0;
	for (size_t i = 0; i < st->n; i++) {
		char *err = NULL;
		if (st->b[i].ops->reload(st->b[i].impl, &err) == 0)
			continue;
		if (rc == 0)
			*err_r = err;	/* the first failure names its file */
		else
			free(err);
		rc = -1;
	}
	return rc;
}

void *
store_impl_of(struct store *st, const struct store_ops *ops)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->b[i].ops == ops)
			return st->b[i].impl;
	return NULL;
}
