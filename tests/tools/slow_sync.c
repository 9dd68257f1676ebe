/* slow_sync.c - a slow disk for tests (LD_PRELOAD): every fdatasync of
 * the process takes POSTERN_TEST_SYNC_DELAY_MS milliseconds more.
 * tests/interop/test_flush_thread.py uses it to show that the group
 * commit's flush does not stop the event loop. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd);

int
fdatasync(int fd)
{
	int (*real)(int) = NULL;
	void *sym = dlsym(RTLD_NEXT, "fdatasync");
	if (sym == NULL) {
		errno = ENOSYS;
		return -1;
	}
	*(void **)&real = sym;
	const char *v = getenv("POSTERN_TEST_SYNC_DELAY_MS");
	char *end = NULL;
	long ms = v != NULL ? strtol(v, &end, 10) : 0;
	if (ms > 0 && ms < 60000) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return real(fd);
}
