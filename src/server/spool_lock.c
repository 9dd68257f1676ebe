/* spool_lock.c - one server per spool.
 *
 * A server cleans tmp/ when it starts (what is there was never
 * acknowledged), so a second server on the same spool, or anything else
 * that cleaned it, would delete the messages the first one is receiving.
 * The server therefore holds an exclusive flock(2) on SPOOL/lock for its
 * whole life, and cleans tmp/ only under it (spool_open() checks).
 *
 * flock rather than fcntl locks: an fcntl lock belongs to the process
 * and is lost when any descriptor of the file is closed, and it is not
 * inherited across fork(); a flock belongs to the open file, so the
 * process that takes it may hand the descriptor to a child (a privileged
 * parent and an unprivileged network process, DESIGN.md).  The kernel
 * drops it when the last holder exits, even on SIGKILL: no stale lock.
 * The file holds the holder's pid, for the message the next one gets.
 */
#include "server/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool_impl.h"

/* The pid written by the holder; 0 when the file holds none (yet). */
static long
spool_lock_holder(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	if (n <= 0)
		return 0;
	long pid = 0;
	for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9' && pid < 100000000; i++)
		pid = pid * 10 + (text[i] - '0');
	return pid;
}

/* The error for a lock someone else holds: names the spool and the pid. */
static char *
spool_lock_busy(const char *dir, int fd)
{
	long pid = spool_lock_holder(fd);
	if (pid == 0)	/* it has locked but not written its pid yet */
		return spool_errf("spool %s is in use by another postern serve (%s/" SPOOL_LOCK_FILE
				  " is locked); one spool serves one server", dir, dir);
	return spool_errf("spool %s is in use by another postern serve, pid %ld (%s/" SPOOL_LOCK_FILE
			  " is locked); one spool serves one server", dir, pid, dir);
}

int
spool_lock(const char *dir, char **err_r)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/" SPOOL_LOCK_FILE, dir) >= (int)sizeof path) {
		*err_r = spool_errf("spool %s: path too long", dir);
		return -1;
	}
	/* The spool may not exist yet: spool_open() would create it. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*err_r = spool_errf("spool %s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: a symlink planted as the lock would make us truncate
	 * and write whatever it points to. */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*err_r = fd >= 0 ? spool_errf("%s: not a regular file", path)
			 : errno == ELOOP ? spool_errf("%s: is a symbolic link; refused", path)
			 : spool_errf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		*err_r = errno == EWOULDBLOCK ? spool_lock_busy(dir, fd)
			 : spool_errf("%s: lock: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		*err_r = spool_errf("%s: write: %s", path, strerror(errno));
		close(fd);	/* drops the lock */
		return -1;
	}
	return fd;
}

int
spool_lock_check(int dirfd, int lock_fd, const char *dir, char **err_r)
{
	struct stat held, here;
	if (lock_fd < 0 || fstat(lock_fd, &held) < 0 ||
	    fstatat(dirfd, SPOOL_LOCK_FILE, &here, AT_SYMLINK_NOFOLLOW) < 0 ||
	    held.st_dev != here.st_dev || held.st_ino != here.st_ino) {
		*err_r = spool_errf("spool %s: not locked by this process (spool_lock() first)", dir);
		return -1;
	}
	/* Taking a lock this descriptor already holds is a no-op; taking
	 * it anew fails if someone else holds it. */
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		*err_r = errno == EWOULDBLOCK ? spool_lock_busy(dir, lock_fd)
			 : spool_errf("%s/" SPOOL_LOCK_FILE ": lock: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
