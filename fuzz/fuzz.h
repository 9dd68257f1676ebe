/* fuzz.h - small helpers shared by the libFuzzer harnesses.
 *
 * Every harness is one file fuzz_<target>.c with LLVMFuzzerTestOneInput;
 * fuzz/meson.build builds them only with -Dfuzz=true (clang 14,
 * -fsanitize=fuzzer,address,undefined).  A harness never exits on bad
 * input: input is the attacker, and every outcome but a crash, a leak or
 * a sanitizer report is a pass.  A property that must hold (round trip,
 * whole == split) is checked with FUZZ_CHECK, which aborts: libFuzzer
 * then keeps the input as a crash.
 */
#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* A reader over the fuzz input, for harnesses that take several
 * messages: fuzz_take_msg() returns the bytes up to the next
 * FUZZ_SEP (or the end) as an exact-size heap copy, so that ASan sees
 * any read past a message's end.  NULL at the end of the input. */
#define FUZZ_SEP "\n--\n"

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t
fuzz_take_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	uint8_t b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

static inline uint8_t *
fuzz_take_msg(struct fuzz_in *in, size_t *len_r)
{
	if (in->n == 0 || in->p == NULL)
		return NULL;
	const size_t sepn = sizeof FUZZ_SEP - 1;
	size_t len = in->n;
	size_t adv = in->n;
	for (size_t i = 0; i + sepn <= in->n; i++) {
		if (memcmp(in->p + i, FUZZ_SEP, sepn) == 0) {
			len = i;
			adv = i + sepn;
			break;
		}
	}
	uint8_t *m = malloc(len > 0 ? len : 1);
	if (m == NULL)
		abort();
	memcpy(m, in->p, len);
	in->p += adv;
	in->n -= adv;
	*len_r = len;
	return m;
}

/* An exact-size heap copy (NUL-terminated one byte further when nul). */
static inline char *
fuzz_copy(const uint8_t *p, size_t n, int nul)
{
	char *c = malloc(n + (nul ? 1 : 0) + (n == 0 && !nul ? 1 : 0));
	if (c == NULL)
		abort();
	memcpy(c, p, n);
	if (nul)
		c[n] = '\0';
	return c;
}

/* A new folder for a harness's files: under $POSTERN_FUZZ_DIR when set
 * (scripts/fuzz.sh points it at a folder it removes afterwards, so a
 * crash leaves nothing behind), else under /dev/shm (RAM: cheap fsync). */
static inline char *
fuzz_tmpdir(char *dst, size_t size)
{
	const char *base = getenv("POSTERN_FUZZ_DIR");
	int n = snprintf(dst, size, "%s/postern-fuzz-XXXXXX",
			 base != NULL && *base != '\0' ? base : "/dev/shm");
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return mkdtemp(dst);
}

#endif
