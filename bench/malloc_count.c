/* malloc_count.c - an LD_PRELOAD shim that counts the live heap of a
 * process (bench only, never linked into postern).
 *
 * RSS moves in pages and is noisy by a few hundred bytes per session;
 * this counts exactly what is allocated: live chunks and their bytes as
 * glibc lays them out (malloc_usable_size + the 8-byte size field).  On
 * SIGUSR2 it writes "chunks=N bytes=M\n" to $MALLOC_COUNT_OUT.
 *
 *   cc -O2 -shared -fPIC -o malloc_count.so bench/malloc_count.c
 *   LD_PRELOAD=./malloc_count.so MALLOC_COUNT_OUT=/tmp/heap postern serve ...
 *   kill -USR2 PID; cat /tmp/heap
 *
 * bench/idle_sessions.py --malloc-count builds and uses it.  glibc's
 * __libc_* entry points do the real work, so there is no dlsym()
 * bootstrap problem; the process must be single-threaded enough that
 * relaxed atomics are all the ordering it needs (postern is). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static long live_chunks, live_bytes;
static const char *out_path;	/* $MALLOC_COUNT_OUT, read once at start */

static size_t
mc_size(void *p)
{
	return p ? malloc_usable_size(p) + sizeof(size_t) : 0;
}

static void
mc_add(void *p)
{
	if (p == NULL)
		return;
	__atomic_add_fetch(&live_chunks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&live_bytes, (long)mc_size(p), __ATOMIC_RELAXED);
}

static void
mc_sub(void *p)
{
	if (p == NULL)
		return;
	__atomic_sub_fetch(&live_chunks, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&live_bytes, (long)mc_size(p), __ATOMIC_RELAXED);
}

void *
malloc(size_t n)
{
	void *p = __libc_malloc(n);
	mc_add(p);
	return p;
}

void *
calloc(size_t m, size_t n)
{
	void *p = __libc_calloc(m, n);
	mc_add(p);
	return p;
}

void *
realloc(void *old, size_t n)
{
	size_t before = mc_size(old);
	void *p = __libc_realloc(old, n);
	if (p == NULL && n != 0)
		return NULL;	/* old is still there, unchanged */
	if (old != NULL) {
		__atomic_sub_fetch(&live_chunks, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&live_bytes, (long)before, __ATOMIC_RELAXED);
	}
	mc_add(p);
	return p;
}

void
free(void *p)
{
	mc_sub(p);
	__libc_free(p);
}

void *
memalign(size_t align, size_t n)
{
	void *p = __libc_memalign(align, n);
	mc_add(p);
	return p;
}

void *
aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	void *p = memalign(align, n);
	if (p == NULL)
		return 12;	/* ENOMEM */
	*out = p;
	return 0;
}

/* Decimal digits of v (v >= 0 or not) into b, returns the length. */
static size_t
mc_fmt(char *b, long v)
{
	char t[24];
	size_t n = 0, k = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
	do
		t[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		b[k++] = '-';
	while (n > 0)
		b[k++] = t[--n];
	return k;
}

static void
mc_dump(int sig)
{
	(void)sig;
	const char *path = out_path;
	if (path == NULL)
		return;
	char line[80];
	size_t n = 0;
	memcpy(line, "chunks=", 7);
	n = 7 + mc_fmt(line + 7, __atomic_load_n(&live_chunks, __ATOMIC_RELAXED));
	memcpy(line + n, " bytes=", 7);
	n += 7;
	n += mc_fmt(line + n, __atomic_load_n(&live_bytes, __ATOMIC_RELAXED));
	line[n++] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		(void)!write(fd, line, n);
		close(fd);
	}
}

__attribute__((constructor)) static void
mc_init(void)
{
	out_path = getenv("MALLOC_COUNT_OUT");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = mc_dump;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
}
