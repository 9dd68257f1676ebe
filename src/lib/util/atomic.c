/* atomic.c - atomic, durable publishing of a file (atomic.h). */
#include "util/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int
atomic_rename(int dirfd, const char *tmp, const char *name, bool replace)
{
	if (replace)
		return renameat(dirfd, tmp, dirfd, name);
	int rc = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
	if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without RENAME_NOREPLACE: a link fails on
		 * an existing name just the same. */
		rc = linkat(dirfd, tmp, dirfd, name, 0);
		if (rc == 0)
			(void)unlinkat(dirfd, tmp, 0);
	}
	return rc;
}

int
atomic_publish(int dirfd, int fd, const char *tmp, const char *name, bool replace,
	       const char **step_r)
{
	int e = 0;
	/* The data must be on disk before the name points at it. */
	if (fsync(fd) != 0) {
		e = errno;
		*step_r = "fsync";
	}
	if (close(fd) != 0 && e == 0) {
		e = errno;
		*step_r = "close";
	}
	if (e == 0 && atomic_rename(dirfd, tmp, name, replace) != 0) {
		e = errno;
		*step_r = "rename";
	}
	if (e != 0) {
		(void)unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	/* And the new name must be on disk before anyone is told. */
	if (fsync(dirfd) != 0) {
		*step_r = "folder fsync";
		return -1;
	}
	return 0;
}
