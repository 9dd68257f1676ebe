/* store.c - picks a credential backend by the spec's prefix and
 * forwards the store.h calls to it. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_file.h"
#include "store/store_impl.h"

struct store {
	const struct store_ops *ops;
	void *impl;
};

static const struct store_ops *const store_backends[] = {
	&store_file_ops,
};

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
	for (size_t i = 0; i < sizeof store_backends / sizeof store_backends[0]; i++) {
		const struct store_ops *ops = store_backends[i];
		if (strlen(ops->scheme) == n && memcmp(ops->scheme, spec, n) == 0) {
			*arg_r = spec + n + 1;
			return ops;
		}
	}
	*err_r = str_printf("credentials '%s': unknown backend '%.*s' (this postern has: file)",
			    spec, (int)n, spec);
	return NULL;
}

char *
store_spec_file(const char *spec, const char *base_dir, char **err_r)
{
	const char *arg;
	const struct store_ops *ops = store_pick(spec, &arg, err_r);
	if (ops == NULL)
		return NULL;
	if (ops != &store_file_ops) {
		*err_r = str_printf("credentials '%s': not a file store", spec);
		return NULL;
	}
	if (*arg == '\0') {
		*err_r = str_printf("credentials '%s': no file name", spec);
		return NULL;
	}
	char *path = store_file_resolve(arg, base_dir);
	if (path == NULL)
		*err_r = str_printf("credentials '%s': out of memory", spec);
	return path;
}

struct store *
store_open(const char *spec, const char *base_dir, char **err_r)
{
	*err_r = NULL;
	const char *arg;
	const struct store_ops *ops = store_pick(spec, &arg, err_r);
	if (ops == NULL)
		return NULL;
	struct store *st = calloc(1, sizeof *st);
	if (st == NULL) {
		*err_r = str_printf("credentials '%s': out of memory", spec);
		return NULL;
	}
	st->ops = ops;
	st->impl = ops->open(arg, base_dir, err_r);
	if (st->impl == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void
store_free(struct store **sp)
{
	if (*sp == NULL)
		return;
	(*sp)->ops->free((*sp)->impl);
	free(*sp);
	*sp = NULL;
}

bool
store_supports(const struct store *st, enum sasl_cred_kind kind)
{
	return st->ops->supports(st->impl, kind);
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
	if (st->ops->begin == NULL) {
		st->ops->answer(st->impl, req, answer_r);
		return NULL;
	}
	return st->ops->begin(st->impl, req, answer_r);
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
	(*jp)->ops->end(st->impl, *jp, answer_r);
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
	if (st->ops->has_user == NULL)
		return STORE_USER_UNKNOWN;
	char *prepped = NULL;
	const char *why;
	if (store_user_prep(name, &prepped, &why) < 0)
		return STORE_USER_NO;
	enum store_user rc = st->ops->has_user(st->impl, prepped);
	free(prepped);
	return rc;
}

int
store_reload(struct store *st, char **err_r)
{
	*err_r = NULL;
	return st->ops->reload(st->impl, err_r);
}

void *
store_impl_of(struct store *st, const struct store_ops *ops)
{
	return st->ops == ops ? st->impl : NULL;
}
