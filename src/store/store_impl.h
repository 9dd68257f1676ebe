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
	/* Optional (NULL: the backend cannot tell, store_has_user() says
	 * STORE_USER_UNKNOWN): is name (SASLprep'd) a user?  Cheap, on the
	 * store's thread. */
	enum store_user (*has_user)(void *impl, const char *name);
};

/* The head of every backend's job. */
struct store_job {
	const struct store_ops *ops;
};

extern const struct store_ops store_file_ops;

/* Test hook (unit tests, bench/): the backend state behind st when st
 * was opened with ops, else NULL. */
void *store_impl_of(struct store *st, const struct store_ops *ops);

/* *err_r messages are made with str_printf(); NULL only when out of
 * memory (callers print "out of memory" for a NULL message). */
#include "util/str.h"

#endif
