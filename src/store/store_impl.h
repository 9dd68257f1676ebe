/* store_impl.h - what a credential backend provides to store.c.
 *
 * Each backend (store_<impl>.c) exports one const struct store_ops;
 * store.c picks it by the spec's prefix and forwards the public calls.
 * Only store.c and backends include this header.
 */
#ifndef POSTERN_STORE_IMPL_H
#define POSTERN_STORE_IMPL_H

#include <stdbool.h>

#include "store/store.h"

struct store_ops {
	const char *scheme;	/* the spec prefix before ':', e.g. "file" */
	/* arg is the spec after "scheme:"; returns the backend's state or
	 * NULL with *err_r malloc'd. */
	void *(*open)(const char *arg, const char *base_dir, char **err_r);
	void (*free)(void *impl);
	bool (*supports)(const void *impl, enum sasl_cred_kind kind);
	void (*answer)(void *impl, const struct sasl_cred_request *req,
		       struct sasl_cred_answer *answer_r);
	int (*reload)(void *impl, char **err_r);
	/* Optional (NULL: answer() is always cheap): the halves of
	 * store_answer_begin() etc. in store.h.  A backend's job struct
	 * starts with a struct store_job. */
	struct store_job *(*begin)(void *impl, const struct sasl_cred_request *req,
				   struct sasl_cred_answer *answer_r);
	void (*run)(struct store_job *j);
	void (*end)(void *impl, struct store_job *j, struct sasl_cred_answer *answer_r);
	void (*job_free)(struct store_job *j);
	/* Optional: does the backend hold this user (as the client named
	 * it)?  Cheap, on the store's thread.  In a credentials list
	 * (store.c) a backend that holds the user decides; one without
	 * has_user cannot say so without a full check (PAM), so it may only
	 * be the last of a list. */
	bool (*has_user)(void *impl, const char *authcid);
	/* Optional, for a backend without has_user: is name one of its
	 * users as a mail recipient (the RCPT check, store_has_user())?
	 * PAM answers from the system's accounts, as Postfix's
	 * local_recipient_maps = unix:passwd.byname. */
	bool (*is_recipient)(void *impl, const char *name);
	/* Optional: why the backend cannot answer requests of kind (a
	 * static sentence for `serve --check`); NULL when it can or when
	 * there is nothing to add. */
	const char *(*why_not)(const void *impl, enum sasl_cred_kind kind);
	/* Set for a backend whose users `postern passwd` cannot edit: the
	 * end of "credentials 'SPEC': ..." saying who manages them. */
	const char *managed_by;
};

/* The head of every backend's job.  store.c sets impl to the backend
 * that made the job (a list has several), for store_job_end(). */
struct store_job {
	const struct store_ops *ops;
	void *impl;
};

extern const struct store_ops store_file_ops;
extern const struct store_ops store_pam_ops;

/* The file store of spec (store_spec_file()): 0 with *path_r malloc'd,
 * or 0 with *path_r NULL when the spec has none (then *err_r says why
 * passwd cannot edit it, malloc'd), or -1 with *err_r for a bad spec. */
int store_spec_find_file(const char *spec, const char *base_dir, char **path_r, char **err_r);

/* A store of a backend that is not opened from a `credentials` spec
 * (the token verifier, store_oauth.h): takes impl (ops->free frees it
 * with the store).  NULL when out of memory (impl untouched). */
struct store *store_wrap(const struct store_ops *ops, void *impl);

/* Test hook (unit tests, bench/): the backend state behind st when st
 * was opened with ops, else NULL. */
void *store_impl_of(struct store *st, const struct store_ops *ops);

/* *err_r messages are made with str_printf(); NULL only when out of
 * memory (callers print "out of memory" for a NULL message). */
#include "util/str.h"

#endif
