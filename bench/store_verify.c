/* store_verify.c - PLAIN/LOGIN password verifications per second in the
 * file store: cold (the login cache wiped before each one, so every
 * login pays crypt_r), cached (the same right password again) and wrong
 * (never cached).  Run by hand; nothing is asserted.
 *
 *	cc -O2 -D_GNU_SOURCE -Isrc -Isrc/lib bench/store_verify.c \
 *	   build/libpostern-store.a build/libpostern.a -lcrypt -lssl -lcrypto -lidn \
 *	   -o /tmp/store_verify && /tmp/store_verify [SECONDS_PER_CASE]
 *
 * Single-threaded, like the server's event loop that calls the store.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_file.h"
#include "store/store_impl.h"
#include "util/log.h"

#define USER "bench@example.test"
#define PASSWORD "bench password 42"

enum mode { COLD, CACHED, WRONG };

static double
now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Verifications per second for about secs seconds; -1 on a wrong answer. */
static double
run(struct store *st, enum mode m, double secs)
{
	struct store_file_cache *c = store_file_cache_of(store_impl_of(st, &store_file_ops));
	const char *pw = m == WRONG ? "not the password" : PASSWORD;
	struct sasl_cred_request req = { .kind = SASL_CRED_PASSWORD, .authcid = USER,
		.password = (const uint8_t *)pw, .password_len = strlen(pw) };
	enum sasl_cred_status want = m == WRONG ? SASL_CRED_BADPASS : SASL_CRED_OK;
	struct sasl_cred_answer a;
	unsigned long n = 0;
	double t0 = now_sec(), t;
	do {
		for (int i = 0; i < 16; i++, n++) {
			if (m == COLD)
				store_file_cache_clear(c);
			store_answer(st, &req, &a);
			if (a.status != want)
				return -1;
		}
		t = now_sec() - t0;
	} while (t < secs);
	return (double)n / t;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0;
	char dir[] = "/tmp/postern-bench.XXXXXX", path[64], *err = NULL;
	log_init("store_verify", LOG_LVL_ERR, false);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/users", dir);
	struct store_file_newuser u = { .name = USER, .password = PASSWORD };
	if (store_file_edit_add(path, &u, &err) != STORE_FILE_EDIT_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct store *st = store_open(path, NULL, &err);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	static const char *const names[] = { "cold (crypt_r)", "cached", "wrong (crypt_r)" };
	for (enum mode m = COLD; m <= WRONG; m++) {
		double r = run(st, m, secs);
		if (r < 0) {
			fprintf(stderr, "%s: unexpected answer\n", names[m]);
			return 1;
		}
		printf("%-16s %12.0f verifications/s  %10.2f us each\n", names[m], r, 1e6 / r);
	}
	store_free(&st);
	unlink(path);
	snprintf(path, sizeof path, "%s/users.lock", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
