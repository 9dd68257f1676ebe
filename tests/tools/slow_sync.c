/* slow_sync.c - a slow disk for tests (LD_PRELOAD): in the process
 * named POSTERN_TEST_SYNC_PROC (by default postern-net, the network
 * process), every fsync and fdatasync takes POSTERN_TEST_SYNC_DELAY_MS
 * milliseconds more.  tests/interop/test_flush_thread.py uses it to
 * show that the group commit's flushes do not stop the event loop. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd);
int fsync(int fd);

static void
slow_down(void)
{
	char name[17] = { 0 };
	const char *want = getenv("POSTERN_TEST_SYNC_PROC");
	if (prctl(PR_GET_NAME, name, 0, 0, 0) < 0 ||
	    strcmp(name, want != NULL ? want : "postern-net") != 0)
		return;
	const char *v = getenv("POSTERN_TEST_SYNC_DELAY_MS");
	char *end = NULL;
	long ms = v != NULL ? strtol(v, &end, 10) : 0;
	if (ms <= 0 || ms >= 60000)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The libc function of that name. */
static int
real_sync(const char *fn, int fd)
{
	int (*real)(int) = NULL;
	void *sym = dlsym(RTLD_NEXT, fn);
	if (sym == NULL) {
		errno = ENOSYS;
		return -1;
	}
	*(void **)&real = sym;
	return real(fd);
}

int
fdatasync(int fd)
{
	slow_down();
	return real_sync("fdatasync", fd);
}

int
fsync(int fd)
{
	slow_down();
	return real_sync("fsync", fd);
}
